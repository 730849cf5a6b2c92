"""Following a job until it ends: long-polls on its revision with a deadline, one callback per new revision."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vodpipe.client.api import ApiClient, Json
from vodpipe.client.errors import ClientError

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Below API Gateway's 29 s and the API's 25 s limit, with room for the answer to come back.
MAX_WAIT_S = 20
MIN_WAIT_S = 1


class FollowTimeout(ClientError):
    """The job had not ended by the deadline."""


def is_terminal(job: Json) -> bool:
    return job.get("status") in TERMINAL


def revision_of(job: Json) -> int | None:
    """The job's revision (every change adds one); None from an API that predates it."""
    revision = job.get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else None


def wait_for(left: float | None, max_wait: int = MAX_WAIT_S) -> int:
    """A long-poll's `wait`: at most `max_wait` and never past the deadline, but at least a second."""
    if left is None:
        return max_wait
    return max(MIN_WAIT_S, min(max_wait, int(left)))


def is_news(job: Json, seen: int | None, latest: Json | None) -> bool:
    """Whether `latest` (None: 304) is a new state of `job`: a higher revision; without revisions, any difference."""
    if latest is None:
        return False
    revision = revision_of(latest)
    if seen is None:
        return revision is not None or latest != job
    return revision is None or revision > seen


def follow_job(
    api: ApiClient,
    job_id: str,
    *,
    interval: float = 1.0,
    timeout: float | None = None,
    on_update: Callable[[Json], None] | None = None,
    stop: threading.Event | None = None,
    max_wait: int = MAX_WAIT_S,
) -> Json:
    """Follow `GET /jobs/{id}` until the job is COMPLETED, FAILED or CANCELLED; returns its last state.

    Each request waits on the server (`?wait=&version=`, with `If-None-Match`) until the job's revision passes the
    last one seen, so a job costs about one request per change however long it runs. `on_update` sees the first
    state and then each new revision once. From an API without revisions: a plain poll every `interval` seconds.
    """
    stop = stop or threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    first, etag = api.wait_for_change(job_id)
    assert first is not None  # nothing to compare with: never 304
    job, seen = first, revision_of(first)
    if on_update is not None:
        on_update(job)
    while not is_terminal(job):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise FollowTimeout(
                f"job {job_id} is still {job.get('status')} after {timeout:.0f} s "
                f"(step {job.get('current_step')}, {job.get('progress', 0)} %)"
            )
        if stop.is_set():
            return job
        started = time.monotonic()
        if seen is None:  # an API before long-polling
            if stop.wait(interval if left is None else min(interval, left)):
                return job
            latest: Json | None = api.get_job(job_id)
        else:
            latest, etag = api.wait_for_change(job_id, seen, wait_for(left, max_wait), etag)
        changed = is_news(job, seen, latest)
        if latest is not None:
            job = latest  # an unchanged revision may still bring a new queue position
        if changed:
            seen = revision_of(job)
            if on_update is not None:
                on_update(job)
            continue
        took = time.monotonic() - started
        if seen is not None and took < interval and stop.wait(interval - took):
            # An unchanged answer that came back at once (a server that does not wait): no request storm.
            return job
    return job
