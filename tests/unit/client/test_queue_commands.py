"""The queue from the command line: priorities and their tiers, a queued job's place, quotas, the admin views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lambdas.queue.config import QueueConfig
from tests.unit.api.conftest import CAROL, OPS, TOKENS
from tests.unit.client.conftest import make_file
from tests.unit.client.fake_api import FakeVodpipe
from vodpipe.cli import app

MiB = 1 << 20


def run(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def document(result: Result) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def target(fake: FakeVodpipe, config_dir: Path) -> dict[str, str]:
    return {"VODPIPE_API_URL": fake.url, "VODPIPE_TOKEN": fake.token}


def queued_job(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path, name: str = "clip.mp4") -> str:
    fake.faults.hold_queued = True
    result = run("upload", str(make_file(tmp_path / name, MiB)), "--json", env=target)
    assert result.exit_code == 0, result.stderr
    job = document(result)["job"]
    assert job["status"] == "QUEUED"
    return str(job["job_id"])


def test_status_shows_a_queued_jobs_place(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    first = queued_job(fake, target, tmp_path)
    second = queued_job(fake, target, tmp_path, "b.mp4")

    shown = document(run("status", second, "--json", env=target))
    assert (shown["status"], shown["queue_position"]) == ("QUEUED", 1)
    assert "estimated_start_at" in shown

    human = run("status", second, env=target).stdout
    assert "position 2 in the queue (1 ahead), " in human
    assert "expected to start ~" in human or "start time unknown" in human
    assert "next in the queue" in run("status", first, env=target).stdout


def test_priority_moves_a_waiting_job(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    first = queued_job(fake, target, tmp_path)
    second = queued_job(fake, target, tmp_path, "b.mp4")

    result = run("priority", second, "1", "--json", env=target)

    assert result.exit_code == 0, result.stderr
    moved = document(result)
    assert (moved["priority"], moved["queue_position"]) == (1, 0)
    assert fake.job(second).priority == 1
    assert document(run("status", first, "--json", env=target))["queue_position"] == 1
    assert "priority 1" in run("priority", second, "1", env=target).stdout


def test_a_priority_above_the_tokens_tier_is_refused(fake: FakeVodpipe, config_dir: Path, tmp_path: Path) -> None:
    carol = {"VODPIPE_API_URL": fake.url, "VODPIPE_TOKEN": TOKENS[CAROL]}
    upload = run("upload", str(make_file(tmp_path / "a.mp4", MiB)), "--priority", "2", "--json", env=carol)
    assert upload.exit_code == 1
    assert document(upload) == {
        "error": "forbidden",
        "message": "priority 2 is above your tier: this token may request priority 4 to 10 (1 is the most urgent)",
        "field": "priority",
        "status": 403,
    }
    job_id = document(run("upload", str(make_file(tmp_path / "b.mp4", MiB)), "--json", env=carol))["job"]["job_id"]
    refused = run("priority", job_id, "3", env=carol)
    assert refused.exit_code == 1
    assert "priority 3 is above your tier" in refused.stderr
    assert "[HTTP 403 forbidden]" in refused.stderr
    assert run("priority", job_id, "0", env=carol).exit_code == 2  # not a priority at all: refused locally


@pytest.fixture
def tight() -> Iterator[FakeVodpipe]:
    with FakeVodpipe(
        min_part_size=64 * 1024, default_part_size=64 * 1024, queue=QueueConfig(max_uploads_per_hour=1)
    ) as api:
        yield api


def test_an_upload_past_a_quota_says_which_and_when(tight: FakeVodpipe, config_dir: Path, tmp_path: Path) -> None:
    env = {"VODPIPE_API_URL": tight.url, "VODPIPE_TOKEN": tight.token}
    assert run("upload", str(make_file(tmp_path / "a.mp4", MiB)), "--json", env=env).exit_code == 0

    result = run("upload", str(make_file(tmp_path / "b.mp4", MiB, seed=9)), "--json", env=env)

    assert result.exit_code == 1
    refused = document(result)
    assert (refused["status"], refused["error"]) == (429, "too_many_requests")
    assert "max_uploads_per_hour" in refused["message"]
    assert "try again in " in result.stderr


def test_admin_queue_and_health_need_an_admin_token(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    queued_job(fake, target, tmp_path)
    admin = target | {"VODPIPE_TOKEN": TOKENS[OPS]}

    queue = run("admin", "queue", "--window-minutes", "30", "--json", env=admin)
    assert queue.exit_code == 0, queue.stderr
    assert (document(queue)["window_minutes"], document(queue)["waiting"]) == (30, 1)
    human = run("admin", "queue", env=admin)
    assert "waiting" in human.stdout
    assert "(high 0, normal 1, bulk 0)" in human.stdout

    health = run("admin", "health", "--json", env=admin)
    assert health.exit_code in (0, 3), health.stderr
    report = document(health)
    assert report["status"] in ("ok", "degraded")
    assert (health.exit_code == 0) == (report["status"] == "ok")
    assert "health" in run("admin", "health", env=admin).stdout

    for command in (["admin", "queue"], ["admin", "health"]):
        refused = run(*command, env=target)
        assert refused.exit_code == 1
        assert "[HTTP 403 forbidden]" in refused.stderr
        assert "admin token" in refused.stderr


@pytest.mark.parametrize("window", ["0", "1441"])
def test_the_queue_window_is_one_minute_to_a_day(fake: FakeVodpipe, target: dict[str, str], window: str) -> None:
    assert run("admin", "queue", "--window-minutes", window, env=target).exit_code == 2
