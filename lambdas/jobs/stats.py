"""Queue statistics over a window of jobs: counts by status and priority class, processing times, success rate."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean

from pydantic import BaseModel, ConfigDict

from lambdas.jobs.model import Job, JobStatus

S = JobStatus


class PriorityClass(StrEnum):
    """Priority levels as operators name them; a lower number goes first."""

    HIGH = "high"  # 1-3
    NORMAL = "normal"  # 4-7
    BULK = "bulk"  # 8-10


def priority_class(priority: int) -> PriorityClass:
    if priority <= 3:
        return PriorityClass.HIGH
    return PriorityClass.NORMAL if priority <= 7 else PriorityClass.BULK


class CostTotals(BaseModel):
    """The cost of the window's jobs (lambdas/cost), in USD at each job's own prices."""

    model_config = ConfigDict(frozen=True)

    estimated_jobs: int = 0  # counted jobs (see compute_stats) with an estimate
    estimate_usd: float = 0.0
    measured_jobs: int = 0  # jobs completed in the window with a measured cost
    measured_usd: float = 0.0
    # The same completed jobs' estimates, beside their measurements (what the estimate is judged by).
    measured_jobs_estimate_usd: float = 0.0
    lambda_gb_seconds: float = 0.0  # measured
    stored_bytes: int = 0  # measured: the completed jobs' outputs


class QueueStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: datetime
    until: datetime
    jobs: int
    by_status: dict[JobStatus, int]
    by_priority_class: dict[PriorityClass, int]
    mean_processing_seconds: float | None
    p95_processing_seconds: float | None
    success_rate: float | None
    mean_queue_wait_seconds: float | None
    cost: CostTotals = CostTotals()


def percentile(values: Iterable[float], percent: int) -> float | None:
    """Nearest-rank percentile: the smallest sample with at least `percent` % of samples at or below it.

    Always an observed value (no interpolation); None for no samples.
    """
    if not 0 < percent <= 100:
        raise ValueError("percent must be in 1..100")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = -(-percent * len(ordered) // 100)  # ceil(percent / 100 * n) in integers, free of float rounding
    return ordered[rank - 1]


def p50(values: Iterable[float]) -> float | None:
    """Nearest-rank median: of an even number of samples, the lower middle one."""
    return percentile(values, 50)


def p95(values: Iterable[float]) -> float | None:
    return percentile(values, 95)


def compute_stats(jobs: Iterable[Job], now: datetime, window: timedelta) -> QueueStats:
    """Queue statistics over `[now - window, now]`; each figure uses the time of what it measures.

    - counts (status, priority class): jobs created in the window, plus every job not yet terminal
      (a job stuck since last week is still in the queue);
    - processing time (started -> completed): COMPLETED jobs that completed in the window;
    - success rate: COMPLETED / (COMPLETED + FAILED) among jobs that ended in the window; cancelled
      jobs are the user's choice and count for neither;
    - queue wait (queued -> started): jobs that started in the window (after a retry, the last attempt);
    - cost: estimates of the counted jobs, measurements of the jobs completed in the window.
    Means and rates are None when nothing was measured.
    """
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    since = now - window

    def within(moment: datetime | None) -> bool:
        return moment is not None and since <= moment <= now

    by_status = dict.fromkeys(JobStatus, 0)
    by_class = dict.fromkeys(PriorityClass, 0)
    processing: list[float] = []
    waits: list[float] = []
    completed = failed = counted = 0
    cost: dict[str, float] = dict.fromkeys(CostTotals.model_fields, 0)
    for job in jobs:
        estimate = job.cost.estimate if job.cost else None
        measured = job.cost.measured if job.cost else None
        if within(job.created_at) or not job.status.terminal:
            counted += 1
            if estimate is not None:
                cost["estimated_jobs"] += 1
                cost["estimate_usd"] += estimate.total_usd
        if measured is not None and job.status is S.COMPLETED and within(job.completed_at):
            cost["measured_jobs"] += 1
            cost["measured_usd"] += measured.total_usd
            cost["measured_jobs_estimate_usd"] += estimate.total_usd if estimate else 0.0
            cost["lambda_gb_seconds"] += measured.lambda_gb_seconds
            cost["stored_bytes"] += measured.stored_bytes
        if within(job.created_at) or not job.status.terminal:
            by_status[job.status] += 1
            by_class[priority_class(job.priority)] += 1
        if job.status.terminal and within(job.completed_at):
            if job.status is S.COMPLETED:
                completed += 1
                if job.started_at is not None and job.completed_at is not None:
                    processing.append((job.completed_at - job.started_at).total_seconds())
            elif job.status is S.FAILED:
                failed += 1
        if within(job.started_at) and job.queued_at is not None and job.started_at is not None:
            waits.append((job.started_at - job.queued_at).total_seconds())
    return QueueStats(
        since=since,
        until=now,
        jobs=counted,
        by_status=by_status,
        by_priority_class=by_class,
        mean_processing_seconds=fmean(processing) if processing else None,
        p95_processing_seconds=p95(processing),
        success_rate=completed / (completed + failed) if completed + failed else None,
        mean_queue_wait_seconds=fmean(waits) if waits else None,
        cost=CostTotals.model_validate({name: round(value, 8) for name, value in cost.items()}),
    )
