"""Metric names, units and dimensions, and the one document (`MetricRecord`) a set of measurements is written as.

The names are the CloudWatch metric names in the deployment's namespace; the CDK monitoring construct
(stacks/constructs/monitoring.py) alarms on the same constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Every metric carries the deployment's name as `service`; these are the others.
SERVICE_DIMENSION = "service"
PRIORITY_CLASS_DIMENSION = "PriorityClass"
ERROR_TYPE_DIMENSION = "ErrorType"

# One per terminal transition of a job.
JOBS_COMPLETED = "JobsCompleted"
JOBS_FAILED = "JobsFailed"
JOBS_CANCELLED = "JobsCancelled"
JOB_DURATION = "JobDuration"  # started -> ended (this attempt), seconds
QUEUE_WAIT = "QueueWait"  # queued -> started (this attempt), seconds
ENCODE_CPU_SECONDS = "EncodeCpuSeconds"  # outputs.encode_cpu_seconds
OUTPUT_BYTES = "OutputBytes"  # every output file (and audio download) stored
SOURCE_BYTES = "SourceBytes"
# The scheduler's tick: the waiting line.
OLDEST_QUEUED_SECONDS = "OldestQueuedSeconds"
QUEUED_JOBS = "QueuedJobs"


class Unit(StrEnum):
    """The CloudWatch units used here (EMF `Unit`)."""

    SECONDS = "Seconds"
    COUNT = "Count"
    BYTES = "Bytes"


@dataclass(frozen=True)
class Measurement:
    name: str
    unit: Unit
    value: float


@dataclass(frozen=True)
class MetricRecord:
    """Measurements written together as one EMF document: one timestamp, the same dimension sets.

    Published once per dimension set, each `service` plus the set's own dimensions (the empty set: `service`
    alone); the first set is the document's own, the others EMF's further `Dimensions` arrays.
    `key` identifies what was measured (a job's terminal revision), so a redelivered write is measured once;
    `metadata` is searchable in the log line, never a dimension.
    """

    timestamp: datetime
    measurements: tuple[Measurement, ...]
    dimension_sets: tuple[tuple[tuple[str, str], ...], ...] = ((),)
    metadata: tuple[tuple[str, str | int], ...] = ()
    key: tuple[str, ...] = field(default=())


def once(records: list[MetricRecord]) -> list[MetricRecord]:
    """`records` without repeats of a key already seen (in order); records without a key are all kept."""
    seen: set[tuple[str, ...]] = set()
    kept: list[MetricRecord] = []
    for record in records:
        if record.key:
            if record.key in seen:
                continue
            seen.add(record.key)
        kept.append(record)
    return kept
