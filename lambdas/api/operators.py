"""What operators see: the whole queue and the deployment's health (admin tokens only; the route checks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from lambdas.api.errors import unavailable
from lambdas.jobs.model import Clock, Job, utc_now
from lambdas.queue import views
from lambdas.queue.config import QueueConfig
from lambdas.queue.order import HIGHEST, LOWEST
from lambdas.queue.ports import DeadLetters, QueueStore

# Every waiting job is read for the operators' view; past this many per level the counts are a floor.
MAX_LISTED_PER_LEVEL = 10_000
HOUR = timedelta(hours=1)
# A job waiting this long while slots are free means the scheduler is not running.
STUCK_AFTER = timedelta(minutes=5)


class OperatorService:
    def __init__(
        self,
        queue: QueueStore,
        dead_letters: DeadLetters,
        throttled: Callable[[datetime, datetime], int],
        config: QueueConfig,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._queue, self._dead_letters, self._throttled = queue, dead_letters, throttled
        self._config, self._clock = config, clock

    def _waiting(self) -> list[Job]:
        return [job for level in range(HIGHEST, LOWEST + 1) for job in self._queue.waiting(level, MAX_LISTED_PER_LEVEL)]

    def queue(self, window: timedelta) -> views.AdminQueue:
        now = self._clock()
        with unavailable():
            waiting = self._waiting()
            running = self._queue.running().total
            started = self._queue.started_between(now - window, now)
            ended = self._queue.ended_between(now - window, now)
        return views.admin_queue(waiting, running, self._config.max_running_jobs, started, ended, now, window)

    def health(self) -> views.Health:
        now = self._clock()
        with unavailable():
            waiting = self._waiting()
            counts = self._queue.running()
            ended = self._queue.ended_between(now - HOUR, now)
            throttled = self._throttled(now - HOUR, now)
            start_failures = self._dead_letters.depth()
        return views.health(
            running=counts.total,
            running_by_owner=counts.by_owner,
            max_running_per_user=self._config.max_running_jobs_per_user,
            max_running=self._config.max_running_jobs,
            waiting=waiting,
            ended_last_hour=ended,
            throttled_last_hour=throttled,
            start_failures=start_failures,
            now=now,
            stuck_after=STUCK_AFTER,
        )
