"""Which feed events a write to the jobs table yields: status changes, throttled progress, playable, priority,
repairs and disabled endpoints; nothing for a write users cannot see; ids and order stable."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lambdas.api.models import public_job
from lambdas.feed.derive import derive
from lambdas.feed.model import TERMINAL_TYPES, EventType, FeedEvent
from lambdas.feed.records import parse_record
from lambdas.jobs.model import (
    AudioLoudness,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    JobStep,
    OutputFile,
    OutputKind,
    new_job_id,
)
from lambdas.jobs.transitions import (
    record_audio_ready,
    record_playable,
    record_progress,
    reprioritise,
    retry,
    transition,
)
from tests.unit.feed.test_records import (
    T0,
    a_job,
    endpoint_item,
    job_item,
    job_record,
    log_item,
    stream_record,
)

E = EventType
S = JobStatus


def view(job: Job) -> dict[str, Any]:
    return public_job(job).model_dump(mode="json")


def no_load(job_id: str) -> Job | None:
    raise AssertionError(f"only repairs read the job ({job_id})")


def events_of(record: dict[str, Any], load_job: Any = no_load) -> list[FeedEvent]:
    return derive(parse_record(record), view=view, load_job=load_job)


def types_of(record: dict[str, Any]) -> list[EventType]:
    return [event.type for event in events_of(record)]


class JobItem:
    """One job item's writes as the stream sees them: each adds one to the revision, as the repositories do."""

    def __init__(self, job: Job) -> None:
        self.job, self.slot, self._sequence = job, False, 0
        self.created = job_record(None, job, sequence_number=self._next())

    def _next(self) -> str:
        self._sequence += 1
        return f"{4200000000000000000000 + self._sequence}"

    def write(self, job: Job, *, slot: bool | None = None) -> dict[str, Any]:
        new = job.model_copy(update={"revision": self.job.revision + 1})
        new_slot = self.slot if slot is None else slot
        record = job_record(self.job, new, slots=(self.slot, new_slot), sequence_number=self._next())
        self.job, self.slot = new, new_slot
        return record

    def progress(
        self, percent: int, at: datetime, rendition: str | None = None, step: JobStep = JobStep.TRANSCODE
    ) -> dict[str, Any]:
        return self.write(record_progress(self.job, step, percent, at, rendition))


def processing(at: datetime = T0) -> JobItem:
    """A job admitted at `at` (uploaded, queued, started, holding its slot) and transcoding."""
    item = JobItem(a_job())
    item.write(transition(item.job, S.QUEUED, at - timedelta(seconds=2)))
    item.write(transition(item.job, S.PROCESSING, at), slot=True)
    assert types_of(item.progress(0, at, rendition="360p")) == [E.JOB_PROGRESS]  # a new step is told at once
    return item


# --- job items: creation and status changes ---------------------------------------------------------------


def test_a_new_job_is_created_with_its_public_view() -> None:
    job = a_job()
    [event] = events_of(job_record(None, job))
    assert (event.type, event.job_id, event.owner, event.version, event.sequence) == (
        E.JOB_CREATED,
        job.job_id,
        "alice",
        1,
        0,
    )
    assert event.timestamp == job.updated_at
    assert event.data == view(job)
    assert "execution_arn" not in event.data


def test_a_job_created_queued_is_also_queued() -> None:
    job = transition(a_job(), S.QUEUED, T0)
    assert types_of(job_record(None, job)) == [E.JOB_CREATED, E.JOB_QUEUED]
    assert [event.sequence for event in events_of(job_record(None, job))] == [0, 1]


def test_an_upload_completing_is_uploaded_then_queued() -> None:
    item = JobItem(a_job())
    events = events_of(item.write(transition(item.job, S.QUEUED, T0)))
    assert [(e.type, e.version, e.sequence) for e in events] == [(E.JOB_UPLOADED, 2, 0), (E.JOB_QUEUED, 2, 1)]
    assert all(e.data["status"] == "QUEUED" and e.data["revision"] == 2 for e in events)
    assert all(e.timestamp == T0 for e in events)


