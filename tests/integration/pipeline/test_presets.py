"""Presets on the deployed pipeline: each built-in makes the sizes and counts it promises, for each source shape
(landscape, portrait, anamorphic pixels); a deployer's preset from the context works; a download link saves the
file under its readable name.

Needs the session fixture `stack` (tests/deployment.py). The deployer's preset is in the test
deployment's settings (TEST_SETTINGS["presets"]).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import httpx
import pytest

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, OutputKind
from lambdas.storage.s3 import S3MediaStore
from tests.integration.conftest import TEST_SETTINGS
from tests.media_tools import LAYER_BIN, ffprobe_json
from tests.pipeline_jobs import Submitted as Run
from tests.pipeline_jobs import await_all, ffmpeg, outcome
from vodpipe.client.api import ApiClient
from vodpipe.client.downloads import file_name_from_disposition
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

OWNER = "presets-tester"
# The deployer's preset the test deployment's context holds.
CUSTOM_PRESET: dict[str, Any] = cast(list[dict[str, Any]], TEST_SETTINGS["presets"])[0]


@dataclass(frozen=True)
class Case:
    """One source through one preset, and what must come out: (rendition, width, height) largest first."""

    source: str
    request: UploadRequest
    sizes: tuple[tuple[str, int, int], ...]
    mp4s: tuple[str, ...]
    outputs: frozenset[OutputKind]


CASES: dict[str, Case] = {
    # A small landscape source: web keeps only what it fills (360p at its own 640x360); mp4 of that rung.
    "web-landscape": Case(
        "landscape", UploadRequest(preset="web"), (("360p", 640, 360),), ("360p",),
        frozenset({OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS}),
    ),
    # A 1080x1920 portrait fills both vertical frames: two rungs, an MP4 of each (asked by name).
    "vertical-portrait": Case(
        "portrait_hd", UploadRequest(preset="vertical", fit="crop", mp4_renditions=("1080x1920", "720x1280")),
        (("1080x1920", 1080, 1920), ("720x1280", 720, 1280)), ("1080x1920", "720x1280"),
        frozenset({OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS}),
    ),
    # A 640x360 landscape fills neither vertical frame: the smallest, 720x1280, letterboxed (black bars).
    "vertical-landscape-pad": Case(
        "landscape", UploadRequest(preset="vertical"), (("720x1280", 720, 1280),), ("720x1280",),
        frozenset({OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS}),
    ),
    # Anamorphic 480x360 at 4:3 pixels (shown 640x360) into a square, cropped: 720x720, square pixels.
    "square-anamorphic-crop": Case(
        "anamorphic", UploadRequest(preset="square", fit="crop", outputs=("hls",)), (("720x720", 720, 720),), (),
        frozenset({OutputKind.HLS}),
    ),
    # Archive: one MP4 at the source's own size (its CMAF stream, which the MP4 is remuxed from, is published too).
    "archive-landscape": Case(
        "landscape", UploadRequest(preset="archive"), (("360p", 640, 360),), ("360p",),
        frozenset({OutputKind.HLS, OutputKind.MP4}),
    ),
    # A 720p source through the light mobile ladder: its three rungs, streams and thumbnails only.
    "mobile-hd": Case(
        "landscape_hd", UploadRequest(preset="mobile"), (("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)),
        (), frozenset({OutputKind.HLS, OutputKind.THUMBNAILS}),
    ),
    # A 1080x1920 portrait fills both square frames, letterboxed left and right.
    "square-portrait-pad": Case(
        "portrait_hd", UploadRequest(preset="square", outputs=("hls",)),
        (("1080x1080", 1080, 1080), ("720x720", 720, 720)), (), frozenset({OutputKind.HLS}),
    ),
    # The audio preset on a video: the sound alone, as an M4A.
    "audio-of-a-video": Case("landscape", UploadRequest(preset="audio"), (), (), frozenset({OutputKind.AUDIO})),
    # The deployer's preset: a portrait source cropped into its one 320x180 frame.
    "custom-portrait": Case(
        "portrait", UploadRequest(preset="tiny-wide"), (("wide", 320, 180),), ("wide",),
        frozenset({OutputKind.HLS, OutputKind.MP4}),
    ),
}  # fmt: skip


def _source(out: Path, size: str, *, sar: str = "1") -> Path:
    """2 s of a moving test pattern with a tone; `sar`: the stored pixels' aspect."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration=2,setsar={sar}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30",
        "-c:a", "aac", "-b:a", "64k", "-shortest", str(out),
    )  # fmt: skip
    return out


