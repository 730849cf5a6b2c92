"""Following a job: one long-poll per change of its revision, 304 when nothing changed, the deadline kept, and the
plain poll for an API before revisions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.client.conftest import make_file
from tests.unit.client.fake_api import FakeVodpipe, Request
from vodpipe.cli import app
from vodpipe.client.api import ApiClient, Json
from vodpipe.client.follow import MAX_WAIT_S, FollowTimeout, follow_job, revision_of, wait_for

MiB = 1 << 20


@pytest.fixture
def api(fake: FakeVodpipe) -> Iterator[ApiClient]:
    with ApiClient(fake.url, fake.token) as client:
        yield client


@pytest.fixture
def job_id(fake: FakeVodpipe, config_dir: Path, tmp_path: Path) -> str:
    """A QUEUED job that changes only when the test says (fake.advance, fake.progress)."""
    fake.faults.advance_on_look = False
    env = {"VODPIPE_API_URL": fake.url, "VODPIPE_TOKEN": fake.token}
    result = CliRunner().invoke(app, ["upload", str(make_file(tmp_path / "clip.mp4", MiB)), "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    return str(json.loads(result.stdout)["job"]["job_id"])


def header(request: Request, name: str) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), None)


def test_a_job_costs_one_request_per_change_however_long_it_runs(
    fake: FakeVodpipe, api: ApiClient, job_id: str
) -> None:
    """Ten changes (start, eight progress steps, the end), each made while the follower's request waits on the
    server: eleven requests in all, whatever the time between the changes (a request waits up to 20 s; the old
    1-second poll made one request per second of the job, ~60 for a 60 s job)."""
    changes: list[Callable[[], None]] = [
        lambda: fake.advance(job_id),
        *(lambda p=p: fake.progress(job_id, p) for p in range(10, 90, 10)),
        lambda: fake.advance(job_id),
    ]

    def workflow() -> None:
        for number, change in enumerate(changes, start=1):
            assert fake.await_long_poll(number), f"no long-poll waiting for change {number}"
            change()

    worker = threading.Thread(target=workflow, daemon=True)
    worker.start()
    seen: list[Json] = []
    final = follow_job(api, job_id, timeout=30, on_update=seen.append)
    worker.join(timeout=10)

    assert final["status"] == "COMPLETED"
    gets = fake.job_gets(job_id)
    assert len(gets) == len(changes) + 1
    revisions = [revision_of(job) for job in seen]
    assert len(seen) == len(gets)  # the first state, then each new revision once
    assert all(isinstance(r, int) for r in revisions)
    assert revisions == sorted(set(revisions))  # type: ignore[type-var]
    assert [job["progress"] for job in seen[2:-1]] == list(range(10, 90, 10))
    first, *polls = gets
    assert "wait" not in first.query
    for before, poll, answered in zip(seen[:-1], polls, seen[1:], strict=True):
        assert poll.query == {"wait": str(MAX_WAIT_S), "version": str(before["revision"])}
        assert header(poll, "If-None-Match")
        assert (poll.status, answered["revision"]) == (200, before["revision"] + 1)  # one change, one answer


def test_an_unchanged_job_answers_304_and_the_deadline_holds(fake: FakeVodpipe, api: ApiClient, job_id: str) -> None:
    fake.advance(job_id)  # PROCESSING: no queue estimate that moves with the clock
    seen: list[Json] = []
    started = time.monotonic()

    with pytest.raises(FollowTimeout, match=r"still PROCESSING after 1 s"):
        follow_job(api, job_id, timeout=1, on_update=seen.append)

    assert 1 <= time.monotonic() - started < 5
    first, poll = fake.job_gets(job_id)
    # Less than a second left: the wait is the shortest there is, not past the deadline by more.
    assert (first.status, poll.status, poll.query["wait"]) == (200, 304, "1")
    assert len(seen) == 1


def test_a_304_keeps_the_job_and_its_etag(fake: FakeVodpipe, api: ApiClient, job_id: str) -> None:
    fake.advance(job_id)
    job, etag = api.wait_for_change(job_id)
    assert job is not None
    assert etag
    assert api.wait_for_change(job_id, etag=etag) == (None, etag)
    fake.advance(job_id)
    changed, new_etag = api.wait_for_change(job_id, job["revision"], 5, etag)
    assert changed is not None
    assert changed["revision"] > job["revision"]
    assert new_etag not in (None, etag)


def test_an_api_without_revisions_is_polled(fake: FakeVodpipe, api: ApiClient, job_id: str) -> None:
    fake.faults.old_api = True
    fake.faults.advance_on_look = True  # each look moves the job a step, as before long-polling
    seen: list[Json] = []

    final = follow_job(api, job_id, interval=0.01, timeout=30, on_update=seen.append)

    assert final["status"] == "COMPLETED"
    gets = fake.job_gets(job_id)
    assert all("wait" not in r.query and header(r, "If-None-Match") is None for r in gets)
    assert [job["status"] for job in seen] == ["PROCESSING", "PROCESSING", "COMPLETED"]
    assert len(gets) == len(seen)


@pytest.mark.parametrize(("left", "wait"), [(None, 20), (100.0, 20), (7.9, 7), (1.0, 1), (0.3, 1), (-2.0, 1)])
def test_a_wait_never_passes_the_deadline_but_lasts_a_second(left: float | None, wait: int) -> None:
    assert wait_for(left) == wait