def test_admission_is_started_and_its_slot_marker_changes_nothing_else() -> None:
    item = JobItem(a_job())
    item.write(transition(item.job, S.QUEUED, T0))
    assert types_of(item.write(transition(item.job, S.PROCESSING, T0 + timedelta(seconds=1)), slot=True)) == [
        E.JOB_STARTED
    ]


@pytest.mark.parametrize(
    ("status", "expected", "changes"),
    [
        (S.COMPLETED, E.JOB_COMPLETED, {}),
        (S.FAILED, E.JOB_FAILED, {"error_type": "EncodeFailed", "error_message": "ffmpeg exited 1"}),
        (S.CANCELLED, E.JOB_CANCELLED, {}),
    ],
)
def test_an_end_is_its_terminal_type(status: JobStatus, expected: EventType, changes: dict[str, Any]) -> None:
    item = processing()
    [event] = events_of(item.write(transition(item.job, status, T0 + timedelta(minutes=3), **changes)))
    assert event.type is expected
    assert event.type in TERMINAL_TYPES
    assert event.data["status"] == status


def test_cancelling_an_upload_is_cancelled() -> None:
    item = JobItem(a_job())
    assert types_of(item.write(transition(item.job, S.CANCELLED, T0))) == [E.JOB_CANCELLED]


def test_the_state_machines_mark_failed_is_failed_with_the_causes_message() -> None:
    item = processing()
    failed = transition(item.job, S.FAILED, T0 + timedelta(minutes=1), error_type="States.Timeout")
    new = job_item(failed.model_copy(update={"revision": item.job.revision + 1}), slot=True)
    new["error_cause"] = json.dumps({"errorMessage": "Task timed out after 900.00 seconds"})
    [event] = events_of(stream_record(job_item(item.job, slot=True), new))
    assert event.type is E.JOB_FAILED
    assert (event.data["error_type"], event.data["error_message"]) == (
        "States.Timeout",
        "Task timed out after 900.00 seconds",
    )


def test_a_retry_is_retried_then_queued() -> None:
    item = processing()
    item.write(transition(item.job, S.FAILED, T0 + timedelta(minutes=1), error_type="EncodeFailed"))
    item.write(item.job, slot=False)  # the slot given back
    events = events_of(item.write(retry(item.job, T0 + timedelta(minutes=5))))
    assert [(e.type, e.sequence) for e in events] == [(E.JOB_RETRIED, 0), (E.JOB_QUEUED, 1)]
    assert events[0].data["retry_count"] == 1


# --- job items: the same status -----------------------------------------------------------------------


def test_a_priority_change_is_priority_changed() -> None:
    item = JobItem(a_job())
    item.write(transition(item.job, S.QUEUED, T0))
    [event] = events_of(item.write(reprioritise(item.job, 2, T0 + timedelta(seconds=30))))
    assert (event.type, event.data["priority"]) == (E.JOB_PRIORITY_CHANGED, 2)


def test_the_first_playable_write_is_playable_later_ones_nothing() -> None:
    item = processing()
    url = "https://cdn.example.com/outputs/x/live.m3u8"
    [event] = events_of(item.write(record_playable(item.job, 3, url, T0 + timedelta(seconds=20))))
    assert (event.type, event.data["playable_url"], event.data["playable_segments"]) == (E.JOB_PLAYABLE, url, 3)
    assert types_of(item.write(record_playable(item.job, 5, url, T0 + timedelta(seconds=22)))) == []


def test_the_first_audio_ready_write_is_audio_ready_with_the_files_later_ones_nothing() -> None:
    item = processing()
    files = (OutputFile(kind=OutputKind.WAV16K, key="outputs/x/audio/audio-16k.wav", size_bytes=64000),)
    loudness = (AudioLoudness(mix="mono", target_lufs=-16, input_lufs=-31.2, output_lufs=-16.1, mode="linear"),)
    [event] = events_of(item.write(record_audio_ready(item.job, files, loudness, T0 + timedelta(seconds=20))))
    assert (event.type, event.detail_type, event.source) == (E.AUDIO_READY, "Audio Ready", "vodpipe.jobs")
    [file] = event.data["audio_files"]
    assert (file["kind"], file["key"], file["size_bytes"]) == ("wav16k", "outputs/x/audio/audio-16k.wav", 64000)
    assert event.data["audio_loudness"][0]["output_lufs"] == -16.1
    # A retried work item writes the files again: the audio was ready already.
    assert types_of(item.write(record_audio_ready(item.job, files, loudness, T0 + timedelta(seconds=40)))) == []


