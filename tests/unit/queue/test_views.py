"""Queue views: positions against a brute force over `queue_key`, start estimates, the admin and health views."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lambdas.jobs.model import Job, JobStatus, Source
from lambdas.jobs.stats import PriorityClass
from lambdas.jobs.transitions import transition
from lambdas.queue.order import queue_key, queued_since
from lambdas.queue.views import (
    AdminQueue,
    Health,
    LastCompleted,
    WaitStats,
    admin_queue,
    estimated_start,
    health,
    queue_position,
)

S = JobStatus
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
AGING = timedelta(minutes=30)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def an_id(rng: random.Random) -> str:
    return "".join(rng.choice(CROCKFORD) for _ in range(26))


_ids = random.Random(11)


def new(priority: int = 5, owner: str = "alice", job_id: str | None = None, created: datetime | None = None) -> Job:
    return Job.new(
        owner=owner,
        source=Source(bucket="uploads-bucket", key=f"uploads/{owner}/a.mp4"),
        requested_renditions=("720p",),
        now=created or NOW - timedelta(days=30),
        priority=priority,
        job_id=job_id or an_id(_ids),
    )


def queued(priority: int, at: datetime, job_id: str | None = None, owner: str = "alice") -> Job:
    return transition(new(priority, owner, job_id, created=min(at, NOW) - MIN), S.QUEUED, at)


def started(priority: int, queued_at: datetime, started_at: datetime) -> Job:
    return transition(queued(priority, queued_at), S.PROCESSING, started_at)


def ended(status: JobStatus, at: datetime, priority: int = 5, job_id: str | None = None) -> Job:
    job = transition(queued(priority, at - 2 * HOUR, job_id), S.PROCESSING, at - HOUR)
    return transition(job, status, at, **({"error_type": "Boom"} if status is S.FAILED else {}))


class Store:
    """`QueueStore.waiting_before` over a list, recording its calls."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.jobs = list(jobs)
        self.calls: list[tuple[int, datetime, str]] = []

    def waiting_before(self, priority: int, since: datetime, job_id: str) -> int:
        self.calls.append((priority, since, job_id))
        return sum(
            1
            for job in self.jobs
            if job.status is S.QUEUED and job.priority == priority and (queued_since(job), job.job_id) < (since, job_id)
        )


def positions(jobs: list[Job], now: datetime, aging: timedelta) -> dict[str, int]:
    order = sorted((job for job in jobs if job.status is S.QUEUED), key=lambda job: queue_key(job, now, aging))
    return {job.job_id: index for index, job in enumerate(order)}


def check_against_brute_force(jobs: list[Job], now: datetime, aging: timedelta) -> None:
    expected = positions(jobs, now, aging)
    for job in jobs:
        if job.status is not S.QUEUED:
            continue
        store = Store(jobs)
        assert queue_position(job, store.waiting_before, now, aging) == expected[job.job_id], (job, now, aging)
        levels = [call[0] for call in store.calls]
        assert len(levels) == len(set(levels)) <= 10


# --- queue_position: hand-made queues ---------------------------------------------------------------


def test_alone_in_the_queue_is_next() -> None:
    job = queued(7, NOW - MIN)
    assert queue_position(job, Store([job]).waiting_before, NOW, AGING) == 0


def test_one_level_is_first_in_first_out() -> None:
    jobs = [queued(5, NOW - (10 - n) * MIN) for n in range(10)]
    store = Store(jobs)
    assert [queue_position(job, store.waiting_before, NOW, AGING) for job in jobs] == list(range(10))


def test_lower_number_first() -> None:
    bulk, normal, high = queued(9, NOW - 3 * MIN), queued(5, NOW - 2 * MIN), queued(2, NOW - MIN)
    store = Store([bulk, normal, high])
    assert [queue_position(job, store.waiting_before, NOW, AGING) for job in (high, normal, bulk)] == [0, 1, 2]


