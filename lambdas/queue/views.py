"""The queue as users and operators see it: a job's position and expected start, the admin and health views."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lambdas.jobs.model import Job, JobId, JobStatus, UtcDatetime
from lambdas.jobs.stats import PriorityClass, p50, p95, priority_class
from lambdas.queue.order import HIGHEST, LOWEST, job_effective_priority, queued_since

S = JobStatus

# QueueStore.waiting_before: QUEUED jobs of one level strictly before (since, job_id) in FIFO order.
CountBefore = Callable[[int, datetime, str], int]
Cutoff = tuple[datetime, str]

# Before every job id (26 characters, none of them below "0") and equal to none; not empty, as stores
# may pass it on as a DynamoDB value.
_BEFORE_ANY_ID = "0"
# Job times have microsecond resolution: "queued at or before t" is "(since, id) < (t + 1 µs, _BEFORE_ANY_ID)".
_TICK = timedelta(microseconds=1)
_NOTHING: Cutoff = (datetime.min.replace(tzinfo=UTC), _BEFORE_ANY_ID)
_EVERYTHING: Cutoff = (datetime.max.replace(tzinfo=UTC), _BEFORE_ANY_ID)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
PerMinute = Annotated[float, Field(ge=0)]


def _queued_by(now: datetime, levels: int, aging: timedelta) -> Cutoff:
    """The cutoff of the jobs that have waited at least `levels` agings at `now`."""
    try:
        moment = now - levels * aging
    except OverflowError:  # an aging of centuries: nobody has waited that long
        return _NOTHING
    return (moment + _TICK, _BEFORE_ANY_ID)


def _cutoff(level: int, job_priority: int, own: Cutoff, now: datetime, aging: timedelta) -> Cutoff:
    """The FIFO cutoff of `level`'s waiting jobs that come before a job of effective priority `job_priority`.

    A job of level L queued at q has effective priority e' <= e (for e >= 1) iff L <= e or
    q <= now - (L - e)·aging (waiting w gives L - floor(w / aging), capped at 1). It comes before the job
    when e' < e, or e' == e and (q, id) < own: the union of the prefix "e' <= e - 1" with the part of
    the prefix "e' <= e" that is before `own`. Both shrink as L grows, so each level is one prefix.
    """
    if level < job_priority:
        return _EVERYTHING  # even unaged, every job of the level is better
    # Nothing is better than 1: at the cap only ties (broken by FIFO) come first.
    better = _NOTHING if job_priority == HIGHEST else _queued_by(now, level - job_priority + 1, aging)
    as_good = _EVERYTHING if level == job_priority else _queued_by(now, level - job_priority, aging)
    return max(better, min(as_good, own))


def queue_position(job: Job, count_before: CountBefore, now: datetime, aging: timedelta) -> int:
    """How many QUEUED jobs come before `job` in the order the queue shows (`order.queue_key`) at `now`.

    `count_before` is `QueueStore.waiting_before`, called at most once per priority level (the jobs of a
    level that come first are a FIFO prefix of it, see `_cutoff`). The order ignores the least-running-first fairness of
    admission (it depends on who runs), so the position is where the job stands, not a promise.
    ValueError when the job is not QUEUED, or `aging` is not positive.
    """
    if job.status is not S.QUEUED:
        raise ValueError(f"job {job.job_id} is {job.status}, not QUEUED: it has no place in the queue")
    if aging <= timedelta(0):
        raise ValueError("aging must be positive")
    effective = job_effective_priority(job, now, aging)
    own: Cutoff = (queued_since(job), job.job_id)
    position = 0
    for level in range(HIGHEST, LOWEST + 1):
        since, job_id = _cutoff(level, effective, own, now, aging)
        if (since, job_id) > _NOTHING:
            position += count_before(level, since, job_id)
    return position


def estimated_start(  # noqa: PLR0917 - the positional signature the API calls
    position: int,
    running: int,
    max_running: int,
    recent_ends: Iterable[Job],
    now: datetime,
    window: timedelta,
) -> datetime | None:
    """When the job `position` places from the front of the queue (0 = next) should start.

    The model: free slots go to the front of the queue, so a job with fewer jobs ahead of it than slots
    free (`max_running - running`) starts now. Any other job waits for
    `position - (max_running - running) + 1` running jobs to end, and jobs end at the rate they ended
    over the last `window`: n jobs of `recent_ends` (QueueStore.ended_between) that reached a terminal
    status within `[now - window, now]` make one end per `window / n`. None when nothing ended in the
    window: the rate is unknown. The estimate assumes nothing overtakes the job (a better job queued
    later, another job's aging), ignores per-user limits and retries, and moves as the throughput does.
    `running` may exceed `max_running` (counters being repaired): those extra ends free no slot.
    """
    if position < 0:
        raise ValueError("position must be >= 0")
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    free = max_running - running  # negative when running above the limit: those ends free nothing
    if position < free:
        return now
    ended = len(_ended(recent_ends, now - window, now))
    if not ended:
        return None
    return now + window * (position - free + 1) / ended


# --- the operators' views --------------------------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WaitStats(_View):
    """Queue waits (queued -> admitted) in seconds, nearest-rank percentiles; None without samples."""

    count: Count
    p50: Seconds | None
    p95: Seconds | None


class AdminQueue(_View):
    generated_at: UtcDatetime
    window_minutes: Annotated[int, Field(ge=1)]
    running: Count
    max_running_jobs: Count
    waiting: Count
    waiting_by_class: dict[PriorityClass, Count]
    oldest_wait_seconds: Seconds | None
    admissions_per_minute: PerMinute
    completions_per_minute: PerMinute
    wait_seconds: dict[PriorityClass, WaitStats]

    @field_validator("waiting_by_class", "wait_seconds")
    @classmethod
    def _every_class[V](cls, value: dict[PriorityClass, V]) -> dict[PriorityClass, V]:
        if set(value) != set(PriorityClass):
            raise ValueError(f"one entry per priority class: {[str(name) for name in PriorityClass]}")
        return value


class LastCompleted(_View):
    job_id: JobId
    completed_at: UtcDatetime


class Health(_View):
    generated_at: UtcDatetime
    status: Literal["ok", "degraded"]
    problems: list[str]  # one sentence each, for a person; empty when ok
    running: Count
    max_running_jobs: Count
    waiting: Count
    failed_last_hour: Count
    throttled_last_hour: Count
    start_failures: Count
    oldest_wait_seconds: Seconds | None
    last_completed: LastCompleted | None


def _within(moment: datetime | None, since: datetime, until: datetime) -> bool:
    return moment is not None and since <= moment <= until


def _queued(jobs: Iterable[Job]) -> list[Job]:
    return [job for job in jobs if job.status is S.QUEUED]


def _oldest(queued: list[Job]) -> Job | None:
    return min(queued, key=lambda job: (queued_since(job), job.job_id), default=None)


def _wait_seconds(job: Job, now: datetime) -> float:
    return max(0.0, (now - queued_since(job)).total_seconds())


def _ended(jobs: Iterable[Job], since: datetime, until: datetime) -> list[Job]:
    return [job for job in jobs if job.status.terminal and _within(job.completed_at, since, until)]


def admin_queue(  # noqa: PLR0917 - the positional signature the operators' API calls
    waiting: Iterable[Job],
    running: int,
    max_running: int,
    started: Iterable[Job],
    ended: Iterable[Job],
    now: datetime,
    window: timedelta,
) -> AdminQueue:
    """The queue right now and its throughput over `[now - window, now]`.

    - `waiting`: the jobs waiting (QueueStore.waiting); only QUEUED ones count (an open upload is not in
      line yet); the oldest wait is from `queued_at` (or creation) to now;
    - `started`: the jobs admitted in the window (QueueStore.started_between): admissions per minute,
      and their waits (`started_at - queued_at`, the last attempt) by priority class;
    - `ended`: the jobs that reached a terminal status in the window (QueueStore.ended_between):
      completions per minute counts COMPLETED only (failed and cancelled jobs free a slot too but
      completed nothing).
    Jobs outside the window are ignored, so a wider read is harmless. `window` is a positive whole
    number of minutes: `window_minutes` is what the rates are per.
    """
    if window <= timedelta(0) or window % MINUTE:
        raise ValueError("window must be a positive whole number of minutes")
    since = now - window
    minutes = window // MINUTE
    queued = _queued(waiting)
    oldest = _oldest(queued)
    by_class = dict.fromkeys(PriorityClass, 0)
    for job in queued:
        by_class[priority_class(job.priority)] += 1
    admitted = [job for job in started if _within(job.started_at, since, now)]
    waits: dict[PriorityClass, list[float]] = {name: [] for name in PriorityClass}
    for job in admitted:
        if job.queued_at is not None and job.started_at is not None:
            waits[priority_class(job.priority)].append((job.started_at - job.queued_at).total_seconds())
    completed = sum(1 for job in _ended(ended, since, now) if job.status is S.COMPLETED)
    return AdminQueue(
        generated_at=now,
        window_minutes=minutes,
        running=running,
        max_running_jobs=max_running,
        waiting=len(queued),
        waiting_by_class=by_class,
        oldest_wait_seconds=None if oldest is None else _wait_seconds(oldest, now),
        admissions_per_minute=len(admitted) / minutes,
        completions_per_minute=completed / minutes,
        wait_seconds={
            name: WaitStats(count=len(samples), p50=p50(samples), p95=p95(samples)) for name, samples in waits.items()
        },
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def health(
    *,
    running: int,
    max_running: int,
    waiting: Iterable[Job],
    ended_last_hour: Iterable[Job],
    throttled_last_hour: int,
    start_failures: int,
    now: datetime,
    stuck_after: timedelta,
    running_by_owner: Mapping[str, int] | None = None,
    max_running_per_user: int | None = None,
    min_ended: int = 3,
) -> Health:
    """Whether the queue works, and if not, why, in sentences.

    Degraded when any of these holds, one problem each:
    - `start_failures` (the depth of the start-failures queue) is above 0: admitted jobs whose execution
      could not be started;
    - the oldest QUEUED job of `waiting` has waited longer than `stuck_after` while a slot is free
      (running < max_running): the scheduler is not admitting (the queue is stuck). Given
      `running_by_owner` and `max_running_per_user` (QueueStore.running().by_owner and the per-user
      limit), jobs whose owner is at that limit are rightly held and not taken for a stuck queue;
    - of the jobs that reached a terminal status in the last hour (`ended_last_hour`, cancelled ones
      included), at least `min_ended` ended and more than half of them FAILED;
    - more jobs run than `max_running` (the slot counters are off).
    `throttled_last_hour` (admissions refused for want of a slot, or throttled starts) is reported, never
    a problem: a full queue is the queue working. `last_completed` is the latest COMPLETED job of the last
    hour, None when none completed in it.
    """
    queued = _queued(waiting)
    oldest = _oldest(queued)
    owners = running_by_owner or {}
    admissible = [
        job for job in queued if max_running_per_user is None or owners.get(job.owner, 0) < max_running_per_user
    ]
    stuck = _oldest(admissible)
    ended = _ended(ended_last_hour, now - HOUR, now)
    failed = sum(1 for job in ended if job.status is S.FAILED)
    completed = [job for job in ended if job.status is S.COMPLETED]
    latest = max(completed, key=lambda job: (job.completed_at, job.job_id), default=None)
    problems: list[str] = []
    if start_failures > 0:
        problems.append(f"{_plural(start_failures, 'job')} could not be started (the start-failures queue holds them).")
    free = max_running - running
    if stuck is not None and free > 0 and now - queued_since(stuck) > stuck_after:
        minutes = _wait_seconds(stuck, now) / 60
        problems.append(
            f"The queue looks stuck: job {stuck.job_id} has waited {minutes:.0f} min "
            f"while {free} of {max_running} slots {'is' if free == 1 else 'are'} free."
        )
    if len(ended) >= min_ended and 2 * failed > len(ended):
        problems.append(f"{failed} of the {len(ended)} jobs that ended in the last hour failed.")
    if running > max_running:
        problems.append(f"{_plural(running, 'job')} running, more than the limit of {max_running}.")
    return Health(
        generated_at=now,
        status="degraded" if problems else "ok",
        problems=problems,
        running=running,
        max_running_jobs=max_running,
        waiting=len(queued),
        failed_last_hour=failed,
        throttled_last_hour=throttled_last_hour,
        start_failures=start_failures,
        oldest_wait_seconds=None if oldest is None else _wait_seconds(oldest, now),
        last_completed=None
        if latest is None or latest.completed_at is None
        else LastCompleted(job_id=latest.job_id, completed_at=latest.completed_at),
    )