def test_writes_that_change_nothing_public_yield_nothing() -> None:
    item = processing()
    assert types_of(item.write(item.job)) == []  # the revision alone
    assert types_of(item.write(item.job, slot=False)) == []  # the slot marker alone
    arn = "arn:aws:states:us-east-1:000000000000:execution:transcode:x-a0"
    assert types_of(item.write(item.job.model_copy(update={"execution_arn": arn}))) == []  # not shown to users
    assert types_of(job_record(item.job, item.job)) == []  # a repeated write


def test_a_removed_job_yields_nothing() -> None:
    item = processing()
    done = transition(item.job, S.COMPLETED, T0 + timedelta(minutes=3))
    item.write(done)
    assert types_of(job_record(item.job, None)) == []  # the TTL's delete


# --- progress -------------------------------------------------------------------------------------------


def _windows(events: Iterable[FeedEvent]) -> Counter[int]:
    return Counter(int(event.timestamp.timestamp() // 10) for event in events)


def test_rendition_progress_every_2_s_is_one_event_per_10_s_window() -> None:
    item = processing(T0)  # T0 starts a 10-second window
    events = [
        event
        for second in range(2, 62, 2)
        for event in events_of(item.progress(second, T0 + timedelta(seconds=second), rendition="720p"))
    ]
    assert [event.type for event in events] == [E.JOB_PROGRESS] * 6
    assert set(_windows(events).values()) == {1}
    assert [event.timestamp - T0 for event in events] == [timedelta(seconds=s) for s in (10, 20, 30, 40, 50, 60)]
    assert events[-1].data["rendition_progress"] == {"360p": 0, "720p": 60}


def test_job_progress_is_throttled_but_every_tenth_is_told() -> None:
    item = processing(T0)
    item.progress(33, T0 + timedelta(seconds=1))
    events: list[FeedEvent] = []
    for write in range(1, 31):  # 30 writes, one every 2 s for 60 s, +1 % each: 34 % .. 63 %
        events += events_of(item.progress(33 + write, T0 + timedelta(seconds=1 + 2 * write)))
    assert {event.type for event in events} == {E.JOB_PROGRESS}
    # One per 10-second window (6), and one more in each window where a tenth is reached (40, 50, 60 %).
    assert [event.data["progress"] for event in events] == [38, 40, 43, 48, 50, 53, 58, 60, 63]
    for window, count in _windows(events).items():
        in_window = [event.data["progress"] for event in events if int(event.timestamp.timestamp() // 10) == window]
        assert count == 1 or (count == 2 and in_window[1] % 10 == 0)


def test_a_new_step_is_told_at_once() -> None:
    item = processing(T0)
    assert types_of(item.progress(1, T0 + timedelta(seconds=2))) == []  # same step, same tenth, same window
    assert types_of(item.progress(2, T0 + timedelta(seconds=3), step=JobStep.PACKAGE)) == [E.JOB_PROGRESS]


def test_progress_crossing_a_tenth_is_told_within_the_window() -> None:
    item = processing(T0)
    assert types_of(item.progress(9, T0 + timedelta(seconds=1))) == []
    assert types_of(item.progress(10, T0 + timedelta(seconds=2))) == [E.JOB_PROGRESS]


# --- a whole life: ids and order -------------------------------------------------------------------------


def _life() -> list[dict[str, Any]]:
    """created -> uploaded/queued -> started -> progress… -> playable -> completed -> released, then a second job
    that fails, is retried and completes."""
    records: list[dict[str, Any]] = []
    item = JobItem(a_job())
    records.append(item.created)
    records.append(item.write(reprioritise(item.job, 3, T0)))
    records.append(item.write(transition(item.job, S.QUEUED, T0 + timedelta(seconds=5))))
    records.append(item.write(transition(item.job, S.PROCESSING, T0 + timedelta(seconds=9)), slot=True))
    at = T0 + timedelta(seconds=9)
    for percent in range(1, 100, 3):
        at += timedelta(seconds=2)
        records.append(item.progress(percent, at, rendition="360p" if percent % 2 else None))
        if percent == 31:
            records.append(item.write(record_playable(item.job, 2, "https://cdn/x.m3u8", at)))
    records.append(item.write(transition(item.job, S.COMPLETED, at + timedelta(seconds=2))))
    records.append(item.write(item.job, slot=False))
    return records


def test_a_lifes_events_are_ordered_by_version_and_sequence() -> None:
    events = [event for record in _life() for event in events_of(record)]
    types = [event.type for event in events]
    start = [E.JOB_CREATED, E.JOB_PRIORITY_CHANGED, E.JOB_UPLOADED, E.JOB_QUEUED, E.JOB_STARTED, E.JOB_PROGRESS]
    assert types[: len(start)] == start
    assert E.JOB_PLAYABLE in types
    assert types[-1] is E.JOB_COMPLETED
    order = [(event.version, event.sequence) for event in events]
    assert order == sorted(order)
    assert len(set(order)) == len(order)
    assert len({event.id for event in events}) == len(events)


def test_a_retried_lifes_events_stay_ordered_and_distinct() -> None:
    item = processing(T0)
    records = [item.created]
    records.append(item.write(transition(item.job, S.FAILED, T0 + timedelta(seconds=30), error_type="EncodeFailed")))
    records.append(item.write(item.job, slot=False))
    records.append(item.write(retry(item.job, T0 + timedelta(seconds=60))))
    records.append(item.write(transition(item.job, S.PROCESSING, T0 + timedelta(seconds=61)), slot=True))
    records.append(item.progress(50, T0 + timedelta(seconds=70)))
    records.append(item.write(transition(item.job, S.COMPLETED, T0 + timedelta(seconds=90))))
    events = [event for record in records for event in events_of(record)]
    assert [event.type for event in events] == [
        E.JOB_CREATED,
        E.JOB_FAILED,
        E.JOB_RETRIED,
        E.JOB_QUEUED,
        E.JOB_STARTED,
        E.JOB_PROGRESS,
        E.JOB_COMPLETED,
    ]
    order = [(event.version, event.sequence) for event in events]
    assert order == sorted(order)
    assert len(set(order)) == len(order)
    assert len({event.id for event in events}) == len(events)


def test_the_same_record_gives_the_same_events() -> None:
    for record in _life():
        assert events_of(record) == events_of(json.loads(json.dumps(record)))


def test_ids_are_per_job_revision_and_type() -> None:
    first, second = a_job(), a_job(job_id=new_job_id(T0))
    [one] = events_of(job_record(None, first))
    [other] = events_of(job_record(None, second))
    assert one.id != other.id
    assert one.id.startswith("evt_")


# --- repairs --------------------------------------------------------------------------------------------


def test_a_repair_log_entry_is_repaired_with_the_job_read() -> None:
    job = processing(T0).job
    entry = JobEvent(
        time=T0 + timedelta(minutes=2),
        step=JobStep.REGISTERED,
        kind=EventKind.REPAIRED,
        message="repair: admitted 120 s ago but its workflow never started; starting it again",
    )
    read: list[str] = []

    def load(job_id: str) -> Job | None:
        read.append(job_id)
        return job

    record = stream_record(None, log_item(job.job_id, entry))
    [event] = events_of(record, load)
    assert read == [job.job_id]
    assert (event.type, event.job_id, event.owner, event.version) == (E.JOB_REPAIRED, job.job_id, "alice", 4)
    assert event.timestamp == entry.time
    assert event.data == view(job) | {"repair": {"message": entry.message}}
    assert events_of(record, load) == [event]
    again = stream_record(None, log_item(job.job_id, entry, seq=1))  # a second repair at the same instant
    assert events_of(again, load)[0].id != event.id


def test_repairs_follow_the_events_of_the_write_they_repaired() -> None:
    item = processing(T0)
    [failed] = events_of(item.write(transition(item.job, S.FAILED, T0 + timedelta(minutes=9), error_type="Lost")))
    entry = JobEvent(time=T0 + timedelta(minutes=9), step=JobStep.REGISTERED, kind=EventKind.REPAIRED, message="x")
    [repaired] = events_of(stream_record(None, log_item(item.job.job_id, entry)), lambda _: item.job)
    assert (failed.version, failed.sequence) < (repaired.version, repaired.sequence)


def test_other_log_entries_and_lost_jobs_yield_nothing() -> None:
    job_id = new_job_id(T0)
    info = JobEvent(time=T0, step=JobStep.REGISTERED, kind=EventKind.INFO, message="admitted")
    assert events_of(stream_record(None, log_item(job_id, info))) == []
    repair = JobEvent(time=T0, step=JobStep.REGISTERED, kind=EventKind.REPAIRED, message="repair: …")
    assert events_of(stream_record(None, log_item(job_id, repair)), lambda _: None) == []
    item = log_item(job_id, repair)
    assert events_of(stream_record(item, None)) == []  # its TTL


# --- webhook endpoints and other items ---------------------------------------------------------------------


def test_an_endpoint_disabled_is_webhook_disabled_without_its_secrets() -> None:
    enabled = endpoint_item("alice", "wh_01")
    disabled = enabled | {"status": "disabled", "disabled_reason": "410 Gone"}
    record = stream_record(enabled, disabled, sequence_number="777")
    [event] = events_of(record)
    assert (event.type, event.job_id, event.owner, event.source) == (
        E.WEBHOOK_DISABLED,
        None,
        "alice",
        "vodpipe.webhooks",
    )
    assert event.data["id"] == "wh_01"
    assert (event.data["status"], event.data["disabled_reason"]) == ("disabled", "410 Gone")
    assert "secrets" not in event.data
    assert "whsec_" not in event.body()
    assert event.timestamp == T0  # the record's time: the item has none of its own
    assert events_of(record) == [event]
    assert events_of(stream_record(enabled, disabled, sequence_number="778"))[0].id != event.id


def test_an_endpoints_own_time_is_the_events() -> None:
    enabled = endpoint_item("alice", "wh_01")
    disabled = enabled | {"status": "disabled", "updated_at": "2026-03-02T08:00:00.000000Z"}
    [event] = events_of(stream_record(enabled, disabled))
    assert event.timestamp == T0.replace(day=2, hour=8)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"status": "disabled"}, {"status": "disabled", "disabled_reason": "again"}),
        ({}, {"url": "https://hooks.example.com/v2"}),
        ({"status": "disabled"}, {"status": "enabled"}),
        (None, {"status": "disabled"}),
        ({}, None),
    ],
)
def test_other_endpoint_writes_yield_nothing(old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    base = endpoint_item("alice", "wh_01")
    record = stream_record(None if old is None else base | old, None if new is None else base | new)
    assert events_of(record) == []


def test_other_items_yield_nothing() -> None:
    job_id = new_job_id(T0)
    work = {"pk": f"JOB#{job_id}", "sk": "WORK#0000#seg-0001", "done_at": "2026-03-01T12:00:00.000000Z"}
    counter = {"pk": "QUEUE", "sk": "RUNNING", "running": 3}
    delivery = {"pk": "WEBHOOK#wh_01", "sk": "DELIVERY#msg_1", "status": "pending"}
    for item in (work, counter, delivery):
        assert events_of(stream_record(None, item)) == []
        assert events_of(stream_record(item, item | {"x": 1})) == []


def test_a_modify_without_its_old_image_yields_nothing() -> None:
    item = processing()
    record = item.write(transition(item.job, S.COMPLETED, T0 + timedelta(minutes=1)))
    del record["dynamodb"]["OldImage"]
    assert types_of(record) == []