def make_sources(folder: Path) -> dict[str, Path]:
    return {
        "landscape": _source(folder / "landscape.mp4", "640x360"),
        "landscape_hd": _source(folder / "landscape_hd.mp4", "1280x720"),
        "portrait": _source(folder / "portrait.mp4", "360x640"),
        "portrait_hd": _source(folder / "Été à Paris.mp4", "1080x1920"),  # a non-ASCII name for the download
        "anamorphic": _source(folder / "anamorphic.mp4", "480x360", sar="4/3"),
    }


@dataclass
class Finished:
    runs: dict[str, Run]
    jobs: dict[str, Job]
    repository: DynamoDBJobRepository
    api: ApiClient
    s3: Any
    bucket: str
    tmp: Path


@pytest.fixture(scope="module")
def finished(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Finished]:
    folder = tmp_path_factory.mktemp("preset-sources")
    sources = make_sources(folder)
    token = create_token(aws_client("dynamodb"), stack.jobs_table, OWNER)
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    runs: dict[str, Run] = {}
    with ApiClient(stack.api_url, token) as api:
        uploader = Uploader(api, ResumeStore(Path(tempfile.mkdtemp(prefix="vodpipe-resume-"))), parallel=1)
        for name, case in CASES.items():
            run = Run(name=name, source=sources[case.source])
            run.job_id = uploader.upload(run.source, case.request).job_id
            runs[name] = run
        pending = await_all(repository, runs, deadline_s=420, poll_s=2)
        jobs = {name: run.job for name, run in runs.items() if run.job is not None}
        assert not pending, {name: outcome(runs[name]) for name in pending}
        yield Finished(runs, jobs, repository, api, aws_client("s3"), stack.outputs_bucket, folder)
    store = S3MediaStore(aws_client("s3"))
    for run in runs.values():
        if run.job_id:
            store.delete_prefix(stack.uploads_bucket, f"uploads/{OWNER}/{run.job_id}/")
            store.delete_prefix(stack.outputs_bucket, keys.output_prefix(run.job_id))


def _fetch(done: Finished, key: str) -> Path:
    path = done.tmp / key.replace("/", "_")
    path.write_bytes(done.s3.get_object(Bucket=done.bucket, Key=key)["Body"].read())
    return path


def _video(path: Path) -> dict[str, Any]:
    (stream,) = [s for s in ffprobe_json(path, "-show_streams")["streams"] if s["codec_type"] == "video"]
    return cast(dict[str, Any], stream)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_preset_makes_the_sizes_and_files_it_promises(finished: Finished, name: str) -> None:
    case, job = CASES[name], finished.jobs[name]
    assert job.status is JobStatus.COMPLETED, outcome(finished.runs[name])
    assert job.preset is not None
    assert job.preset.name == (case.request.preset or "web")
    if name == "custom-portrait":
        assert job.preset.version == CUSTOM_PRESET["version"]  # the deployer's, as the context had it
    files = job.outputs.files if job.outputs else ()
    assert {f.kind for f in files} - {OutputKind.QUALITY, OutputKind.DASH} == case.outputs
    mp4s = {f.rendition: f for f in files if f.kind is OutputKind.MP4}
    assert tuple(mp4s) == case.mp4s
    for rendition, width, height in case.sizes:
        if OutputKind.HLS in case.outputs:
            stream = _video(_fetch(finished, keys.track_prefix(job.job_id, rendition) + keys.INIT_SEGMENT))
        else:
            stream = _video(_fetch(finished, mp4s[rendition].key))
        assert (stream["width"], stream["height"]) == (width, height), rendition
        assert stream.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1", "N/A"), rendition  # square pixels
    if OutputKind.HLS in case.outputs:
        master = _fetch(finished, keys.master_key(job.job_id)).read_text()
        shown = re.findall(r"RESOLUTION=(\d+x\d+)", master)
        assert shown == [f"{w}x{h}" for _, w, h in case.sizes]