def test_equal_times_are_ordered_by_id() -> None:
    at = NOW - MIN
    jobs = [queued(4, at, job_id=char * 26) for char in "C1A7"]
    store = Store(jobs)
    assert {job.job_id[0]: queue_position(job, store.waiting_before, NOW, AGING) for job in jobs} == {
        "1": 0,
        "7": 1,
        "A": 2,
        "C": 3,
    }


def test_aging_stops_at_one_then_first_in_first_out() -> None:
    veteran = queued(10, NOW - 100 * AGING)  # effective 1, not -89
    urgent = queued(1, NOW - MIN)  # effective 1, queued later
    mid = queued(2, NOW - 2 * MIN)  # effective 2
    store = Store([veteran, urgent, mid])
    assert [queue_position(job, store.waiting_before, NOW, AGING) for job in (veteran, urgent, mid)] == [0, 1, 2]


def test_an_aging_boundary_is_exact() -> None:
    fresh = queued(4, NOW - MIN)  # effective 4
    aged = queued(6, NOW - 2 * AGING)  # exactly two agings: effective 4, and queued first
    almost = queued(6, NOW - 2 * AGING + US)  # one microsecond short: effective 5
    store = Store([fresh, aged, almost])
    assert [queue_position(job, store.waiting_before, NOW, AGING) for job in (aged, fresh, almost)] == [0, 1, 2]


def test_a_job_queued_in_the_future_has_not_aged() -> None:
    skewed = queued(3, NOW + 5 * AGING)
    other = queued(3, NOW - MIN)
    store = Store([skewed, other])
    assert queue_position(skewed, store.waiting_before, NOW, AGING) == 1
    assert queue_position(other, store.waiting_before, NOW, AGING) == 0


def test_a_better_level_is_counted_whole() -> None:
    line = [queued(2, NOW + n * MIN) for n in range(5)]  # even those queued after the job come first
    job = queued(5, NOW - 10 * MIN)
    store = Store([*line, job])
    assert queue_position(job, store.waiting_before, NOW, AGING) == 5


def test_other_statuses_are_not_in_line() -> None:
    job = queued(5, NOW - MIN)
    running = transition(queued(1, NOW - 2 * MIN), S.PROCESSING, NOW)
    uploading = new(1)
    store = Store([job, running, uploading])
    assert queue_position(job, store.waiting_before, NOW, AGING) == 0
    with pytest.raises(ValueError, match="not QUEUED"):
        queue_position(running, store.waiting_before, NOW, AGING)


@pytest.mark.parametrize("aging", [timedelta(0), -AGING])
def test_aging_must_be_positive(aging: timedelta) -> None:
    job = queued(5, NOW - MIN)
    with pytest.raises(ValueError, match="aging"):
        queue_position(job, Store([job]).waiting_before, NOW, aging)


def test_an_aging_longer_than_history_counts_nobody_as_aged() -> None:
    huge = timedelta(days=999_999_999)
    jobs = [queued(5, NOW - MIN), queued(4, NOW)]
    check_against_brute_force(jobs, NOW, huge)


# --- queue_position: against the brute force -------------------------------------------------------

AGINGS = [MIN, AGING, timedelta(seconds=7, microseconds=3), timedelta(hours=6)]


def random_queue(rng: random.Random, aging: timedelta) -> list[Job]:
    # Queue times on and next to aging boundaries, some shared (ties by id), some later than now.
    moments = [NOW - k * aging + d * US for k in range(12) for d in (-1, 0, 1)]
    moments += [NOW - rng.randrange(0, 12) * aging - timedelta(microseconds=rng.randrange(10**10)) for _ in range(10)]
    moments += [NOW + MIN]
    size = rng.randrange(0, 30)
    return [queued(rng.randint(1, 10), rng.choice(moments), job_id=an_id(rng)) for _ in range(size)]


