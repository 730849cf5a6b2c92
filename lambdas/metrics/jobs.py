"""What a job's end measures (pure): one write of the job item that moves it to a terminal status -> its metrics.

Counted once per terminal transition: the write whose old image is not terminal and whose new image is. Times are
this attempt's (a retry clears `started_at`): the wait from `queued_at` to `started_at`, the run from `started_at`
to `completed_at`; a job cancelled or failed before it started has neither.
"""

from __future__ import annotations

from datetime import datetime

from lambdas.feed.derive import job_of
from lambdas.feed.records import Change, ItemKind, Operation
from lambdas.jobs.model import Job, JobStatus
from lambdas.jobs.stats import priority_class
from lambdas.metrics import model as m
from lambdas.metrics.model import Measurement, MetricRecord, Unit

_COUNTERS = {
    JobStatus.COMPLETED: m.JOBS_COMPLETED,
    JobStatus.FAILED: m.JOBS_FAILED,
    JobStatus.CANCELLED: m.JOBS_CANCELLED,
}
UNKNOWN_ERROR = "Unknown"
_TERMINAL_NAMES = {str(status) for status in _COUNTERS}


def change_metrics(change: Change) -> list[MetricRecord]:
    """The metrics of one stream record: a job's terminal transition's, or none."""
    if change.kind is not ItemKind.JOB or change.operation is not Operation.MODIFY:
        return []
    if change.old is None or change.new is None:
        return []
    old_status, new_status = change.old.get("status"), change.new.get("status")
    if old_status == new_status or new_status not in _TERMINAL_NAMES:
        return []  # most writes: decided without reading the images in full
    return job_metrics(job_of(change.old), job_of(change.new))


def job_metrics(old: Job, new: Job) -> list[MetricRecord]:
    """`new`'s end measured, if `old` -> `new` is a terminal transition; else nothing.

    One record under `service` and `service`+`PriorityClass`; a failure adds `JobsFailed` under
    `service`+`ErrorType` only (a record of its own: `JobsFailed` under `service` is counted once, and the other
    metrics are not multiplied by error types).
    """
    if old.status is new.status or not new.status.terminal:
        return []
    ended = new.completed_at or new.updated_at
    measurements = [Measurement(_COUNTERS[new.status], Unit.COUNT, 1)]
    if new.started_at is not None:
        measurements.append(Measurement(m.JOB_DURATION, Unit.SECONDS, _seconds(new.started_at, ended)))
        if new.queued_at is not None:
            measurements.append(Measurement(m.QUEUE_WAIT, Unit.SECONDS, _seconds(new.queued_at, new.started_at)))
    outputs = new.outputs
    if outputs is not None and outputs.encode_cpu_seconds is not None:
        measurements.append(Measurement(m.ENCODE_CPU_SECONDS, Unit.SECONDS, outputs.encode_cpu_seconds))
    stored = output_bytes(new)
    if stored:
        measurements.append(Measurement(m.OUTPUT_BYTES, Unit.BYTES, stored))
    if new.source.size is not None:
        measurements.append(Measurement(m.SOURCE_BYTES, Unit.BYTES, new.source.size))
    key = ("job", new.job_id, str(new.revision))
    error_type = new.error_type or UNKNOWN_ERROR
    metadata: tuple[tuple[str, str | int], ...] = (
        ("job_id", new.job_id),
        ("revision", new.revision),
        ("status", str(new.status)),
        ("priority", new.priority),
        *((("error_type", error_type),) if new.status is JobStatus.FAILED else ()),
    )
    records = [
        MetricRecord(
            timestamp=ended,
            measurements=tuple(measurements),
            dimension_sets=((), ((m.PRIORITY_CLASS_DIMENSION, str(priority_class(new.priority))),)),
            metadata=metadata,
            key=key,
        )
    ]
    if new.status is JobStatus.FAILED:
        records.append(
            MetricRecord(
                timestamp=ended,
                measurements=(Measurement(m.JOBS_FAILED, Unit.COUNT, 1),),
                dimension_sets=(((m.ERROR_TYPE_DIMENSION, error_type),),),
                metadata=metadata,
                key=(*key, "error_type"),
            )
        )
    return records


def output_bytes(job: Job) -> int:
    """What the job stored: its output files and audio downloads, each key counted once."""
    files = (job.outputs.files if job.outputs is not None else ()) + job.audio_files
    return sum({file.key: file.size_bytes for file in files}.values())


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())
