"""Many sources through a deployed pipeline at once, and what its outputs must look like to a player.

Shared by the integration tier (tests/integration/pipeline/test_real_world_sources.py, generated media) and the
conformance suite (tests/conformance/, media files shipped inside public packages). Sources are uploaded the way a
client does it (the REST API and its presigned part URLs, `vodpipe.client`), all at once, and the jobs are awaited
together; `playback_problems` lists, rather than asserts, everything a job's outputs break, so one run reports all
of it.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from lambdas import keys
from lambdas.jobs.model import Job, JobStatus, OutputKind
from lambdas.jobs.ports import JobNotFound, JobRepository
from tests.media_tools import LAYER_BIN, ffprobe_json
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader

FFMPEG = LAYER_BIN / "ffmpeg"
MAX_OUTPUT_FPS = 60.0
BT709 = "bt709"


def ffmpeg(*args: str, timeout: float = 120) -> None:
    """The layer's ffmpeg, quiet; raises with its own message on failure."""
    result = subprocess.run(
        [str(FFMPEG), "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr.strip()[-800:]}")


def ffmpeg_log(*args: str, timeout: float = 120) -> str:
    """The layer's ffmpeg at `info` level, decoding to nowhere: its log (filters like idet report there)."""
    result = subprocess.run(
        [str(FFMPEG), "-hide_banner", "-nostdin", "-v", "info", *args, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr.strip()[-800:]}")
    return result.stderr


# -- submitting and awaiting -------------------------------------------------------------------------------------


@dataclass
class Submitted:
    name: str
    source: Path
    job_id: str | None = None
    upload_error: str | None = None
    uploaded_at: float = 0.0
    finished_at: float | None = None
    job: Job | None = None

    @property
    def seconds(self) -> float | None:
        """From the upload's completion to the job's terminal status (as polled)."""
        return None if self.finished_at is None else self.finished_at - self.uploaded_at


def submit_all(
    api_url: str, token: str, sources: Mapping[str, Path], *, parallel: int = 6, resume_dir: Path | None = None
) -> dict[str, Submitted]:
    """Upload every source through the API (POST /uploads, part PUTs, POST …/complete), `parallel` at a time.

    The API refuses some files before they reach the pipeline (empty ones): that refusal is recorded as the
    entry's `upload_error`, never raised, so callers can expect it like any other outcome.
    """
    store = ResumeStore(resume_dir or Path(tempfile.mkdtemp(prefix="vodpipe-resume-")))
    runs = {name: Submitted(name=name, source=path) for name, path in sources.items()}
    with ApiClient(api_url, token) as api:

        def one(run: Submitted) -> None:
            try:
                result = Uploader(api, store, parallel=1).upload(run.source)
            except Exception as exc:  # the refusal is an outcome to compare, not a crash of the harness
                run.upload_error = f"{type(exc).__name__}: {exc}"
                return
            run.job_id = result.job_id
            run.uploaded_at = time.monotonic()

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(one, runs.values()))
    return runs


def await_all(
    repository: JobRepository,
    runs: Mapping[str, Submitted],
    *,
    deadline_s: float,
    poll_s: float = 1.0,
    on_poll: Callable[[Submitted, Job], None] | None = None,
) -> list[str]:
    """Poll every submitted job until each is terminal or the deadline passes; returns the names still pending."""
    deadline = time.monotonic() + deadline_s
    pending = {name for name, run in runs.items() if run.job_id is not None}
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            run = runs[name]
            assert run.job_id is not None
            try:
                job = repository.get(run.job_id)
            except JobNotFound:
                continue  # the event is still on its way
            if on_poll is not None:
                on_poll(run, job)
            if job.status.terminal:
                run.job, run.finished_at = job, time.monotonic()
                pending.discard(name)
        if pending:
            time.sleep(poll_s)
    for name in pending:  # what it was doing when we gave up, for the report
        run = runs[name]
        assert run.job_id is not None
        run.job = repository.get(run.job_id)
    return sorted(pending)


def outcome(run: Submitted) -> str:
    """One line: COMPLETED, or FAILED with its readable reason, or what kept it from finishing."""
    if run.upload_error is not None:
        return f"REFUSED {run.upload_error}"
    job = run.job
    if job is None:
        return "NOT STARTED"
    if job.status is JobStatus.COMPLETED:
        return "COMPLETED"
    if job.status is JobStatus.FAILED:
        return f"FAILED {job.error_type}: {job.error_message}"
    return f"{job.status.value} (at {job.current_step.value}, {job.progress}%)"


# -- reading the outputs -----------------------------------------------------------------------------------------


@dataclass
class Outputs:
    """A deployment's outputs bucket, read as a player would (plus listings)."""

    s3: Any
    bucket: str
    tmp: Path
    _fetched: dict[str, Path] = field(default_factory=dict)

    def text(self, key: str) -> str:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body.decode()

    def fetch(self, key: str) -> Path:
        if key not in self._fetched:
            path = self.tmp / key.replace("/", "_")
            path.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            self._fetched[key] = path
        return self._fetched[key]

    def listing(self, prefix: str) -> dict[str, int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def mp4(self, job: Job) -> Path | None:
        """The progressive MP4 fallback (the top rung's video and the first audio), when the job wrote one."""
        files = [f for f in (job.outputs.files if job.outputs else ()) if f.kind is OutputKind.MP4]
        return self.fetch(files[0].key) if files else None

    def track(self, job_id: str, track: str) -> Path:
        """One CMAF track (a video rung or an audio rendition) joined into one playable fMP4."""
        prefix = keys.track_prefix(job_id, track)
        playlist = self.text(prefix + keys.MEDIA_PLAYLIST)
        segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
        whole = self.tmp / f"{job_id}-{track}.mp4"
        with whole.open("wb") as out:
            for part in [keys.INIT_SEGMENT, *segments]:
                out.write(self.s3.get_object(Bucket=self.bucket, Key=prefix + part)["Body"].read())
        return whole


def rate(value: object) -> float | None:
    """ffprobe's "30000/1001" → 29.97; None for 0/0 or anything unreadable."""
    if not isinstance(value, str) or "/" not in value:
        return None
    num, _, den = value.partition("/")
    try:
        fraction = Fraction(int(num), int(den)) if int(den) else None
    except ValueError:
        return None
    return float(fraction) if fraction else None


def source_duration(source: Path) -> float:
    return float(ffprobe_json(source, "-show_format")["format"]["duration"])


def has_audio(source: Path) -> bool:
    return any(s.get("codec_type") == "audio" for s in ffprobe_json(source, "-show_streams")["streams"])


def playback_problems(
    media: Path,
    *,
    duration: float | None,
    audio: bool,
    duration_tolerance_s: float = 0.15,
    max_fps: float = MAX_OUTPUT_FPS,
) -> list[str]:
    """What a published file breaks of the playback format every output must have.

    H.264 8-bit 4:2:0, progressive, tagged BT.709 (primaries, transfer and matrix), at most `max_fps`; AAC
    stereo 48 kHz when `audio`; as long as the source (`duration`, None: not checked). Empty when all is well.
    """
    info = ffprobe_json(media, "-show_streams", "-show_format")
    streams = info.get("streams", [])
    problems: list[str] = []
    videos = [s for s in streams if s.get("codec_type") == "video"]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if len(videos) != 1:
        problems.append(f"{len(videos)} video streams")
    for video in videos[:1]:
        expect = {
            "codec_name": "h264",
            "pix_fmt": "yuv420p",
            "field_order": "progressive",
            "color_primaries": BT709,
            "color_transfer": BT709,
            "color_space": BT709,
        }
        for name, wanted in expect.items():
            if video.get(name) != wanted:
                problems.append(f"video {name}={video.get(name, '(unset)')}, expected {wanted}")
        depth = video.get("bits_per_raw_sample")
        if depth not in (None, "8"):
            problems.append(f"video bits_per_raw_sample={depth}, expected 8")
        if str(video.get("profile", "")).startswith("High 10"):
            problems.append(f"video profile {video['profile']}, expected 8-bit")
        fps = rate(video.get("avg_frame_rate")) or rate(video.get("r_frame_rate"))
        if fps is None or fps > max_fps + 0.01:
            problems.append(f"video frame rate {video.get('avg_frame_rate')}, expected at most {max_fps:g}")
    if audio:
        if not audios:
            problems.append("no audio stream")
        for track in audios:
            got = (track.get("codec_name"), track.get("channels"), track.get("sample_rate"))
            if got != ("aac", 2, "48000"):
                problems.append(f"audio {got[0]} {got[1]} ch {got[2]} Hz, expected aac 2 ch 48000 Hz")
    elif audios:
        problems.append(f"{len(audios)} audio streams where the source has none")
    if duration is not None:
        got_duration = float(info.get("format", {}).get("duration", "nan"))
        if not abs(got_duration - duration) <= duration_tolerance_s:
            problems.append(f"duration {got_duration:.3f} s, source {duration:.3f} s")
    return problems


# -- measuring pictures and sound --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureStats:
    luma: float  # mean YAVG over the frames, 8-bit code values
    saturation: float  # mean SATAVG
    frames: int


def picture_stats(media: Path, pre_filter: str = "null") -> PictureStats:
    """signalstats over every frame (after `pre_filter`): how bright and how colourful the picture is."""
    result = subprocess.run(
        [
            str(FFMPEG),
            *("-hide_banner", "-nostdin", "-v", "error", "-i", str(media)),
            *("-an", "-vf", f"{pre_filter},signalstats,metadata=print:file=-", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    luma = [float(v) for v in re.findall(r"lavfi\.signalstats\.YAVG=([\d.]+)", result.stdout)]
    sat = [float(v) for v in re.findall(r"lavfi\.signalstats\.SATAVG=([\d.]+)", result.stdout)]
    if not luma:
        raise AssertionError(f"no frames measured in {media}")
    return PictureStats(luma=sum(luma) / len(luma), saturation=sum(sat) / len(sat), frames=len(luma))


@dataclass(frozen=True)
class FieldStats:
    tff: int
    bff: int
    progressive: int

    @property
    def interlaced_share(self) -> float:
        total = self.tff + self.bff + self.progressive
        return (self.tff + self.bff) / total if total else 1.0


def field_stats(media: Path) -> FieldStats:
    """idet's multi-frame verdict: how many frames still show combing (interlaced fields) in the picture."""
    log = ffmpeg_log("-i", str(media), "-an", "-vf", "idet")
    found = re.search(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)", log)
    if found is None:
        raise AssertionError(f"idet reported nothing for {media}: {log[-400:]}")
    tff, bff, progressive = map(int, found.groups())
    return FieldStats(tff=tff, bff=bff, progressive=progressive)


def frame_times(media: Path) -> list[float]:
    """Presentation times of every video frame, in order."""
    frames = ffprobe_json(media, "-select_streams", "v:0", "-show_entries", "frame=pts_time")["frames"]
    return sorted(float(f["pts_time"]) for f in frames if f.get("pts_time") not in (None, "N/A"))


def first_bright_frame(media: Path, threshold: float = 100.0) -> float | None:
    """When the picture first turns bright (a flash on black), by the frame's presentation time."""
    result = subprocess.run(
        [
            str(FFMPEG),
            *("-hide_banner", "-nostdin", "-v", "error", "-i", str(media)),
            *("-an", "-vf", "signalstats,metadata=print:file=-", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    current: float | None = None
    for line in result.stdout.splitlines():
        frame = re.match(r"frame:\d+\s+pts:\S+\s+pts_time:([-\d.]+)", line)
        if frame:
            current = float(frame.group(1))
            continue
        luma = re.match(r"lavfi\.signalstats\.YAVG=([\d.]+)", line)
        if luma and current is not None and float(luma.group(1)) >= threshold:
            return current
    return None


def first_sound(media: Path, stream: str = "a:0") -> float | None:
    """When the first sound starts after silence (silencedetect's first silence_end), in the stream's time."""
    log = ffmpeg_log("-i", str(media), "-vn", "-map", f"0:{stream}", "-af", "silencedetect=noise=-40dB:d=0.05")
    ends = re.findall(r"silence_end: ([-\d.]+)", log)
    return float(ends[0]) if ends else None


def stream_info(media: Path, selector: str) -> list[dict[str, Any]]:
    streams: list[dict[str, Any]] = ffprobe_json(media, "-select_streams", selector, "-show_streams")["streams"]
    return streams


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], widths: Sequence[int] | None = None) -> str:
    """A plain fixed-width text table; cells longer than their column's width are cut with an ellipsis."""
    cols = len(headers)
    limits = list(widths) if widths else [10_000] * cols

    def cut(text: str, width: int) -> str:
        text = " ".join(text.split())
        return text if len(text) <= width else text[: max(1, width - 1)] + "…"

    cells = [[cut(str(c), limits[i]) for i, c in enumerate(row)] for row in [list(headers), *rows]]
    sizes = [max(len(row[i]) for row in cells) for i in range(cols)]
    lines = ["  ".join(cell.ljust(sizes[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * s for s in sizes))
    return "\n".join(lines)
