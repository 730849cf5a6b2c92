"""Webhook signatures: secrets in the Standard Webhooks format, headers that receivers' libraries verify."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from lambdas.webhooks.signing import new_secret, signature_headers

BODY = json.dumps({"id": "evt_1", "type": "job.completed", "data": {"job_id": "j1"}}, separators=(",", ":"))
MSG_ID = "msg_0190f3a2b4c5d_0123456789abcdef"


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_the_headers_verify_with_each_of_two_secrets_and_not_with_another() -> None:
    current, previous = new_secret(), new_secret()
    now = datetime.now(UTC)
    headers = signature_headers(MSG_ID, now, BODY, [current, previous])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == MSG_ID
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    for secret in (current, previous):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(current).verify(BODY.replace("j1", "j2"), headers)


def test_one_secret_one_signature() -> None:
    secret = new_secret()
    headers = signature_headers(MSG_ID, datetime.now(UTC), BODY, [secret])
    assert " " not in headers["webhook-signature"]
    Webhook(secret).verify(BODY, headers)


def test_a_timestamp_in_another_zone_is_the_same_instant() -> None:
    # Webhook.sign() would relabel a +02:00 time as UTC (two hours off) if it were handed one unconverted.
    secret = new_secret()
    instant = datetime.now(UTC).replace(microsecond=0)
    local = instant.astimezone(timezone(timedelta(hours=2)))
    assert signature_headers(MSG_ID, local, BODY, [secret]) == signature_headers(MSG_ID, instant, BODY, [secret])
    assert signature_headers(MSG_ID, local, BODY, [secret])["webhook-timestamp"] == str(int(instant.timestamp()))
    Webhook(secret).verify(BODY, signature_headers(MSG_ID, local, BODY, [secret]))


def test_no_secret_or_a_naive_time_is_a_bug() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signature_headers(MSG_ID, datetime.now(UTC), BODY, [])
    with pytest.raises(ValueError, match="naive"):
        signature_headers(MSG_ID, datetime(2026, 1, 1), BODY, [new_secret()])