def test_random_queues_match_the_brute_force() -> None:
    for seed in range(150):
        rng = random.Random(seed)
        aging = AGINGS[seed % len(AGINGS)]
        jobs = random_queue(rng, aging)
        for now in (NOW, NOW + aging, NOW + aging / 2 + US, NOW + 20 * aging, NOW - 3 * aging):
            check_against_brute_force(jobs, now, aging)


@settings(max_examples=200, deadline=None)
@given(
    queue=st.lists(
        st.tuples(st.integers(1, 10), st.integers(-3, 40), st.sampled_from([-1, 0, 1, 12_345]), st.integers(0, 3)),
        max_size=20,
    ),
    aging=st.sampled_from(AGINGS),
    now_steps=st.integers(-2, 45),
    now_jitter=st.sampled_from([-1, 0, 1]),
)
def test_any_queue_matches_the_brute_force(
    queue: list[tuple[int, int, int, int]], aging: timedelta, now_steps: int, now_jitter: int
) -> None:
    # Times in half agings (plus or minus a microsecond), ids from a small set so equal times tie.
    jobs: list[Job] = []
    for index, (priority, halves, jitter, tie) in enumerate(queue):
        job_id = f"{tie}{index:025d}"
        jobs.append(queued(priority, NOW - halves * aging / 2 + jitter * US, job_id=job_id))
    check_against_brute_force(jobs, NOW + now_steps * aging / 2 + now_jitter * US, aging)


# --- estimated_start -------------------------------------------------------------------------------

# 6 ends in the last hour, one every 10 minutes (failures and cancellations free a slot too).
ENDS_10_MIN = [ended([S.COMPLETED, S.FAILED, S.CANCELLED][n % 3], NOW - n * 10 * MIN) for n in range(6)]


@pytest.mark.parametrize(("position", "running"), [(0, 0), (3, 0), (0, 3), (1, 2)])
def test_a_free_slot_means_now(position: int, running: int) -> None:
    assert estimated_start(position, running=running, max_running=4, recent_ends=[], now=NOW, window=HOUR) == NOW


@pytest.mark.parametrize(
    ("position", "running", "expected"),
    [
        (0, 4, 10 * MIN),  # next in line, every slot taken: the next end
        (2, 2, 10 * MIN),  # two free slots go to the two ahead
        (5, 4, 60 * MIN),  # six ends needed
        (0, 5, 20 * MIN),  # above the limit: the first end frees no slot
    ],
)
def test_waits_for_ends_at_the_recent_rate(position: int, running: int, expected: timedelta) -> None:
    start = estimated_start(position, running=running, max_running=4, recent_ends=ENDS_10_MIN, now=NOW, window=HOUR)
    assert start == NOW + expected


def test_no_recent_end_means_unknown() -> None:
    old = [ended(S.COMPLETED, NOW - HOUR - US), ended(S.FAILED, NOW + US)]  # just outside, on either side
    old.append(transition(queued(5, NOW - 2 * HOUR), S.PROCESSING, NOW - MIN))  # not ended
    assert estimated_start(0, running=4, max_running=4, recent_ends=old, now=NOW, window=HOUR) is None
    assert estimated_start(0, running=4, max_running=4, recent_ends=[], now=NOW, window=HOUR) is None


def test_the_window_includes_both_ends() -> None:
    ends = [ended(S.COMPLETED, NOW - HOUR), ended(S.COMPLETED, NOW)]
    assert estimated_start(1, running=4, max_running=4, recent_ends=ends, now=NOW, window=HOUR) == NOW + HOUR


def test_the_estimate_takes_its_arguments_in_order() -> None:
    assert estimated_start(0, 4, 4, ENDS_10_MIN, NOW, HOUR) == NOW + 10 * MIN


