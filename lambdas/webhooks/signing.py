"""Standard Webhooks signatures: endpoint secrets and the webhook-id / -timestamp / -signature headers."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from math import floor
from secrets import token_bytes

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret, "whsec_" and the base64 of 32 random bytes (what receivers' libraries read)."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def signature_headers(msg_id: str, timestamp: datetime, body: str, secrets: Sequence[str]) -> dict[str, str]:
    """The headers that sign `body` as message `msg_id` sent at `timestamp`: one "v1,..." signature per secret
    (during a rotation the previous secret signs too, so receivers holding either one verify)."""
    if not secrets:
        raise ValueError("an endpoint signs with at least one secret")
    if timestamp.tzinfo is None:
        raise ValueError("naive datetime: webhook timestamps are timezone-aware")
    # Webhook.sign() replaces the zone with UTC rather than converting: hand it UTC already.
    utc = timestamp.astimezone(UTC)
    signatures = [Webhook(secret).sign(msg_id, utc, body) for secret in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(utc.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
