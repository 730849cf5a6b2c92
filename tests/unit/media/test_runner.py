"""The subprocess runner: bare environment, time-out, rlimits, progress, typed errors."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lambdas.media.errors import EncoderKilled, SourceUnreadable, TranscodeFailed, UnsupportedInput
from lambdas.media.progress import Progress
from lambdas.media.runner import Limits, child_env, run


def test_child_sees_only_path_and_the_static_binary_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "do-not-leak")
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert set(child_env()) == {"PATH", "GCONV_PATH"}
    result = run(["/usr/bin/env"], cwd=tmp_path, timeout=10)
    assert sorted(line.split("=")[0] for line in result.stdout.splitlines()) == ["GCONV_PATH", "PATH"]
    assert "do-not-leak" not in result.stdout


def test_ld_library_path_is_kept_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/lib")
    assert child_env()["LD_LIBRARY_PATH"] == "/opt/lib"


def test_runs_in_the_job_dir_with_no_stdin(tmp_path: Path) -> None:
    result = run(["/bin/sh", "-c", "pwd; cat"], cwd=tmp_path, timeout=10)
    assert result.stdout.strip() == str(tmp_path)
    assert result.returncode == 0


def test_limits_are_applied(tmp_path: Path) -> None:
    result = run(
        ["/bin/sh", "-c", "ulimit -f; ulimit -t; ulimit -c"],
        cwd=tmp_path,
        timeout=10,
        limits=Limits(cpu_seconds=7, file_size_bytes=1024 * 1024),
    )
    assert result.stdout.split() == ["2048", "7", "0"]  # ulimit -f counts 512-byte blocks


def test_niceness_lowers_the_childs_priority_only(tmp_path: Path) -> None:
    ours = os.nice(0)
    result = run(["/bin/sh", "-c", "nice"], cwd=tmp_path, timeout=10, limits=Limits(niceness=10))
    assert int(result.stdout) == min(19, ours + 10)
    assert os.nice(0) == ours  # set between fork and exec: this process keeps its priority
    assert int(run(["/bin/sh", "-c", "nice"], cwd=tmp_path, timeout=10).stdout) == ours


def test_time_out_kills_the_process_group(tmp_path: Path) -> None:
    with pytest.raises(TranscodeFailed, match=r"longer than 0\.3 s") as caught:
        run(["/bin/sh", "-c", "sleep 30 & sleep 30; echo never"], cwd=tmp_path, timeout=0.3)
    assert "never" not in " ".join(caught.value.stderr_tail)
    # Our own time-out kills with SIGKILL too, but it is final: not the retryable EncoderKilled.
    assert type(caught.value) is TranscodeFailed


def children_named(name: str) -> list[int]:
    """Pids of this process's children running `name` (from /proc: run() does not hand out its child)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        comm, _, fields = rest.rpartition(") ")
        if comm == name and int(fields.split()[1]) == os.getpid():
            found.append(int(pid))
    return found


def kill_when_started(name: str, deadline_s: float = 10.0) -> threading.Thread:
    """A short-lived thread that SIGKILLs our child `name` once it runs, as the OOM killer would."""

    def wait_and_kill() -> None:
        give_up = time.monotonic() + deadline_s
        while time.monotonic() < give_up:
            for pid in children_named(name):
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=wait_and_kill, daemon=True)
    thread.start()
    return thread


def test_a_child_killed_from_outside_is_encoder_killed(tmp_path: Path) -> None:
    killer = kill_when_started("sleep")
    started = time.monotonic()
    with pytest.raises(EncoderKilled, match="sleep was killed") as caught:
        run(["sleep", "30"], cwd=tmp_path, timeout=20)
    killer.join(timeout=5)
    assert not killer.is_alive()
    assert time.monotonic() - started < 10  # killed, not timed out
    assert isinstance(caught.value, TranscodeFailed)  # still a failed transcode where retries are spent


def test_file_size_limit_stops_the_writer(tmp_path: Path) -> None:
    with pytest.raises(TranscodeFailed, match="size limit"):
        run(
            ["/bin/sh", "-c", "exec head -c 200000 /dev/zero > big"],
            cwd=tmp_path,
            timeout=10,
            limits=Limits(file_size_bytes=65536),
        )
    assert (tmp_path / "big").stat().st_size <= 65536


def test_progress_lines_reach_the_callback(tmp_path: Path) -> None:
    script = "printf 'frame=1\\nout_time_us=500000\\nprogress=continue\\nout_time_us=1000000\\nprogress=end\\n'"
    seen: list[Progress] = []
    result = run(["/bin/sh", "-c", script], cwd=tmp_path, timeout=10, on_progress=seen.append, duration=1.0)
    assert [(p.percent, p.done) for p in seen] == [(50.0, False), (100.0, True)]
    assert result.stdout == ""


def test_failures_become_typed_errors_with_the_stderr_tail(tmp_path: Path) -> None:
    noisy = "for i in $(seq 1 100); do echo line $i >&2; done; echo 'x: Invalid data found when processing input' >&2"
    with pytest.raises(UnsupportedInput) as caught:
        run(["/bin/sh", "-c", noisy + "; exit 1"], cwd=tmp_path, timeout=10, stage="probe")
    assert caught.value.stderr_tail[-1] == "x: Invalid data found when processing input"
    assert len(caught.value.stderr_tail) == 30
    with pytest.raises(SourceUnreadable):
        run(["/bin/sh", "-c", noisy + "; exit 1"], cwd=tmp_path, timeout=10, stage="transcode")
    with pytest.raises(TranscodeFailed):
        run(["/bin/sh", "-c", "echo boom >&2; exit 3"], cwd=tmp_path, timeout=10)
    unchecked = run(["/bin/sh", "-c", "exit 3"], cwd=tmp_path, timeout=10, check=False)
    assert unchecked.returncode == 3
