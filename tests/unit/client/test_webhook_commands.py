"""`vodpipe webhooks` against the fake API: the secret shown once, refusals naming their field, a test delivery
and its outcome, the delivery log, replays; and waiting for a delivery."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.unit.api.conftest import BOB, TOKENS
from tests.unit.client.fake_api import FakeVodpipe
from vodpipe.cli import app
from vodpipe.client.api import ApiClient
from vodpipe.client.webhooks import DeliveryPending, wait_for_delivery

URL = "https://hooks.example.com/vodpipe"


def run(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def document(result: Result) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def target(fake: FakeVodpipe, config_dir: Path) -> dict[str, str]:
    return {"VODPIPE_API_URL": fake.url, "VODPIPE_TOKEN": fake.token}


def created(target: dict[str, str], *args: str) -> dict[str, Any]:
    result = run("webhooks", "create", URL, *args, "--json", env=target)
    assert result.exit_code == 0, result.stderr
    return dict(document(result))


def test_create_prints_the_secret_once_and_alone(fake: FakeVodpipe, target: dict[str, str]) -> None:
    result = run("webhooks", "create", URL, "--event", "job.completed", "--event", "job.failed", env=target)

    assert result.exit_code == 0, result.stderr
    secret = result.stdout.strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    [stored] = fake.webhooks.endpoints.values()
    assert stored.secret == secret
    assert f"webhook {stored.id} created for {URL} (events: job.completed, job.failed)" in result.stderr
    assert "shown only this once" in result.stderr

    listed = run("webhooks", "list", "--json", env=target)
    assert listed.exit_code == 0, listed.stderr
    [webhook] = document(listed)["webhooks"]
    assert (webhook["id"], webhook["events"], webhook["status"]) == (
        stored.id,
        ["job.completed", "job.failed"],
        "enabled",
    )
    human = run("webhooks", "list", env=target).stdout
    assert stored.id in human
    assert "enabled" in human
    assert secret not in listed.stdout + human


def test_create_json_is_the_apis_answer(fake: FakeVodpipe, target: dict[str, str]) -> None:
    answer = created(target, "--description", "the CMS")

    assert set(answer) == {"webhook", "secret"}
    assert answer["webhook"]["events"] == ["*"]  # the server's default: everything
    assert answer["webhook"]["description"] == "the CMS"
    assert answer["secret"].startswith("whsec_")


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (["http://hooks.example.com/x"], "url", "https only"),
        (["https://intranet.example.com/x"], "url", "10.1.2.3"),
        (["https://nowhere.example.com/x"], "url", "cannot resolve host nowhere.example.com"),
        ([URL, "--event", "job.finished"], "events", "unknown event type 'job.finished'"),
    ],
)
def test_a_refused_endpoint_names_the_field(
    fake: FakeVodpipe, target: dict[str, str], args: list[str], field: str, message: str
) -> None:
    result = run("webhooks", "create", *args, "--json", env=target)

    assert result.exit_code == 1
    refused = document(result)
    assert (refused["status"], refused["error"], refused["field"]) == (422, "validation_error", field)
    assert message in refused["message"]
    assert f"(field: {field}) [HTTP 422 validation_error]" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not fake.webhooks.endpoints


def test_too_many_endpoints_is_429(fake: FakeVodpipe, target: dict[str, str]) -> None:
    for _ in range(fake.webhooks.max_endpoints):
        created(target)
    result = run("webhooks", "create", URL, env=target)
    assert result.exit_code == 1
    assert "[HTTP 429 too_many_requests]" in result.stderr


def test_another_users_endpoint_is_not_found(fake: FakeVodpipe, target: dict[str, str]) -> None:
    webhook_id = created(target)["webhook"]["id"]
    bob = target | {"VODPIPE_TOKEN": TOKENS[BOB]}

    for command in (["delete"], ["rotate"], ["test"], ["deliveries"], ["replay"]):
        extra = ["msg_0"] if command == ["replay"] else []
        result = run("webhooks", *command, webhook_id, *extra, env=bob)
        assert result.exit_code == 1, command
        assert f"webhook endpoint {webhook_id} not found [HTTP 404 not_found]" in result.stderr
    assert document(run("webhooks", "list", "--json", env=bob)) == {"webhooks": []}
    assert webhook_id in fake.webhooks.endpoints


def test_rotate_prints_the_new_secret_and_how_long_the_old_one_signs(fake: FakeVodpipe, target: dict[str, str]) -> None:
    answer = created(target)
    webhook_id = answer["webhook"]["id"]

    result = run("webhooks", "rotate", webhook_id, env=target)

    assert result.exit_code == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("whsec_")
    assert secret != answer["secret"]
    assert fake.webhooks.endpoints[webhook_id].secret == secret
    assert re.search(r"the previous secret also signs until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", result.stderr)
    rotated = document(run("webhooks", "rotate", webhook_id, "--json", env=target))
    assert set(rotated) == {"webhook", "secret", "previous_secret_expires_at"}


def test_test_wait_reports_a_success(fake: FakeVodpipe, target: dict[str, str]) -> None:
    webhook_id = created(target)["webhook"]["id"]

    queued = run("webhooks", "test", webhook_id, "--json", env=target)
    assert queued.exit_code == 0, queued.stderr
    assert document(queued)["delivery"]["status"] == "pending"

    result = run("webhooks", "test", webhook_id, "--wait", env=target)
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"test delivery msg_[0-9a-f]{29} succeeded: HTTP 200 in 42 ms after 1 attempt\n", result.stdout)


def test_test_wait_exits_4_when_the_receiver_is_gone(fake: FakeVodpipe, target: dict[str, str]) -> None:
    webhook_id = created(target)["webhook"]["id"]
    fake.webhooks.answers.append(410)

    result = run("webhooks", "test", webhook_id, "--wait", "--json", env=target)

    assert result.exit_code == 4
    delivery = document(result)["delivery"]
    assert (delivery["status"], delivery["last_status_code"], delivery["attempt_count"]) == ("failed", 410, 1)
    assert delivery["attempts"][0]["status_code"] == 410
    listed = run("webhooks", "list", env=target).stdout
    assert "disabled (410 Gone)" in listed
    refused = run("webhooks", "test", webhook_id, env=target)
    assert refused.exit_code == 1
    assert f"webhook endpoint {webhook_id} is disabled: 410 Gone [HTTP 409 conflict]" in refused.stderr

    enabled = run("webhooks", "enable", webhook_id, "--json", env=target)
    assert enabled.exit_code == 0, enabled.stderr
    assert (document(enabled)["status"], document(enabled)["disabled_reason"]) == ("enabled", None)


def test_deliveries_is_a_table_newest_first_and_replay_sends_again(fake: FakeVodpipe, target: dict[str, str]) -> None:
    webhook_id = created(target)["webhook"]["id"]
    fake.webhooks.answers.extend([500, None])
    first = document(run("webhooks", "test", webhook_id, "--json", env=target))["delivery"]["id"]
    second = document(run("webhooks", "test", webhook_id, "--json", env=target))["delivery"]["id"]

    result = run("webhooks", "deliveries", webhook_id, env=target | {"COLUMNS": "160"})  # every column in full

    assert result.exit_code == 0, result.stderr
    header, *rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines() if line.strip()]
    assert header == ["delivery", "event type", "status", "attempts", "last code", "latency", "next attempt (UTC)"]
    assert [row[:6] for row in rows] == [
        [second, "webhook.test", "pending", "1", "500", "42 ms"],
        [first, "webhook.test", "pending", "1", "-", "10000 ms"],
    ]
    page = document(run("webhooks", "deliveries", webhook_id, "--limit", "1", "--json", env=target))
    assert [d["id"] for d in page["deliveries"]] == [second]
    assert page["next_cursor"]
    more = run("webhooks", "deliveries", webhook_id, "--limit", "1", env=target).stdout
    assert f"more: vodpipe webhooks deliveries {webhook_id} --cursor {page['next_cursor']}" in more

    replayed = run("webhooks", "replay", webhook_id, first, "--json", env=target)
    assert replayed.exit_code == 0, replayed.stderr
    assert (document(replayed)["delivery"]["id"], document(replayed)["delivery"]["status"]) == (first, "pending")
    missing = run("webhooks", "replay", webhook_id, "msg_" + "0" * 29, env=target)
    assert missing.exit_code == 1
    assert "[HTTP 404 not_found]" in missing.stderr


def test_delete_and_an_empty_list(fake: FakeVodpipe, target: dict[str, str]) -> None:
    webhook_id = created(target)["webhook"]["id"]

    result = run("webhooks", "delete", webhook_id, "--json", env=target)

    assert result.exit_code == 0, result.stderr
    assert document(result) == {"deleted": webhook_id}
    assert run("webhooks", "list", env=target).stdout.startswith("no webhooks")
    assert run("webhooks", "delete", webhook_id, env=target).exit_code == 1


@pytest.fixture
def api(fake: FakeVodpipe) -> Iterator[ApiClient]:
    with ApiClient(fake.url, fake.token) as client:
        yield client


def test_waiting_sees_a_retry_succeed(fake: FakeVodpipe, api: ApiClient) -> None:
    webhook_id = api.create_webhook(URL)["webhook"]["id"]
    fake.webhooks.answers.extend([503, None, 200])
    delivery_id = api.test_webhook(webhook_id)["delivery"]["id"]

    delivery = wait_for_delivery(api, webhook_id, delivery_id, interval=0.01)

    assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 3)
    assert [a["status_code"] for a in delivery["attempts"]] == [503, None, 200]
    assert delivery["attempts"][1]["error"] == "timed out after 10 s"


def test_waiting_gives_up_with_the_last_attempt(fake: FakeVodpipe, api: ApiClient) -> None:
    webhook_id = api.create_webhook(URL)["webhook"]["id"]
    fake.webhooks.answers.extend([500] * 100)
    delivery_id = api.test_webhook(webhook_id)["delivery"]["id"]

    with pytest.raises(DeliveryPending, match=r"still pending after 0 s: pending: attempt \d+ got HTTP 500") as caught:
        wait_for_delivery(api, webhook_id, delivery_id, timeout=0.05, interval=0.01)

    assert caught.value.document()["delivery"]["id"] == delivery_id
