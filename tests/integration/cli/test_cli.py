"""`vodpipe` against the deployed stack on LocalStack: real presigned S3 parts, resume, the pipeline to COMPLETED.

The commands run as subprocesses (`python -m vodpipe.cli`), as a user runs them, with their own config dir.
Sources are made with the layer's ffmpeg: ~24 MiB of lossless noise, so 5 MiB parts give 5 of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vodpipe.client.api import ApiClient
from vodpipe.client.errors import UploadInterrupted
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadHooks, UploadRequest
from vodpipe.local.stack import LocalDeployment

ROOT = Path(__file__).resolve().parents[3]
FFMPEG = ROOT / "layers" / "ffmpeg" / "build" / "bin" / "ffmpeg"
MiB = 2**20
PART_MIB = 5
PIPELINE_TIMEOUT_S = 600

pytestmark = pytest.mark.skipif(not FFMPEG.is_file(), reason="ffmpeg layer not built (make setup)")


def noise_clip(path: Path, seed: int) -> Path:
    """70 frames of 640x360 lossless H.264 noise: ~24 MiB that no encoder can shrink, deterministic per seed."""
    subprocess.run(
        [
            str(FFMPEG),
            *("-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"),
            "-i",
            f"nullsrc=s=640x360:r=25,geq=lum='random({seed})*255':cb=128:cr=128",
            *("-frames:v", "70", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p"),
            str(path),
        ],
        check=True,
        timeout=120,
    )
    assert 20 * MiB < path.stat().st_size <= 25 * MiB  # exactly five 5 MiB parts
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def token(stack: LocalDeployment, aws_client: Callable[..., Any]) -> str:
    from vodpipe.local.users import create_token

    return create_token(aws_client("dynamodb"), stack.jobs_table, "cli-tests")


@pytest.fixture
def cli(stack: LocalDeployment, token: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = os.environ | {
        "VODPIPE_API_URL": stack.api_url,
        "VODPIPE_TOKEN": token,
        "VODPIPE_CONFIG_DIR": str(tmp_path / "config"),
    }

    def run(*args: str, timeout: float = PIPELINE_TIMEOUT_S + 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vodpipe.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def document(result: subprocess.CompletedProcess[str]) -> Any:
    """stdout is exactly one JSON document."""
    return json.loads(result.stdout)


def source_bytes(aws_client: Callable[..., Any], stack: LocalDeployment, key: str) -> bytes:
    body: bytes = aws_client("s3").get_object(Bucket=stack.uploads_bucket, Key=key)["Body"].read()
    return body


UPLOAD_OPTIONS = ("--part-size", str(PART_MIB), "--renditions", "360p", "--outputs", "hls")


def test_upload_in_5_mib_parts_is_byte_exact_and_the_job_completes(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    stack: LocalDeployment,
    aws_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    video = noise_clip(tmp_path / "noise.mp4", seed=1)

    uploaded = cli("upload", str(video), *UPLOAD_OPTIONS, "--parallel", "4", "--json")

    assert uploaded.returncode == 0, uploaded.stderr
    upload = document(uploaded)
    assert (upload["upload"]["part_count"], upload["upload"]["parts_uploaded"]) == (5, 5)
    job = upload["job"]
    assert job["status"] in ("QUEUED", "PROCESSING", "COMPLETED")
    assert sha256(source_bytes(aws_client, stack, job["source"]["key"])) == sha256(video.read_bytes())
    print(f"\nupload: {upload['upload']['throughput_mib_s']} MiB/s, {upload['upload']['seconds']} s")

    watched = cli("status", job["job_id"], "--watch", "--timeout", str(PIPELINE_TIMEOUT_S), "--json")

    assert watched.returncode == 0, watched.stderr
    # One JSON line per change the watch saw, the last one the final state.
    finished = json.loads(watched.stdout.splitlines()[-1])
    assert finished["status"] == "COMPLETED", finished
    assert finished["outputs"]["playback_url"].endswith(".m3u8")


def test_an_interrupted_upload_is_resumed_by_the_same_command(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    stack: LocalDeployment,
    token: str,
    aws_client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    video = noise_clip(tmp_path / "noise.mp4", seed=2)
    # The first run stops after two parts, as after Ctrl-C: the engine with a stop request, same config dir.
    stop = threading.Event()
    stored: list[int] = []

    def after_two(number: int) -> None:
        stored.append(number)
        if len(stored) == 2:
            stop.set()

    with ApiClient(stack.api_url, token) as api:
        store = ResumeStore(tmp_path / "config" / "uploads")
        first = Uploader(api, store, parallel=1, stop=stop, hooks=UploadHooks(on_part=after_two))
        with pytest.raises(UploadInterrupted) as interrupted:
            first.upload(video, UploadRequest(part_size=PART_MIB * MiB, renditions=("360p",), outputs=("hls",)))
        job_id = interrupted.value.job_id
        listing = api.list_parts(job_id)
    assert sorted(p.part_number for p in listing.parts) == [1, 2]  # what S3 holds, as the API reports it
    s3_parts = aws_client("s3").list_parts(
        Bucket=stack.uploads_bucket, Key=f"uploads/cli-tests/{job_id}/source", UploadId=listing.upload_id
    )
    assert [p["PartNumber"] for p in s3_parts.get("Parts", [])] == [1, 2]

    resumed = cli("upload", str(video), *UPLOAD_OPTIONS, "--wait", "--timeout", str(PIPELINE_TIMEOUT_S), "--json")

    assert resumed.returncode == 0, resumed.stderr
    result = document(resumed)
    assert result["job"]["job_id"] == job_id
    assert result["upload"]["resumed"] is True
    assert (result["upload"]["parts_skipped"], result["upload"]["parts_uploaded"]) == (2, 3)
    assert result["upload"]["bytes_uploaded"] == video.stat().st_size - 2 * PART_MIB * MiB
    assert sha256(source_bytes(aws_client, stack, result["job"]["source"]["key"])) == sha256(video.read_bytes())
    assert result["job"]["status"] == "COMPLETED"
    assert result["playback_url"] == result["job"]["outputs"]["playback_url"]


def test_job_commands_print_one_json_document(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    # Not a video: the upload succeeds and the pipeline's probe fails it, which gives a job to retry.
    fake = tmp_path / "not-a-video.mp4"
    fake.write_bytes(os.urandom(1 * MiB))

    failed = cli("upload", str(fake), "--wait", "--timeout", str(PIPELINE_TIMEOUT_S), "--json")

    assert failed.returncode == 4, failed.stderr
    job = document(failed)["job"]
    assert job["status"] == "FAILED"
    assert job["error_type"]
    assert f"job {job['job_id']} FAILED" in failed.stderr

    status = document(cli("status", job["job_id"], "--json"))
    assert status["status"] == "FAILED"
    events = document(cli("events", job["job_id"], "--json"))
    assert events["events"]
    listing = document(cli("jobs", "--status", "FAILED", "--limit", "50", "--json"))
    assert job["job_id"] in [j["job_id"] for j in listing["jobs"]]
    stats = document(cli("stats", "--window-hours", "1", "--json"))
    assert isinstance(stats, dict)
    retried = document(cli("retry", job["job_id"], "--json"))
    assert retried["status"] in ("QUEUED", "PROCESSING", "FAILED")
    assert retried["retry_count"] == 1

    missing = cli("status", "01JZZZZZZZZZZZZZZZZZZZZZZZ", "--json")
    assert missing.returncode == 1
    assert document(missing)["status"] == 404


def test_cancel_an_unfinished_upload(
    cli: Callable[..., subprocess.CompletedProcess[str]], stack: LocalDeployment, token: str, tmp_path: Path
) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(os.urandom(6 * MiB))
    stop = threading.Event()
    with ApiClient(stack.api_url, token) as api:
        uploader = Uploader(
            api,
            ResumeStore(tmp_path / "config" / "uploads"),
            parallel=1,
            stop=stop,
            hooks=UploadHooks(on_part=lambda n: stop.set()),
        )
        with pytest.raises(UploadInterrupted) as interrupted:
            uploader.upload(video, UploadRequest(part_size=PART_MIB * MiB))

    cancelled = cli("cancel", interrupted.value.job_id, "--json")

    assert cancelled.returncode == 0, cancelled.stderr
    assert document(cancelled)["status"] == "CANCELLED"
    assert ResumeStore(tmp_path / "config" / "uploads").records() == []


def small_clip(path: Path) -> Path:
    """3 s of 640x360 test card with a tone: a keyframe every second, so a fast clip has somewhere to start."""
    subprocess.run(
        [
            str(FFMPEG),
            *("-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=3"),
            *("-f", "lavfi", "-i", "sine=frequency=440:duration=3"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac"),
            *("-shortest", str(path)),
        ],
        check=True,
        timeout=120,
    )
    return path


def test_presets_a_preset_upload_its_download_a_clip_and_a_caption_from_the_command_line(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    presets = document(cli("presets", "--json"))
    assert {"web", "mobile", "vertical", "square", "archive", "audio"} <= {p["name"] for p in presets}

    video = small_clip(tmp_path / "card.mp4")
    options = ("--preset", "mobile", "--renditions", "360p", "--outputs", "hls,mp4", "--mp4", "360p")
    uploaded = cli("upload", str(video), *options, "--wait", "--timeout", str(PIPELINE_TIMEOUT_S), "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    job = document(uploaded)["job"]
    assert (job["status"], job["preset"]["name"], job["preset"]["version"]) == ("COMPLETED", "mobile", 1)

    names = [d["name"] for d in document(cli("downloads", job["job_id"], "--json"))]
    assert names == ["360p.mp4"]
    saved = document(cli("download", job["job_id"], "360p.mp4", "-o", str(tmp_path), "--json"))
    assert saved["path"] == str(tmp_path / "card-360p.mp4")
    assert Path(saved["path"]).read_bytes()[4:8] == b"ftyp"

    clip = cli("clip", job["job_id"], "--start", "1.2", "--end", "2.5", "--mode", "fast", "--wait", "--json")
    assert clip.returncode == 0, clip.stderr
    made = document(clip)
    assert (made["kind"], made["parent_job_id"], made["status"]) == ("clip", job["job_id"], "COMPLETED")
    assert made["outputs"]["clip"]["start_s"] == pytest.approx(1.0, abs=0.05)  # the keyframe before 1.2 s

    captions = tmp_path / "en.srt"
    captions.write_text("1\n00:00:00,500 --> 00:00:02,000\nHello <b>there</b>\n")
    added = cli("captions", "add", job["job_id"], str(captions), "--language", "en", "--json")
    assert added.returncode == 0, added.stderr
    caption = document(added)
    assert (caption["language"], caption["status"]) == ("en", "ready")
    listed = document(cli("captions", "list", job["job_id"], "--json"))
    assert [c["caption_id"] for c in listed["captions"]] == [caption["caption_id"]]
