"""The one place that spawns ffmpeg/ffprobe: time-out, rlimits, a bare environment, typed errors."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdas.media.errors import EncoderKilled, MediaError, TranscodeFailed, classify_failure
from lambdas.media.progress import Progress, iter_progress

GIB = 1024**3
STDERR_TAIL_LINES = 30


@dataclass(frozen=True)
class Limits:
    """Kernel limits for the child. Address space is generous: x264 and the static binary reserve a lot."""

    cpu_seconds: int | None = None  # default: the wall-clock time-out times the CPUs, plus a margin
    file_size_bytes: int = 8 * GIB  # per file written; the real guard for muxers that ignore -fs
    address_space_bytes: int = 32 * GIB
    # Raised for bulk work: where encodes share CPUs, the single-threaded audio encode that gates
    # playability is not starved by the multi-threaded video ones (on Lambda each has its own CPUs).
    niceness: int = 0


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str  # empty when stdout was consumed as progress
    stderr_tail: tuple[str, ...]
    elapsed_s: float
    cpu_s: float  # children's user+system time over the run; approximate if runs overlap in one process


# The binaries link glibc statically: asked for a character set it does not carry (the MPEG-TS demuxer
# converts DVB service names), that glibc dlopens the host's gconv modules and crashes (SIGSEGV, measured
# on ffmpeg 6.0-static with every .ts file). Pointed nowhere, iconv fails cleanly and the name stays as is.
STATIC_BINARY_ENV = {"GCONV_PATH": "/nonexistent"}


def child_env() -> dict[str, str]:
    """Only what the binary needs: nothing in the child's /proc/self/environ worth stealing."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **STATIC_BINARY_ENV}
    if os.environ.get("LD_LIBRARY_PATH"):
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    limits: Limits | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    duration: float | None = None,
    stage: str = "transcode",
    check: bool = True,
) -> RunResult:
    """Run argv in `cwd`; feed `-progress pipe:1` blocks to `on_progress`, or capture stdout if it is None.

    With `check`, a non-zero exit raises the MediaError the stderr tail stands for (`stage` "probe" or
    "transcode" decides how an unrecognised input reads); a time-out or a hit limit is TranscodeFailed.
    """
    limits = limits or Limits()
    cpu = limits.cpu_seconds or int(timeout * (os.cpu_count() or 1)) + 10

    def set_limits() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
        resource.setrlimit(resource.RLIMIT_AS, (limits.address_space_bytes, limits.address_space_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.niceness:
            os.nice(limits.niceness)

    started = time.monotonic()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group, so a time-out kills every thread and child
        preexec_fn=set_limits,  # noqa: PLW1509 - only setrlimit calls, no locks taken
    )
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    timed_out = threading.Event()

    def drain_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip():
                tail.append(line.rstrip())

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    timer = threading.Timer(timeout, kill)
    timer.start()
    stdout = ""
    try:
        assert proc.stdout is not None
        if on_progress is not None:
            for progress in iter_progress(proc.stdout, duration):
                on_progress(progress)
            proc.stdout.read()
        else:
            stdout = proc.stdout.read()
        returncode = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            kill()
            proc.wait()
        reader.join(timeout=5)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = RunResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout=stdout,
        stderr_tail=tuple(tail),
        elapsed_s=round(time.monotonic() - started, 3),
        cpu_s=round((usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime), 3),
    )
    if check and returncode != 0:
        raise _failure(result, stage, timeout, timed_out.is_set())
    return result


def _failure(result: RunResult, stage: str, timeout: float, timed_out: bool) -> MediaError:
    name = Path(result.argv[0]).name
    if timed_out:
        return TranscodeFailed(
            f"Processing took longer than {timeout:g} s and was stopped.", stderr_tail=result.stderr_tail
        )
    if result.returncode == -signal.SIGKILL:
        return EncoderKilled(
            f"Processing stopped: {name} was killed (out of memory, or the machine stopped it).",
            stderr_tail=result.stderr_tail,
        )
    signals = {
        -signal.SIGXFSZ: "an output file grew past the size limit",
        -signal.SIGXCPU: "it used more CPU time than allowed",
    }
    if result.returncode in signals:
        return TranscodeFailed(
            f"Processing stopped: {name} {signals[result.returncode]}.", stderr_tail=result.stderr_tail
        )
    return classify_failure(result.stderr_tail, stage=stage)