@pytest.mark.parametrize("name", ["vertical-landscape-pad", "square-anamorphic-crop", "vertical-portrait"])
def test_box_rungs_are_scored_like_with_like(finished: Finished, name: str) -> None:
    # A padded rung scored with its bars, or a cropped one against the whole source, would score far lower.
    job = finished.jobs[name]
    scores = {q.rendition: q for q in (job.outputs.quality if job.outputs else ())}
    assert set(scores) == {rendition for rendition, _, _ in CASES[name].sizes}
    for quality in scores.values():
        assert quality.mean > (60 if quality.metric.value == "vmaf" else 0.85), quality


def _band_luma(path: Path, crop: str) -> float:
    """Mean luma of a band (a crop filter's w:h:x:y) of the file's frame 30 (1 s in)."""
    result = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-v", "error", "-i", str(path), "-vf",
         f"select=eq(n\\,30),crop={crop},signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-",
         "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, text=True, check=True, env={"GCONV_PATH": "/nonexistent"},
    )  # fmt: skip
    return float(re.findall(r"YAVG=(\S+)", result.stdout)[0])


def test_pad_letterboxes_the_picture_on_black(finished: Finished) -> None:
    job = finished.jobs["vertical-landscape-pad"]
    (mp4,) = [f for f in job.outputs.files if f.kind is OutputKind.MP4] if job.outputs else []
    path = _fetch(finished, mp4.key)
    # 640x360 fitted into 720 wide: 720x406 centred, 436 lines of black above and below.
    assert _band_luma(path, "720:400:0:0") < 20
    assert _band_luma(path, "720:400:0:880") < 20
    assert _band_luma(path, "720:300:0:490") > 40  # testsrc2's picture, not black


def test_a_download_link_saves_the_file_under_its_readable_name(finished: Finished) -> None:
    job = finished.jobs["vertical-portrait"]
    listing = finished.api.list_downloads(job.job_id)["downloads"]
    assert [d["name"] for d in listing] == ["1080x1920.mp4", "720x1280.mp4"]
    link = finished.api.get_download(job.job_id, "720x1280.mp4")
    assert link["file_name"] == "Été à Paris-720x1280.mp4"
    response = httpx.get(link["url"], timeout=60)
    assert response.status_code == 200, response.text[:300]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Ete a Paris-720x1280.mp4"')
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Été à Paris-720x1280.mp4"
    assert file_name_from_disposition(disposition) == "Été à Paris-720x1280.mp4"
    assert response.headers["content-type"] == "video/mp4"
    assert len(response.content) == link["size_bytes"]
    saved = finished.tmp / "saved.mp4"
    saved.write_bytes(response.content)
    assert (_video(saved)["width"], _video(saved)["height"]) == (720, 1280)
    # The signature covers the saved name: changing it is refused.
    tampered = link["url"].replace("response-content-disposition=attachment", "response-content-disposition=inline")
    assert httpx.get(tampered, timeout=60).status_code == 403


def test_presets_are_listed_with_the_deployers_own(finished: Finished) -> None:
    presets = {p["name"]: p for p in finished.api.list_presets()["presets"]}
    assert {"web", "mobile", "vertical", "square", "archive", "audio", "tiny-wide"} <= set(presets)
    assert [(r["width"], r["height"]) for r in presets["vertical"]["rungs"]] == [(1080, 1920), (720, 1280)]
    assert presets["tiny-wide"]["version"] == 3
    assert presets["tiny-wide"]["fit"] == "crop"
