"""Feed events: their types as EventBridge names them, the one JSON body, deterministic ids."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from lambdas.feed.model import TERMINAL_TYPES, EventType, FeedEvent, detail_type, event_id, source_of

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

DETAIL_TYPES = {
    "job.created": "Job Created",
    "job.uploaded": "Job Uploaded",
    "job.queued": "Job Queued",
    "job.started": "Job Started",
    "job.progress": "Job Progress",
    "job.playable": "Job Playable",
    "job.priority_changed": "Job Priority Changed",
    "job.completed": "Job Completed",
    "job.failed": "Job Failed",
    "job.cancelled": "Job Cancelled",
    "job.retried": "Job Retried",
    "job.repaired": "Job Repaired",
    "audio.ready": "Audio Ready",
    "webhook.disabled": "Webhook Disabled",
    "webhook.test": "Webhook Test",
}


def an_event(**changes: object) -> FeedEvent:
    values: dict[str, object] = {
        "id": event_id("job", "01JNXYZ", 7, "job.completed"),
        "type": EventType.JOB_COMPLETED,
        "timestamp": T0,
        "job_id": "01JNXYZ",
        "owner": "alice",
        "version": 7,
        "sequence": 0,
        "data": {"status": "COMPLETED", "progress": 100},
    }
    return FeedEvent.model_validate(values | changes)


def test_every_type_has_its_detail_type() -> None:
    assert {str(t): detail_type(t) for t in EventType} == DETAIL_TYPES


def test_job_events_and_webhook_events_have_their_sources() -> None:
    assert {source_of(t) for t in EventType if t.startswith(("job.", "audio."))} == {"vodpipe.jobs"}
    assert {source_of(t) for t in EventType if t.startswith("webhook.")} == {"vodpipe.webhooks"}
    assert (an_event().source, an_event().detail_type) == ("vodpipe.jobs", "Job Completed")


def test_the_terminal_types_are_the_ends() -> None:
    assert {str(t) for t in TERMINAL_TYPES} == {"job.completed", "job.failed", "job.cancelled"}


def test_the_body_is_compact_json_in_the_documented_shape() -> None:
    body = an_event(timestamp=datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))).body()
    assert " " not in body.replace('"COMPLETED"', "")
    document = json.loads(body)
    assert list(document) == ["id", "type", "timestamp", "job_id", "owner", "version", "sequence", "data"]
    assert document["timestamp"] == "2026-03-01T12:00:00.000000Z"  # UTC, fixed width, like every job time
    assert (document["type"], document["version"], document["sequence"]) == ("job.completed", 7, 0)
    assert FeedEvent.model_validate_json(body) == an_event()


def test_a_webhook_event_names_no_job() -> None:
    event = an_event(type=EventType.WEBHOOK_DISABLED, job_id=None, version=0, data={"id": "wh_01"})
    assert json.loads(event.body())["job_id"] is None
    assert event.source == "vodpipe.webhooks"


def test_ids_are_deterministic_and_distinct() -> None:
    assert event_id("job", "J", 3, "job.queued") == event_id("job", "J", 3, "job.queued")
    assert event_id("job", "J", 3, "job.queued") != event_id("job", "J", 3, "job.uploaded")
    assert event_id("job", "J", 3, "job.queued") != event_id("job", "J", 4, "job.queued")
    assert event_id("a#b", "c") != event_id("a", "b#c")
    assert re.fullmatch(r"evt_[0-9a-f]{32}", event_id("x"))


@pytest.mark.parametrize(
    "changes",
    [
        {"timestamp": datetime(2026, 3, 1, 12, 0)},  # naive
        {"id": "msg_123"},
        {"type": "job.exploded"},
        {"owner": ""},
        {"sequence": -1},
    ],
)
def test_invalid_events_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        an_event(**changes)


def test_an_event_is_immutable() -> None:
    with pytest.raises(ValidationError):
        an_event().version = 8  # type: ignore[misc]
