"""The client commands against the fake API: one JSON document with --json, exit codes, errors, resume after Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lambdas.jobs.model import JobStatus
from lambdas.jobs.stats import PriorityClass, QueueStats
from tests.unit.client.conftest import make_file
from tests.unit.client.fake_api import FakeVodpipe
from vodpipe.cli import app

MiB = 1 << 20


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def one_document(result: Result) -> Any:
    """stdout must be exactly one JSON document and nothing else."""
    return json.loads(result.stdout)


@pytest.fixture
def target(fake: FakeVodpipe, config_dir: Path) -> dict[str, str]:
    return {"VODPIPE_API_URL": fake.url, "VODPIPE_TOKEN": fake.token}


def test_upload_json_is_one_document(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", 12 * MiB + 3)

    result = run("upload", str(video), "--json", "--part-size", "5", "--renditions", "720p,360p", env=target)

    assert result.exit_code == 0, result.stderr
    document = one_document(result)
    assert document["job"]["status"] == "QUEUED"
    assert document["job"]["requested_renditions"] == ["720p", "360p"]
    assert document["upload"]["part_count"] == 3
    assert document["upload"]["parts_uploaded"] == 3
    stored = fake.stored(document["job"]["job_id"])
    assert hashlib.sha256(stored).digest() == hashlib.sha256(video.read_bytes()).digest()


def test_upload_wait_follows_the_job_to_its_playback_url(
    fake: FakeVodpipe, target: dict[str, str], tmp_path: Path
) -> None:
    video = make_file(tmp_path / "clip.mp4", MiB)

    result = run("upload", str(video), "--wait", "--json", env=target)

    assert result.exit_code == 0, result.stderr
    document = one_document(result)
    assert document["job"]["status"] == "COMPLETED"
    assert document["playback_url"].endswith("/master.m3u8")


def test_upload_wait_exits_non_zero_with_the_reason_when_the_job_fails(
    fake: FakeVodpipe, target: dict[str, str], tmp_path: Path
) -> None:
    fake.faults.final_status = "FAILED"
    video = make_file(tmp_path / "clip.mp4", MiB)

    result = run("upload", str(video), "--wait", "--json", env=target)

    assert result.exit_code == 4
    assert one_document(result)["job"]["status"] == "FAILED"
    assert "FAILED (UnsupportedInput: no video stream)" in result.stderr


def test_upload_without_json_prints_a_summary(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", MiB)
    result = run("upload", str(video), "--wait", env=target)
    assert result.exit_code == 0, result.stderr
    assert "COMPLETED" in result.stdout
    assert "master.m3u8" in result.stdout


def test_every_job_command_prints_one_document(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    fake.faults.final_status = "FAILED"
    video = make_file(tmp_path / "clip.mp4", MiB)
    job_id = one_document(run("upload", str(video), "--json", "--wait", env=target))["job"]["job_id"]

    assert one_document(run("status", job_id, "--json", env=target))["status"] == "FAILED"
    assert one_document(run("events", job_id, "--json", env=target))["events"][0]["kind"] == "info"
    stats = QueueStats.model_validate(one_document(run("stats", "--window-hours", "6", "--json", env=target)))
    assert (stats.until - stats.since, stats.by_status[JobStatus.FAILED]) == (timedelta(hours=6), 1)
    listing = one_document(run("jobs", "--status", "failed", "--limit", "5", "--json", env=target))
    assert [j["job_id"] for j in listing["jobs"]] == [job_id]
    retried = one_document(run("retry", job_id, "--json", env=target))
    assert (retried["status"], retried["retry_count"]) == ("QUEUED", 1)
    assert one_document(run("cancel", job_id, "--json", env=target))["status"] == "CANCELLED"


def test_stats_shows_the_queue_stats_the_api_answers(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    assert run("upload", str(make_file(tmp_path / "a.mp4", MiB)), "--wait", "--json", env=target).exit_code == 0
    fake.faults.final_status = "FAILED"
    assert run("upload", str(make_file(tmp_path / "b.mp4", MiB, seed=9)), "--wait", "--json", env=target).exit_code == 4

    stats = QueueStats.model_validate(one_document(run("stats", "--window-hours", "6", "--json", env=target)))
    assert stats.until - stats.since == timedelta(hours=6)
    assert stats.jobs == 2
    assert {status: n for status, n in stats.by_status.items() if n} == {JobStatus.COMPLETED: 1, JobStatus.FAILED: 1}
    assert stats.by_priority_class[PriorityClass.NORMAL] == 2
    assert stats.success_rate == 0.5
    assert stats.mean_processing_seconds is not None

    result = run("stats", "--window-hours", "6", env=target)

    assert result.exit_code == 0, result.stderr
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in result.stdout.splitlines() if line.strip())
    since, until = (datetime.fromisoformat(moment + "+00:00") for moment in rows.pop("window (UTC)").split(" to "))
    assert until - since == timedelta(hours=6)
    assert (rows["jobs"], rows["COMPLETED"], rows["FAILED"], rows["QUEUED"]) == ("2", "1", "1", "0")
    assert (rows["priority normal"], rows["priority high"]) == ("2", "0")
    assert rows["success rate"] == "50.0 %"
    for label in ("processing, mean", "processing, p95", "queue wait, mean"):
        assert re.fullmatch(r"\d+\.\d s", rows[label]), rows
    # Every QueueStats field has its named rows: none is left to the dotted fallback for unknown fields.
    statuses = {str(status) for status in JobStatus}
    classes = {f"priority {name}" for name in PriorityClass}
    assert set(rows) == {
        "jobs",
        "success rate",
        "processing, mean",
        "processing, p95",
        "queue wait, mean",
    } | statuses | classes | {"cost, estimated", "cost, measured", "their estimate", "Lambda", "stored"}
    assert rows["cost, measured"].startswith("$")


@pytest.mark.parametrize(("window", "exit_code"), [("1", 0), ("720", 0), ("0", 2), ("721", 2), ("1.5", 2)])
def test_the_stats_window_is_whole_hours_up_to_thirty_days(
    fake: FakeVodpipe, target: dict[str, str], window: str, exit_code: int
) -> None:
    result = run("stats", "--window-hours", window, "--json", env=target)
    assert result.exit_code == exit_code, result.stderr
    if exit_code == 0:
        stats = QueueStats.model_validate(one_document(result))
        assert stats.until - stats.since == timedelta(hours=int(window))
    else:
        assert "--window-hours" in result.stderr


def test_status_watch_json_is_one_line_per_change(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", MiB)
    job_id = one_document(run("upload", str(video), "--json", env=target))["job"]["job_id"]

    result = run("status", job_id, "--watch", "--json", env=target)

    assert result.exit_code == 0, result.stderr
    states = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(s["status"], s["progress"]) for s in states] == [("PROCESSING", 0), ("PROCESSING", 50), ("COMPLETED", 100)]
    assert [s["revision"] for s in states] == sorted({s["revision"] for s in states})
    # One long-poll per change after the first look (the fake moves the job a step per look).
    assert [r.query.get("wait") for r in fake.job_gets(job_id)] == [None, "20", "20"]


def test_status_watch_prints_each_change_then_the_job(
    fake: FakeVodpipe, target: dict[str, str], tmp_path: Path
) -> None:
    fake.faults.final_status = "FAILED"
    video = make_file(tmp_path / "clip.mp4", MiB)
    job_id = one_document(run("upload", str(video), "--renditions", "720p", "--json", env=target))["job"]["job_id"]

    result = run("status", job_id, "--watch", env=target)

    assert result.exit_code == 4
    lines = [re.sub(r"^\d\d:\d\d:\d\d  ", "", line.rstrip()) for line in result.stdout.splitlines()]
    assert lines[:3] == [
        "PROCESSING  probe  0 %",
        "PROCESSING  transcode  50 %  720p 50 %",
        "FAILED  transcode  50 %  UnsupportedInput: no video stream",
    ]
    assert any(line.startswith(f"job {job_id}  FAILED") for line in lines[3:])
    assert "FAILED (UnsupportedInput: no video stream)" in result.stderr


def test_api_errors_print_message_and_field(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", MiB)

    result = run("upload", str(video), "--renditions", "4k", "--json", env=target)

    assert result.exit_code == 1
    assert "renditions: 4k not in the web preset (1080p, 720p, 480p, 360p) (field: renditions)" in result.stderr
    assert "[HTTP 422 validation_error]" in result.stderr
    assert one_document(result) == {
        "error": "validation_error",
        "message": "renditions: 4k not in the web preset (1080p, 720p, 480p, 360p)",
        "field": "renditions",
        "status": 422,
    }


def test_a_missing_job_is_a_one_line_error(fake: FakeVodpipe, target: dict[str, str]) -> None:
    result = run("status", "01JZZZZZZZZZZZZZZZZZZZZZZZ", env=target)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "job 01JZZZZZZZZZZZZZZZZZZZZZZZ not found [HTTP 404 not_found]" in result.stderr


def test_a_wrong_token_is_refused(fake: FakeVodpipe, target: dict[str, str]) -> None:
    result = run("jobs", "--json", env=target | {"VODPIPE_TOKEN": "wrong"})
    assert result.exit_code == 1
    assert one_document(result)["status"] == 401
    assert "Unauthorized" in result.stderr


def test_a_missing_token_says_where_to_put_one(fake: FakeVodpipe, config_dir: Path) -> None:
    result = run("jobs", env={"VODPIPE_API_URL": fake.url})
    assert result.exit_code == 1
    assert result.stderr.startswith("vodpipe jobs: no API token: pass --token, set VODPIPE_TOKEN, or put token")
    assert result.stderr.count("\n") == 1


def test_the_config_file_provides_url_and_token(fake: FakeVodpipe, config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text(f'api_url = "{fake.url}"\ntoken = "{fake.token}"\n')
    result = run("jobs", "--json")
    assert result.exit_code == 0, result.stderr
    assert one_document(result) == {"jobs": [], "next_cursor": None}


def test_flags_win_over_the_environment(fake: FakeVodpipe, config_dir: Path) -> None:
    env = {"VODPIPE_API_URL": "http://127.0.0.1:9/nowhere", "VODPIPE_TOKEN": "wrong"}
    result = run("jobs", "--json", "--api-url", fake.url, "--token", fake.token, env=env)
    assert result.exit_code == 0, result.stderr


def test_an_unreachable_api_is_a_transport_error(config_dir: Path) -> None:
    result = run("jobs", "--json", "--api-url", "http://127.0.0.1:9/v1", "--token", "t")
    assert result.exit_code == 1
    assert one_document(result)["error"] == "TransportError"
    assert "cannot reach http://127.0.0.1:9/v1" in result.stderr


def test_ctrl_c_then_the_same_command_uploads_only_the_missing_parts(
    fake: FakeVodpipe, target: dict[str, str], config_dir: Path, tmp_path: Path
) -> None:
    """The real process, a real SIGINT at a known point: part 1 stored, part 2 in flight, parts 3 and 4 not
    started. The in-flight part finishes, the rest wait; the second run resumes where the first stopped."""
    video = make_file(tmp_path / "clip.mp4", 16 * MiB)
    fake.faults.hold_after = 1  # part 2 reaches storage, then waits for `release`
    upload = ["upload", str(video), "--json", "--part-size", "5", "--parallel", "1"]
    command = [sys.executable, "-m", "vodpipe.cli", *upload]
    env = os.environ | target | {"VODPIPE_CONFIG_DIR": str(config_dir)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert fake.faults.held.wait(timeout=30), "part 2 never reached storage"
        assert sorted(fake.stored_parts) == [1]
        proc.send_signal(signal.SIGINT)
        # The client says when it has stopped starting parts; only then is the held part let through.
        said: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            said.append(line)
            if line.startswith("interrupted:"):
                break
        assert said[-1:] == ["interrupted: stopping after the 1 part(s) in flight\n"], said
        fake.faults.release.set()
        out, rest = proc.communicate(timeout=30)
    finally:
        fake.faults.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = "".join(said) + rest

    assert proc.returncode == 130, err
    stopped = json.loads(out)
    assert (stopped["error"], stopped["parts_done"], stopped["part_count"]) == ("UploadInterrupted", 2, 4)
    assert "run the same command again" in err
    assert sorted(fake.stored_parts) == [1, 2]

    fake.faults.hold_after = None
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)

    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["job"]["job_id"] == stopped["job_id"]
    assert document["upload"]["resumed"] is True
    assert (document["upload"]["parts_skipped"], document["upload"]["parts_uploaded"]) == (2, 2)
    assert fake.stored_parts == [1, 2, 3, 4]  # each part stored exactly once over both runs
    stored = fake.stored(document["job"]["job_id"])
    assert hashlib.sha256(stored).digest() == hashlib.sha256(video.read_bytes()).digest()


def test_status_prints_the_quality_of_each_rung(fake: FakeVodpipe, target: dict[str, str], tmp_path: Path) -> None:
    video = make_file(tmp_path / "clip.mp4", MiB)
    upload = run("upload", str(video), "--renditions", "1080p,720p", "--wait", "--json", env=target)
    job_id = one_document(upload)["job"]["job_id"]

    result = run("status", job_id, env=target)

    assert result.exit_code == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert "  1080p  VMAF 94.1 (min 88.0, 24 frames)" in lines
    assert "  720p   VMAF 88.1 (min 82.0, 24 frames)" in lines
    assert one_document(run("status", job_id, "--json", env=target))["outputs"]["quality"][0] == {
        "rendition": "1080p",
        "metric": "vmaf",
        "mean": 94.1,
        "min": 88.0,
        "harmonic_mean": 94.0,
        "frames": 24,
    }