def test_estimate_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="position"):
        estimated_start(-1, running=0, max_running=4, recent_ends=[], now=NOW, window=HOUR)
    with pytest.raises(ValueError, match="window"):
        estimated_start(0, running=4, max_running=4, recent_ends=[], now=NOW, window=timedelta(0))


# --- admin_queue -----------------------------------------------------------------------------------

ADMIN_FIELDS = {
    "generated_at",
    "window_minutes",
    "running",
    "max_running_jobs",
    "waiting",
    "waiting_by_class",
    "oldest_wait_seconds",
    "admissions_per_minute",
    "completions_per_minute",
    "wait_seconds",
}
CLASSES = {"high", "normal", "bulk"}


def test_an_empty_queue() -> None:
    view = admin_queue(waiting=[], running=0, max_running=4, started=[], ended=[], now=NOW, window=HOUR)
    assert view == AdminQueue(
        generated_at=NOW,
        window_minutes=60,
        running=0,
        max_running_jobs=4,
        waiting=0,
        waiting_by_class=dict.fromkeys(PriorityClass, 0),
        oldest_wait_seconds=None,
        admissions_per_minute=0.0,
        completions_per_minute=0.0,
        wait_seconds={name: WaitStats(count=0, p50=None, p95=None) for name in PriorityClass},
    )
    document = view.model_dump(mode="json")
    assert set(document) == ADMIN_FIELDS
    assert set(document["waiting_by_class"]) == set(document["wait_seconds"]) == CLASSES
    assert document["generated_at"] == "2025-06-01T12:00:00.000000Z"
    assert document["wait_seconds"]["bulk"] == {"count": 0, "p50": None, "p95": None}


def test_a_busy_queue() -> None:
    since = NOW - HOUR
    waiting = [
        queued(1, NOW - 5 * MIN),
        queued(2, NOW - 50 * MIN),  # the oldest
        queued(6, NOW - MIN),
        queued(9, NOW - 2 * MIN),
        new(1),  # an open upload is not in line
    ]
    admitted = [
        started(2, since - 10 * MIN, since + MIN),  # waited 660 s
        started(3, since, since + 2 * MIN),  # 120 s
        started(1, since + 10 * MIN, since + 10 * MIN),  # 0 s
        started(5, since, since + 5 * MIN),  # 300 s
        started(5, since - HOUR, since - US),  # admitted before the window
    ]
    finished = [
        ended(S.COMPLETED, since),  # the window's first instant
        ended(S.COMPLETED, NOW),
        ended(S.COMPLETED, NOW - 30 * MIN),
        ended(S.FAILED, NOW - 10 * MIN),
        ended(S.CANCELLED, NOW - 10 * MIN),
        ended(S.COMPLETED, since - US),  # before the window
    ]
    view = admin_queue(
        waiting=waiting, running=3, max_running=4, started=admitted, ended=finished, now=NOW, window=HOUR
    )
    assert view.waiting == 4
    assert view.waiting_by_class == {PriorityClass.HIGH: 2, PriorityClass.NORMAL: 1, PriorityClass.BULK: 1}
    assert view.oldest_wait_seconds == 50 * 60
    assert view.admissions_per_minute == pytest.approx(4 / 60)
    assert view.completions_per_minute == pytest.approx(3 / 60)
    assert view.wait_seconds == {
        PriorityClass.HIGH: WaitStats(count=3, p50=120.0, p95=660.0),
        PriorityClass.NORMAL: WaitStats(count=1, p50=300.0, p95=300.0),
        PriorityClass.BULK: WaitStats(count=0, p50=None, p95=None),
    }
    assert (view.running, view.max_running_jobs, view.window_minutes) == (3, 4, 60)


def test_the_oldest_wait_counts_from_queuing() -> None:
    requeued = queued(5, NOW - 3 * MIN)  # created a month ago, queued three minutes ago
    view = admin_queue([requeued], 0, 4, [], [], NOW, HOUR)  # positionally, as the operators' API calls it
    assert view.oldest_wait_seconds == 180


