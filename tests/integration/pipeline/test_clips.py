"""Clips on the deployed pipeline: POST /jobs/{id}/clips exact and fast on a source whose frames carry their own
index, the ranges refused (422 naming the field, 404, 409), and an upload's clip past the real duration.

Needs the session fixture `stack` (tests/deployment.py). One parent job, two clips of it and one
clip-only upload, all awaited together (a few seconds of 320x180 each).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import ClipMode, Job, JobKind, JobStatus, OutputKind
from lambdas.storage.s3 import S3MediaStore
from tests.frame_index import frame_indices, make_indexed_source
from tests.media_tools import LAYER_BIN, ffprobe_json
from tests.pipeline_jobs import Submitted, await_all, outcome
from vodpipe.client.api import ApiClient
from vodpipe.client.clips import ClipRequest, create_clip
from vodpipe.client.errors import ApiError
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")

OWNER, STRANGER = "clips-tester", "clips-stranger"
RATE = 24
SECONDS = 4
START, END = 1.3, 2.8  # frame 31.2 .. 67.2: exact shows frames 31 .. 66 or 67; fast starts on the keyframe at 1 s


@dataclass
class Clips:
    jobs: dict[str, Job]
    runs: dict[str, Submitted]
    api: ApiClient
    stranger: ApiClient
    parent_id: str
    s3: Any
    bucket: str
    tmp: Path

    def fetch(self, key: str) -> Path:
        path = self.tmp / key.replace("/", "_")
        path.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        return path


def _probed(repository: DynamoDBJobRepository, job_id: str, deadline_s: float = 180) -> Job:
    """The job once ProbeSource has recorded its source's length (what a clip is checked against)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        job = repository.get(job_id)
        if job.source_duration_s is not None or job.status.terminal:
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} was not probed within {deadline_s} s")


@pytest.fixture(scope="module")
def clips(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clips]:
    tmp = tmp_path_factory.mktemp("clips")
    source = make_indexed_source(tmp / "indexed.mp4", seconds=SECONDS, rate=str(RATE), gop=RATE)
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    token = create_token(aws_client("dynamodb"), stack.jobs_table, OWNER)
    other = create_token(aws_client("dynamodb"), stack.jobs_table, STRANGER)
    runs: dict[str, Submitted] = {}
    with ApiClient(stack.api_url, token) as api, ApiClient(stack.api_url, other) as stranger:
        uploader = Uploader(api, ResumeStore(Path(tempfile.mkdtemp(prefix="vodpipe-resume-"))), parallel=1)
        parent = uploader.upload(source, UploadRequest(outputs=("hls", "mp4"))).job_id
        runs["parent"] = Submitted(name="parent", source=source, job_id=parent)
        # A clip-only upload past the source's real length: only the probe can tell.
        past = uploader.upload(source, UploadRequest(clip={"start_s": 2.0, "end_s": 9.0})).job_id
        runs["past"] = Submitted(name="past", source=source, job_id=past)
        assert _probed(repository, parent).source_duration_s is not None
        requests = {
            "exact": ClipRequest(start_s=START, end_s=END, outputs=("mp4",)),
            "fast": ClipRequest(start_s=START, end_s=END, mode="fast"),
        }
        for name, request in requests.items():
            runs[name] = Submitted(name=name, source=source, job_id=create_clip(api, parent, request)["job_id"])
        pending = await_all(repository, runs, deadline_s=300, poll_s=1)
        jobs = {name: run.job for name, run in runs.items() if run.job is not None}
        assert not pending, {name: outcome(runs[name]) for name in pending}
        yield Clips(jobs, runs, api, stranger, parent, aws_client("s3"), stack.outputs_bucket, tmp)
    store = S3MediaStore(aws_client("s3"))
    for run in runs.values():
        if run.job_id:
            store.delete_prefix(stack.outputs_bucket, keys.output_prefix(run.job_id))
    store.delete_prefix(stack.uploads_bucket, f"uploads/{OWNER}/")


