"""Following a job until it ends: polling with a deadline, one callback per observed state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vodpipe.client.api import ApiClient, Json
from vodpipe.client.errors import ClientError

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


class FollowTimeout(ClientError):
    """The job had not ended by the deadline."""


def is_terminal(job: Json) -> bool:
    return job.get("status") in TERMINAL


def follow_job(
    api: ApiClient,
    job_id: str,
    *,
    interval: float = 1.0,
    timeout: float | None = None,
    on_update: Callable[[Json], None] | None = None,
    stop: threading.Event | None = None,
) -> Json:
    """Poll `GET /jobs/{id}` until the job is COMPLETED, FAILED or CANCELLED; returns its last state."""
    stop = stop or threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = api.get_job(job_id)
        if on_update is not None:
            on_update(job)
        if is_terminal(job):
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise FollowTimeout(
                f"job {job_id} is still {job.get('status')} after {timeout:.0f} s "
                f"(step {job.get('current_step')}, {job.get('progress', 0)} %)"
            )
        if stop.wait(interval):
            return job