@pytest.mark.parametrize("window", [timedelta(0), -HOUR, timedelta(seconds=90), timedelta(seconds=30)])
def test_the_admin_window_is_whole_minutes(window: timedelta) -> None:
    with pytest.raises(ValueError, match="window"):
        admin_queue(waiting=[], running=0, max_running=4, started=[], ended=[], now=NOW, window=window)


def test_every_class_has_an_entry() -> None:
    view = admin_queue(waiting=[], running=0, max_running=4, started=[], ended=[], now=NOW, window=HOUR)
    with pytest.raises(ValidationError, match="priority class"):
        AdminQueue.model_validate({**view.model_dump(), "waiting_by_class": {"high": 1, "normal": 0}})
    with pytest.raises(ValidationError):
        AdminQueue.model_validate({**view.model_dump(), "waiting_by_class": {"high": 1, "normal": 0, "low": 0}})


def test_views_are_frozen_and_round_trip() -> None:
    view = admin_queue(
        waiting=[queued(3, NOW - MIN)], running=1, max_running=4, started=[], ended=[], now=NOW, window=HOUR
    )
    with pytest.raises(ValidationError):
        view.running = 2  # type: ignore[misc]
    assert AdminQueue.model_validate_json(view.model_dump_json()) == view


# --- health ----------------------------------------------------------------------------------------

HEALTH_FIELDS = {
    "generated_at",
    "status",
    "problems",
    "running",
    "max_running_jobs",
    "waiting",
    "failed_last_hour",
    "throttled_last_hour",
    "start_failures",
    "oldest_wait_seconds",
    "last_completed",
}
STUCK = timedelta(minutes=15)


def check(
    *,
    running: int = 2,
    max_running: int = 4,
    waiting: Iterable[Job] = (),
    ended_last_hour: Iterable[Job] = (),
    throttled: int = 0,
    start_failures: int = 0,
    running_by_owner: dict[str, int] | None = None,
    max_running_per_user: int | None = None,
) -> Health:
    return health(
        running=running,
        max_running=max_running,
        waiting=waiting,
        ended_last_hour=ended_last_hour,
        throttled_last_hour=throttled,
        start_failures=start_failures,
        now=NOW,
        stuck_after=STUCK,
        running_by_owner=running_by_owner,
        max_running_per_user=max_running_per_user,
    )


def test_healthy() -> None:
    done = ended(S.COMPLETED, NOW - 5 * MIN, job_id="1" * 26)
    view = check(waiting=[queued(5, NOW - MIN)], ended_last_hour=[done, ended(S.FAILED, NOW - MIN)], throttled=7)
    assert (view.status, view.problems) == ("ok", [])
    assert (view.waiting, view.failed_last_hour, view.throttled_last_hour) == (1, 1, 7)
    assert view.oldest_wait_seconds == 60
    assert view.last_completed == LastCompleted(job_id="1" * 26, completed_at=NOW - 5 * MIN)
    document = view.model_dump(mode="json")
    assert set(document) == HEALTH_FIELDS
    assert document["last_completed"] == {"job_id": "1" * 26, "completed_at": "2025-06-01T11:55:00.000000Z"}


def test_nothing_at_all_is_healthy() -> None:
    view = check(running=0)
    assert (view.status, view.waiting, view.oldest_wait_seconds, view.last_completed) == ("ok", 0, None, None)


def test_start_failures_degrade() -> None:
    view = check(start_failures=2)
    assert view.status == "degraded"
    assert view.problems == ["2 jobs could not be started (the start-failures queue holds them)."]
    assert check(start_failures=1).problems == ["1 job could not be started (the start-failures queue holds them)."]


def test_a_stuck_queue_degrades() -> None:
    old = queued(5, NOW - 20 * MIN, job_id="2" * 26)
    view = check(running=3, waiting=[queued(5, NOW - MIN), old])
    assert view.status == "degraded"
    assert view.problems == [f"The queue looks stuck: job {'2' * 26} has waited 20 min while 1 of 4 slots is free."]
    assert view.oldest_wait_seconds == 20 * 60