def test_an_exact_clip_starts_and_ends_on_the_requested_frames(clips: Clips) -> None:
    job = clips.jobs["exact"]
    assert job.status is JobStatus.COMPLETED, outcome(clips.runs["exact"])
    assert (job.kind, job.parent_job_id) == (JobKind.CLIP, clips.parent_id)
    assert job.outputs is not None
    assert job.outputs.clip is not None
    assert job.outputs.clip.mode is ClipMode.EXACT
    (mp4,) = [f for f in job.outputs.files if f.kind is OutputKind.MP4]
    path = clips.fetch(mp4.key)
    frames = frame_indices(path)
    first, last = round(START * RATE), round(END * RATE) - 1  # frames 31 and 66 of [1.3, 2.8) at 24 fps
    print(f"\nexact clip [{START}, {END}): frames {frames[0]}..{frames[-1]} ({len(frames)}); asked {first}..{last}")
    assert abs(frames[0] - first) <= 1, frames[:5]
    assert abs(frames[-1] - last) <= 1, frames[-5:]
    assert frames == list(range(frames[0], frames[0] + len(frames)))  # every frame once, in order
    (video,) = [s for s in ffprobe_json(path, "-show_streams")["streams"] if s["codec_type"] == "video"]
    assert abs(float(video["duration"]) - (END - START)) <= 1 / RATE + 1e-3  # duration within a frame
    assert job.outputs.clip.duration_s == pytest.approx(END - START, abs=1 / RATE)


def test_a_fast_clip_starts_on_the_keyframe_it_reports(clips: Clips) -> None:
    job = clips.jobs["fast"]
    assert job.status is JobStatus.COMPLETED, outcome(clips.runs["fast"])
    assert job.outputs is not None
    made = job.outputs.clip
    assert made is not None
    assert made.mode is ClipMode.FAST
    assert made.start_s == pytest.approx(1.0)  # keyframes every second: the one at or before 1.3 s
    assert made.start_shift_s == pytest.approx(START - made.start_s)
    assert made.file_key is not None
    (file,) = job.outputs.files
    assert file.key == made.file_key
    frames = frame_indices(clips.fetch(made.file_key))
    assert frames[0] == round(made.start_s * RATE)  # the picture starts on that keyframe, frame 24
    print(f"\nfast clip from {START} s: starts {made.start_s} s (frame {frames[0]}), {made.start_shift_s:.3f} s early")
    assert frames == list(range(frames[0], frames[0] + len(frames)))
    assert job.outputs.playback_url is None  # one copied file, no streams


def test_an_uploads_clip_past_the_real_duration_fails_saying_why(clips: Clips) -> None:
    job = clips.jobs["past"]
    assert job.status is JobStatus.FAILED
    assert job.error_type == "PolicyViolation"
    assert job.error_message is not None
    assert "end_s" in job.error_message
    assert "long" in job.error_message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_s": 2, "end_s": 2}, "end_s"),  # end <= start
        ({"start_s": 2, "end_s": 2.05}, "end_s"),  # shorter than 0.1 s
        ({"start_s": 2, "end_s": SECONDS + 1}, "end_s"),  # past the duration
        ({"start_s": 0, "end_s": 601}, "end_s"),  # longer than max_clip_seconds (600)
        ({"start_s": 1, "end_s": 2, "mode": "fast", "outputs": ["hls"]}, "outputs"),
    ],
)
def test_a_bad_range_is_a_422_naming_the_field(clips: Clips, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as refused:
        clips.api.create_clip(clips.parent_id, body)
    assert (refused.value.status, refused.value.field) == (422, field), refused.value


def test_another_owners_job_cannot_be_clipped(clips: Clips) -> None:
    with pytest.raises(ApiError) as refused:
        clips.stranger.create_clip(clips.parent_id, {"start_s": 1, "end_s": 2})
    assert refused.value.status == 404


def test_a_job_not_probed_yet_cannot_be_clipped(clips: Clips) -> None:
    created = clips.api.create_upload(file_name="later.mp4", size=1000)
    with pytest.raises(ApiError) as refused:
        clips.api.create_clip(created.job["job_id"], {"start_s": 1, "end_s": 2})
    assert refused.value.status == 409
    clips.api.abort_upload(created.job["job_id"])
