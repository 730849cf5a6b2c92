"""MakeThumbnails on real ffmpeg: poster, stills, sprite sheet and a storyboard whose tiles lie inside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.probe import ProbeRequest, ThumbnailPlan, probe
from lambdas.pipeline.thumbnails import ThumbnailsRequest, make_thumbnails
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.media.conftest import LAYER_BIN
from tests.unit.pipeline.conftest import OUTPUTS, StartJob, needs_ffmpeg

pytestmark = needs_ffmpeg


def picture_size(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        [str(LAYER_BIN / "ffprobe"), "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(out.stdout)["streams"][0]
    return stream["width"], stream["height"]


def test_poster_stills_sprite_and_storyboard(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = start_job(clips["landscape"])
    plan = probe(ProbeRequest(job=JobRef(job_id=job.job_id)), repo, store, config)
    request = ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=plan.media, thumbnails=plan.thumbnails)
    result = make_thumbnails(request, repo, store, config)

    prefix = f"outputs/{job.job_id}/thumbnails/"
    assert result.poster is not None
    assert result.poster.key == prefix + "poster.jpg"
    assert [f.key for f in result.stills] == [prefix + f"thumb_{i:05d}.jpg" for i in range(3)]
    assert [f.key for f in result.sprites] == [prefix + "sprite_000.jpg"]
    assert result.storyboard is not None
    assert store.head(OUTPUTS, result.storyboard.key).content_type == "text/vtt"

    def fetch(key: str) -> Path:
        path = tmp_path / key.rsplit("/", 1)[1]
        path.write_bytes(store.read_bytes(OUTPUTS, key))
        return path

    assert picture_size(fetch(result.poster.key)) == (320, 240)  # never upscaled past the source
    assert all(picture_size(fetch(f.key)) == (320, 240) for f in result.stills)
    sheet_w, sheet_h = picture_size(fetch(result.sprites[0].key))
    assert (result.tile_width, result.tile_height) == (160, 120)
    assert (sheet_w, sheet_h) == (result.columns * 160, result.rows * 120)

    vtt = store.read_bytes(OUTPUTS, result.storyboard.key).decode()
    assert vtt.startswith("WEBVTT")
    cues = re.findall(r"(sprite_\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", vtt)
    assert len(cues) == 2
    for sheet, x, y, w, h in cues:
        assert sheet == "sprite_000.jpg"
        assert int(x) >= 0
        assert int(x) + int(w) <= sheet_w
        assert int(y) >= 0
        assert int(y) + int(h) <= sheet_h


def test_disabled_thumbnails_make_nothing(
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    clips: dict[str, Path],
    start_job: StartJob,
) -> None:
    job = start_job(clips["landscape"])
    plan = probe(ProbeRequest(job=JobRef(job_id=job.job_id)), repo, store, config)
    request = ThumbnailsRequest(
        job=JobRef(job_id=job.job_id), media=plan.media, thumbnails=ThumbnailPlan(enabled=False)
    )
    calls = len(store.calls)
    assert not make_thumbnails(request, repo, store, config).enabled
    assert len(store.calls) == calls


@needs_ffmpeg
def test_a_source_with_a_single_keyframe_still_gets_a_storyboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyframes-only decoding yields no tile for such a source; the service falls back to a full decode."""
    from lambdas.media.policy import ValidationPolicy
    from lambdas.media.probe import probe_source
    from lambdas.media.runner import run
    from lambdas.media.storyboard import plan_sprite
    from lambdas.pipeline.thumbnails import _sprite

    monkeypatch.setenv("PATH", f"{LAYER_BIN}:{os.environ['PATH']}")
    source = tmp_path / "source"
    lavfi = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=6"]
    one_gop = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "1000", "-pix_fmt", "yuv420p", "-f", "mp4"]
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-v", "error", "-y", *lavfi, *one_gop, str(source)], check=True)
    policy = ValidationPolicy()
    info = probe_source(source, policy.format_whitelist)
    out = tmp_path / "out"
    out.mkdir()
    plan = plan_sprite(info, interval=1.0)
    sheets = _sprite(run, source, info, policy=policy, plan=plan, out=out, cwd=tmp_path, timeout=60)
    assert [p.name for p in sheets] == ["sprite_000.jpg"]


def test_a_part_that_fails_is_left_out_and_named_in_the_warnings(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    """The stills' ffmpeg fails (as the JPEG encoder once did on a 400x170 MPEG-TS); poster and storyboard stay."""
    from lambdas.media.errors import TranscodeFailed
    from lambdas.media.runner import RunResult, run

    def stills_fail(argv: list[str], **options: object) -> RunResult:
        if any("thumb_00000.jpg" in arg for arg in argv):
            raise TranscodeFailed(
                "Processing the video failed. ffmpeg said: [mjpeg] Non full-range YUV is non-standard"
            )
        return run(argv, **options)  # type: ignore[arg-type]

    job = start_job(clips["landscape"])
    plan = probe(ProbeRequest(job=JobRef(job_id=job.job_id)), repo, store, config)
    request = ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=plan.media, thumbnails=plan.thumbnails)
    result = make_thumbnails(request, repo, store, config, run=stills_fail)

    assert result.enabled
    assert result.poster is not None
    assert result.storyboard is not None
    assert result.sprites
    assert result.stills == ()
    assert result.all_warnings == (
        "Stills missing: Processing the video failed. ffmpeg said: [mjpeg] Non full-range YUV is non-standard",
    )
    assert all(store.head(OUTPUTS, f.key).size == f.size_bytes for f in result.files)


def test_a_run_that_writes_no_picture_is_a_warning_and_the_poster_falls_back_to_the_first_frame(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
) -> None:
    """ffmpeg exits 0 with "Output file is empty" when an input seek lands past every frame (MPEG-TS)."""
    from lambdas.media.runner import RunResult, run

    def seeks_find_nothing(argv: list[str], **options: object) -> RunResult:
        seeking = "-ss" in argv and argv[argv.index("-ss") + 1] != "0.000"
        if seeking and any(arg.endswith(".jpg") and "sprite" not in arg for arg in argv):
            return run(["true"], **options)  # type: ignore[arg-type]
        return run(argv, **options)  # type: ignore[arg-type]

    job = start_job(clips["landscape"])
    plan = probe(ProbeRequest(job=JobRef(job_id=job.job_id)), repo, store, config)
    request = ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=plan.media, thumbnails=plan.thumbnails)
    result = make_thumbnails(request, repo, store, config, run=seeks_find_nothing)

    assert result.poster is not None  # from the first frame
    assert result.storyboard is not None
    assert result.all_warnings == (
        "Stills missing: ffmpeg wrote no picture for thumb_00000.jpg, thumb_00001.jpg, thumb_00002.jpg.",
    )