def test_a_long_wait_with_every_slot_taken_is_not_stuck() -> None:
    assert check(running=4, waiting=[queued(5, NOW - 5 * HOUR)]).status == "ok"


def test_stuck_means_longer_than_the_threshold() -> None:
    assert check(running=0, waiting=[queued(5, NOW - STUCK)]).status == "ok"
    assert check(running=0, waiting=[queued(5, NOW - STUCK - US)]).status == "degraded"


def test_a_job_held_by_its_owners_limit_is_not_stuck() -> None:
    held = queued(5, NOW - HOUR, owner="alice")
    assert check(running=2, waiting=[held], running_by_owner={"alice": 2}, max_running_per_user=2).status == "ok"
    other = queued(5, NOW - 30 * MIN, owner="bob", job_id="3" * 26)
    view = check(running=2, waiting=[held, other], running_by_owner={"alice": 2}, max_running_per_user=2)
    assert view.problems == [f"The queue looks stuck: job {'3' * 26} has waited 30 min while 2 of 4 slots are free."]
    assert view.oldest_wait_seconds == 3600, "the oldest waiting job is still reported"


@pytest.mark.parametrize(
    ("statuses", "degraded"),
    [
        ([S.FAILED, S.FAILED, S.COMPLETED], True),
        ([S.FAILED, S.FAILED], False),  # too few to judge
        ([S.FAILED, S.FAILED, S.COMPLETED, S.COMPLETED], False),  # half is not more than half
        ([S.FAILED, S.FAILED, S.CANCELLED, S.CANCELLED], False),  # cancelled jobs ended too
        ([S.FAILED, S.FAILED, S.FAILED], True),
    ],
)
def test_mostly_failing_degrades(statuses: list[JobStatus], degraded: bool) -> None:
    view = check(ended_last_hour=[ended(status, NOW - MIN) for status in statuses])
    assert view.status == ("degraded" if degraded else "ok")
    failed = statuses.count(S.FAILED)
    assert view.failed_last_hour == failed
    if degraded:
        assert view.problems == [f"{failed} of the {len(statuses)} jobs that ended in the last hour failed."]


def test_only_the_last_hour_counts() -> None:
    earlier = [ended(S.FAILED, NOW - HOUR - US) for _ in range(3)] + [ended(S.COMPLETED, NOW - 2 * HOUR)]
    view = check(ended_last_hour=earlier)
    assert (view.status, view.failed_last_hour, view.last_completed) == ("ok", 0, None)


def test_the_last_completed_is_the_latest() -> None:
    jobs = [ended(S.COMPLETED, NOW - n * MIN, job_id=f"{n:026d}") for n in (30, 2, 9)] + [ended(S.FAILED, NOW)]
    assert check(ended_last_hour=jobs).last_completed == LastCompleted(job_id=f"{2:026d}", completed_at=NOW - 2 * MIN)


def test_more_running_than_allowed_degrades() -> None:
    view = check(running=5, max_running=4)
    assert view.problems == ["5 jobs running, more than the limit of 4."]


def test_every_problem_at_once() -> None:
    view = check(
        running=1,
        max_running=0,
        start_failures=1,
        ended_last_hour=[ended(S.FAILED, NOW - MIN) for _ in range(3)],
        waiting=[queued(5, NOW - HOUR)],
    )
    assert view.status == "degraded"
    assert len(view.problems) == 3  # no slot is free, so not stuck
    failures = [ended(S.FAILED, NOW - MIN) for _ in range(3)]
    view = check(running=0, start_failures=1, ended_last_hour=failures, waiting=[queued(5, NOW - HOUR)])
    assert len(view.problems) == 3  # stuck now, and within the limit
