"""The job record: validation, ids, times, serialization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from lambdas.jobs.model import (
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    JobStep,
    OutputKind,
    Source,
    job_id_time,
    new_job_id,
    utc_iso,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def job(**fields: object) -> Job:
    values: dict[str, object] = {
        "job_id": new_job_id(T0),
        "owner": "alice",
        "source": {"bucket": "uploads-bucket", "key": "k"},
        "requested_renditions": ["720p"],
        "created_at": T0,
        "updated_at": T0,
    }
    return Job.model_validate(values | fields)


def test_defaults() -> None:
    j = job()
    assert j.status is JobStatus.UPLOADING
    assert (j.priority, j.progress, j.retry_count, j.max_retries, j.version) == (5, 0, 0, 3, 1)
    assert j.current_step is JobStep.REGISTERED
    assert j.requested_outputs == (OutputKind.HLS, OutputKind.THUMBNAILS)
    assert (j.eta_at, j.playable_at, j.playable_url, j.playable_segments) == (None, None, None, 0)


@pytest.mark.parametrize("priority", [1, 10])
def test_priority_bounds_accepted(priority: int) -> None:
    assert job(priority=priority).priority == priority


@pytest.mark.parametrize("priority", [0, 11, -5])
def test_priority_bounds_rejected(priority: int) -> None:
    with pytest.raises(ValidationError):
        job(priority=priority)


@pytest.mark.parametrize(
    "fields",
    [
        {"progress": 101},
        {"progress": -1},
        {"rendition_progress": {"720p": 101}},
        {"rendition_progress": {"1080p": 10}},  # not requested
        {"requested_renditions": ["720p", "720p"]},
        {"requested_renditions": ["720P"]},
        {"requested_renditions": ["../etc"]},
        {"requested_renditions": []},  # hls requested without renditions
        {"requested_outputs": []},
        {"job_id": "not-a-ulid"},
        {"job_id": new_job_id(T0).lower()},
        {"owner": ""},
        {"created_at": datetime(2025, 3, 1, 12, 0)},  # naive
        {"status": "FAILED", "completed_at": T0},  # no error_type
        {"status": "COMPLETED", "completed_at": T0, "progress": 99},
        {"status": "CANCELLED"},  # no completed_at
        {"retry_count": -1},
        {"metrics": {"probe": -1.0}},
        {"metrics": {"encode": 1.0}},
        {"unexpected": 1},
        {"requested_renditions": [], "requested_outputs": ["dash"]},  # dash needs renditions too
        {"playable_segments": -1},
        {"eta_at": datetime(2025, 3, 1, 12, 5)},  # naive
        {"playable_at": "yesterday"},
        {"outputs": {"encode_cpu_seconds": -1.0}},
        {"outputs": {"files": [{"kind": "webm", "key": "k", "size_bytes": 1}]}},
    ],
)
def test_invalid_jobs_are_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        job(**fields)


def test_thumbnails_only_needs_no_renditions() -> None:
    assert job(requested_renditions=[], requested_outputs=["thumbnails"]).requested_renditions == ()


def test_times_are_normalised_to_utc_and_serialised_fixed_width() -> None:
    plus_two = timezone(timedelta(hours=2))
    j = job(created_at=datetime(2025, 3, 1, 14, 0, tzinfo=plus_two))
    assert j.created_at == T0
    assert j.created_at.tzinfo is UTC
    dumped = j.model_dump(mode="json")
    assert dumped["created_at"] == "2025-03-01T12:00:00.000000Z"
    assert Job.model_validate_json(j.model_dump_json()) == j


def test_utc_iso_sorts_like_the_instants() -> None:
    instants = [T0 + timedelta(microseconds=n) for n in (0, 1, 500_000, 999_999, 1_000_000)]
    assert sorted(map(utc_iso, reversed(instants))) == list(map(utc_iso, instants))
    assert {len(utc_iso(i)) for i in instants} == {27}
    with pytest.raises(ValueError, match="naive"):
        utc_iso(datetime(2025, 1, 1))


def test_job_ids_are_ulids_sortable_by_time() -> None:
    ids = [new_job_id(T0 + timedelta(milliseconds=ms)) for ms in (0, 1, 1000, 86_400_000)]
    assert sorted(ids) == ids
    assert len({new_job_id(T0) for _ in range(1000)}) == 1000
    assert all(len(i) == 26 for i in ids)
    assert job_id_time(ids[2]) == T0 + timedelta(seconds=1)


def test_error_messages_are_truncated_not_rejected() -> None:
    j = job(status="FAILED", completed_at=T0, error_type="X", error_message="e" * 10_000)
    assert len(j.error_message or "") == 2000
    assert (j.error_message or "").endswith("…")


def test_new_job() -> None:
    j = Job.new(
        owner="alice",
        source=Source(bucket="b-bucket", key="in.mov"),
        requested_renditions=("1080p",),
        now=T0,
        priority=8,
    )
    assert j.created_at == j.updated_at == T0
    assert job_id_time(j.job_id) == T0
    assert (j.status, j.priority) == (JobStatus.UPLOADING, 8)


def test_event() -> None:
    event = JobEvent(time=T0, step=JobStep.PROBE, kind=EventKind.STARTED)
    assert JobEvent.model_validate_json(event.model_dump_json()) == event
    with pytest.raises(ValidationError):
        JobEvent(time=T0, step="dance", kind=EventKind.INFO)  # type: ignore[arg-type]


def test_the_segment_parallel_fields_round_trip() -> None:
    plus_two = timezone(timedelta(hours=2))
    j = job(
        status="PROCESSING",
        current_step="split",
        started_at=T0,
        eta_at=datetime(2025, 3, 1, 14, 30, tzinfo=plus_two),
        playable_at=T0 + timedelta(seconds=7),
        playable_url="https://cdn.example.com/outputs/x/cmaf/master.m3u8",
        playable_segments=3,
        requested_outputs=["hls", "dash", "mp4"],
        metrics={"split": 2.5},
        outputs={
            "dash_url": "https://cdn.example.com/outputs/x/cmaf/manifest.mpd",
            "dash_manifest_key": "outputs/x/cmaf/manifest.mpd",
            "encode_cpu_seconds": 42.125,
            "files": [{"kind": "dash", "key": "outputs/x/cmaf/manifest.mpd", "size_bytes": 900}],
        },
    )
    assert j.current_step is JobStep.SPLIT
    assert j.eta_at == T0 + timedelta(minutes=30)
    assert j.eta_at.tzinfo is UTC
    assert j.requested_outputs == (OutputKind.HLS, OutputKind.DASH, OutputKind.MP4)
    assert j.outputs is not None
    assert j.outputs.files[0].kind is OutputKind.DASH
    dumped = j.model_dump(mode="json")
    assert (dumped["eta_at"], dumped["playable_at"]) == ("2025-03-01T12:30:00.000000Z", "2025-03-01T12:00:07.000000Z")
    assert Job.model_validate_json(j.model_dump_json()) == j


def test_the_quality_report_round_trips_through_the_table() -> None:
    """Per rung, in order, as GET /jobs/{id} shows it (DynamoDB numbers are Decimals, maps lose their order)."""
    from lambdas.jobs.items import job_attributes, job_from_item, to_wire
    from lambdas.jobs.model import QualityMetric

    quality = [
        {"rendition": "1080p", "metric": "vmaf", "mean": 94.1, "min": 88.0, "harmonic_mean": 94.0, "frames": 24},
        {"rendition": "720p", "metric": "vmaf", "mean": 90.25, "min": 81.5, "harmonic_mean": 90.1, "frames": 24},
    ]
    j = job(status="PROCESSING", started_at=T0, outputs={"quality": quality})
    assert j.outputs is not None
    assert [q.rendition for q in j.outputs.quality] == ["1080p", "720p"]
    assert j.outputs.quality[0].metric is QualityMetric.VMAF
    assert job_from_item(to_wire(job_attributes(j))) == j
    with pytest.raises(ValidationError):
        job(outputs={"quality": [quality[0] | {"frames": 0}]})
