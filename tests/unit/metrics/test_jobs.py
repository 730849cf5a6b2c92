"""What a job's end measures: once per terminal transition, this attempt's times, its CPU and bytes, its priority
class and, for a failure, its error type; nothing for any other write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lambdas.feed.records import parse_record
from lambdas.jobs.model import EventKind, Job, JobEvent, JobOutputs, JobStatus, JobStep, OutputFile, OutputKind, Source
from lambdas.jobs.transitions import record_progress, retry, transition
from lambdas.metrics import model as m
from lambdas.metrics.jobs import UNKNOWN_ERROR, change_metrics, job_metrics, output_bytes
from lambdas.metrics.model import Measurement, MetricRecord, Unit, once
from tests.unit.feed.test_records import T0, a_job, job_record, log_item, stream_record

S = JobStatus
SOURCE = Source(bucket="vodpipe-uploads", key="uploads/alice/x/source", size=2_000_000)
FILES = (
    OutputFile(kind=OutputKind.HLS, key="outputs/x/cmaf/master.m3u8", size_bytes=1_000),
    OutputFile(kind=OutputKind.HLS, key="outputs/x/cmaf/360p/seg_1.m4s", size_bytes=300_000),
    OutputFile(kind=OutputKind.MP4, key="outputs/x/360p.mp4", size_bytes=500_000),
)


def started(priority: int = 5) -> Job:
    """Queued at T0, admitted 12 s later."""
    queued = transition(a_job(source=SOURCE, priority=priority), S.QUEUED, T0)
    return transition(queued, S.PROCESSING, T0 + timedelta(seconds=12)).model_copy(update={"revision": 7})


def ended(job: Job, status: JobStatus, after_s: float = 60, **changes: Any) -> Job:
    at = (job.started_at or T0) + timedelta(seconds=after_s)
    return transition(job, status, at, **changes).model_copy(update={"revision": job.revision + 1})


def values(record: MetricRecord) -> dict[str, tuple[Unit, float]]:
    return {x.name: (x.unit, x.value) for x in record.measurements}


def test_a_completed_job_measures_its_wait_run_cpu_and_bytes_under_service_and_priority_class() -> None:
    job = started(priority=2)
    done = ended(job, S.COMPLETED, outputs=JobOutputs(files=FILES, encode_cpu_seconds=41.5))
    [record] = job_metrics(job, done)
    assert values(record) == {
        m.JOBS_COMPLETED: (Unit.COUNT, 1),
        m.JOB_DURATION: (Unit.SECONDS, 60.0),
        m.QUEUE_WAIT: (Unit.SECONDS, 12.0),
        m.ENCODE_CPU_SECONDS: (Unit.SECONDS, 41.5),
        m.OUTPUT_BYTES: (Unit.BYTES, 801_000),
        m.SOURCE_BYTES: (Unit.BYTES, 2_000_000),
    }
    assert record.dimension_sets == ((), (("PriorityClass", "high"),))
    assert record.timestamp == done.completed_at
    assert dict(record.metadata) == {"job_id": done.job_id, "revision": 8, "status": "COMPLETED", "priority": 2}
    assert record.key == ("job", done.job_id, "8")


def test_a_failure_is_counted_once_under_service_and_again_by_error_type_only() -> None:
    job = started()
    failed = ended(job, S.FAILED, 5, error_type="EncodeFailed", error_message="ffmpeg exited 1")
    whole, by_type = job_metrics(job, failed)
    assert values(whole)[m.JOBS_FAILED] == (Unit.COUNT, 1)
    assert m.ENCODE_CPU_SECONDS not in values(whole)  # nothing encoded: nothing measured
    assert whole.dimension_sets == ((), (("PriorityClass", "normal"),))
    assert by_type.measurements == (Measurement(m.JOBS_FAILED, Unit.COUNT, 1),)
    assert by_type.dimension_sets == ((("ErrorType", "EncodeFailed"),),)  # not also under `service` alone
    assert dict(by_type.metadata)["error_type"] == "EncodeFailed"
    assert whole.key != by_type.key


def test_a_failure_without_a_type_is_unknown() -> None:
    job = started()
    stored = ended(job, S.FAILED, 5, error_type="X").model_copy(update={"error_type": None})  # older items
    _, by_type = job_metrics(job, stored)
    assert by_type.dimension_sets == ((("ErrorType", UNKNOWN_ERROR),),)


def test_a_job_cancelled_before_it_started_has_no_times() -> None:
    queued = transition(a_job(source=SOURCE, priority=9), S.QUEUED, T0)
    [record] = job_metrics(queued, transition(queued, S.CANCELLED, T0 + timedelta(minutes=1)))
    assert values(record) == {m.JOBS_CANCELLED: (Unit.COUNT, 1), m.SOURCE_BYTES: (Unit.BYTES, 2_000_000)}
    assert record.dimension_sets[1] == (("PriorityClass", "bulk"),)


def test_a_retried_job_measures_its_last_attempt_only() -> None:
    job = started()
    failed = ended(job, S.FAILED, 5, error_type="EncodeFailed")
    again = transition(retry(failed, T0 + timedelta(minutes=10)), S.PROCESSING, T0 + timedelta(minutes=11))
    [record] = job_metrics(again, ended(again, S.COMPLETED, 30))
    assert values(record)[m.QUEUE_WAIT] == (Unit.SECONDS, 60.0)
    assert values(record)[m.JOB_DURATION] == (Unit.SECONDS, 30.0)


@pytest.mark.parametrize("status", [S.QUEUED, S.PROCESSING])
def test_no_other_transition_measures_anything(status: JobStatus) -> None:
    job = transition(a_job(source=SOURCE), S.QUEUED, T0)
    after = job if status is S.QUEUED else transition(job, S.PROCESSING, T0)
    assert job_metrics(a_job(source=SOURCE) if status is S.QUEUED else job, after) == []


def test_a_terminal_jobs_later_writes_measure_nothing() -> None:
    job = started()
    done = ended(job, S.COMPLETED)
    assert job_metrics(done, done.model_copy(update={"revision": done.revision + 1})) == []


def test_a_stream_record_of_a_terminal_write_is_measured_and_others_are_not() -> None:
    job = started()
    done = ended(job, S.COMPLETED, outputs=JobOutputs(files=FILES, encode_cpu_seconds=3.0))
    [record] = change_metrics(parse_record(job_record(job, done)))
    assert values(record)[m.JOBS_COMPLETED] == (Unit.COUNT, 1)
    progress = record_progress(job, job.current_step, 50, T0 + timedelta(seconds=20))
    assert change_metrics(parse_record(job_record(job, progress))) == []  # a write without a status change
    assert change_metrics(parse_record(job_record(None, done))) == []  # an INSERT is no transition
    assert change_metrics(parse_record(job_record(done, None))) == []  # a REMOVE (TTL) neither
    assert change_metrics(parse_record(job_record(job, done, slots=(True, True)))) != []
    entry = JobEvent(time=T0, step=JobStep.REGISTERED, kind=EventKind.INFO, message="x")
    assert change_metrics(parse_record(stream_record(None, log_item(job.job_id, entry)))) == []


def test_output_bytes_count_each_key_once_audio_downloads_included() -> None:
    audio = OutputFile(kind=OutputKind.AUDIO, key="outputs/x/audio.m4a", size_bytes=40_000)
    job = a_job(outputs=JobOutputs(files=(*FILES, audio)), audio_files=(audio,))
    assert output_bytes(job) == 841_000


def test_a_redelivered_terminal_write_is_measured_once_per_batch() -> None:
    job = started()
    done = ended(job, S.COMPLETED)
    first = job_metrics(job, done)
    tick = MetricRecord(timestamp=T0, measurements=(Measurement(m.QUEUED_JOBS, Unit.COUNT, 0),))
    assert once([*first, tick, *first, tick]) == [*first, tick, tick]  # records without a key are never merged
