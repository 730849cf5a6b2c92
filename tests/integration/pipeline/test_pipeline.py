"""The whole pipeline on the deployed local stack: real uploads, real ffmpeg, the job record at the end.

Needs the session fixture `stack` (tests/deployment.py): the deployed stack's outputs
(UploadsBucketName, OutputsBucketName, JobsTableName, StateMachineArn, ...). Every source is made here
with the layer's ffmpeg, uploaded at once, and the jobs are awaited together.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import m3u8
import pytest
from botocore.config import Config

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, new_job_id
from lambdas.jobs.ports import JobNotFound
from lambdas.storage.s3 import S3MediaStore
from tests.media_tools import ffprobe_json as ffprobe
from tests.pipeline_jobs import Outputs
from vodpipe.local.stack import LocalDeployment

ROOT = Path(__file__).resolve().parents[3]
LAYER_BIN = ROOT / "layers" / "ffmpeg" / "build" / "bin"
OWNER = "it-pipeline"
PART_SIZE = 5 * 1024 * 1024
DEADLINE_S = 600
LADDER = ["1080p", "720p", "480p", "360p"]

pytestmark = pytest.mark.skipif(not (LAYER_BIN / "ffmpeg").is_file(), reason="ffmpeg layer not built")


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=300)


def clip(out: Path, size: str, seconds: float, *, audio: bool = True, extra: tuple[str, ...] = ()) -> Path:
    argv = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        argv += ["-c:a", "aac", "-ac", "2"]
    ffmpeg(*argv, "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", *extra, str(out))
    return out


def make_sources(d: Path) -> dict[str, Path]:
    """Every kind of upload the pipeline must handle, or refuse readably."""
    hd = clip(d / "hd.mp4", "1920x1080", 10)
    portrait = clip(d / "portrait.mp4", "720x1280", 3)
    landscape = clip(d / "landscape.mp4", "1280x720", 3)
    rotated = d / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(landscape), "-c", "copy", str(rotated))
    small = clip(d / "small.mp4", "640x360", 3)
    silent = clip(d / "silent.mp4", "640x360", 3, audio=False)
    audio_only = d / "audio.m4a"
    ffmpeg("-i", str(small), "-vn", "-c:a", "copy", str(audio_only))
    truncated = d / "truncated.mp4"
    data = small.read_bytes()
    truncated.write_bytes(data[: len(data) * 6 // 10])
    playlist = d / "playlist.mp4"
    playlist.write_bytes(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n")
    return {
        "hd": hd,
        "portrait": portrait,
        "rotated": rotated,
        "small": small,
        "silent": silent,
        "audio_only": audio_only,
        "truncated": truncated,
        "playlist": playlist,
    }


def presigned_multipart_upload(s3: Any, presigner: Any, bucket: str, key: str, source: Path) -> None:
    """As a browser does it: presigned part URLs, plain HTTP PUTs, ETags from the responses."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    data = source.read_bytes()
    for number, start in enumerate(range(0, max(len(data), 1), PART_SIZE), start=1):
        url = presigner.generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
            ExpiresIn=600,
        )
        request = urllib.request.Request(url, data=data[start : start + PART_SIZE], method="PUT")
        with urllib.request.urlopen(request, timeout=60) as response:
            parts.append({"PartNumber": number, "ETag": response.headers["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})


@dataclass
class Run:
    source: Path
    job_id: str
    key: str
    job: Job | None = None
    progress: list[int] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    outputs: dict[str, str]
    s3: Any
    sfn: Any
    dynamodb: Any
    repository: DynamoDBJobRepository
    lambda_: Any
    runs: dict[str, Run]
    tmp: Path

    @property
    def outputs_bucket(self) -> str:
        return self.outputs["OutputsBucketName"]

    def text(self, key: str) -> str:
        body: bytes = self.s3.get_object(Bucket=self.outputs_bucket, Key=key)["Body"].read()
        return body.decode()

    def fetch(self, key: str) -> Path:
        path = self.tmp / key.replace("/", "_")
        path.write_bytes(self.s3.get_object(Bucket=self.outputs_bucket, Key=key)["Body"].read())
        return path

    def master(self, name: str) -> list[tuple[str, str]]:
        """(STREAM-INF attributes, uri) of each variant in a run's master playlist."""
        run = self.runs[name]
        lines = self.text(keys.master_key(run.job_id)).splitlines()
        return [(line, lines[i + 1]) for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")]

    def durations(self, name: str, uri: str) -> list[float]:
        playlist = self.text(keys.stream_prefix(self.runs[name].job_id) + uri)
        return [float(m) for m in re.findall(r"#EXTINF:([\d.]+),", playlist)]


def _stack_outputs(stack: LocalDeployment) -> dict[str, str]:
    """Every stack's outputs in one dict."""
    return {name: value for outputs in stack.raw.values() for name, value in outputs.items()}


@pytest.fixture(scope="module")
def pipeline(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    outputs = _stack_outputs(stack)
    s3, sfn = aws_client("s3"), aws_client("stepfunctions")
    presigner = aws_client("s3", config=Config(signature_version="s3v4"))
    dynamodb = aws_client("dynamodb")
    repository = DynamoDBJobRepository(dynamodb, outputs["JobsTableName"])
    sources = make_sources(tmp_path_factory.mktemp("sources"))
    uploads = outputs["UploadsBucketName"]
    runs: dict[str, Run] = {}
    for name, source in sources.items():
        job_id = new_job_id()
        runs[name] = Run(source=source, job_id=job_id, key=f"uploads/{OWNER}/{job_id}/source")
        presigned_multipart_upload(s3, presigner, uploads, runs[name].key, source)

    # All jobs at once, polled together: monotonic progress is checked on what the API would show.
    deadline = time.monotonic() + DEADLINE_S
    pending = set(runs)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            run = runs[name]
            try:
                job = repository.get(run.job_id)
            except JobNotFound:
                continue  # the event is still on its way
            run.progress.append(job.progress)
            if not run.steps or run.steps[-1] != job.current_step:
                run.steps.append(str(job.current_step))
            if job.status.terminal:
                run.job = job
                pending.discard(name)
        time.sleep(0.5)
    assert not pending, f"jobs not finished after {DEADLINE_S} s: {sorted(pending)}"

    yield Pipeline(
        outputs, s3, sfn, dynamodb, repository, aws_client("lambda"), runs, tmp_path_factory.mktemp("fetched")
    )

    store = S3MediaStore(s3)
    for run in runs.values():
        store.delete_prefix(uploads, f"uploads/{OWNER}/{run.job_id}/")
        store.delete_prefix(outputs["OutputsBucketName"], f"outputs/{run.job_id}/")


def completed(pipeline: Pipeline, name: str) -> Job:
    job = pipeline.runs[name].job
    assert job is not None
    assert job.status is JobStatus.COMPLETED, (job.error_type, job.error_message)
    return job


def test_1080p_source_gets_the_full_ladder(pipeline: Pipeline) -> None:
    job = completed(pipeline, "hd")
    variants = pipeline.master("hd")
    assert [uri for _, uri in variants] == [f"{name}/index.m3u8" for name in LADDER]
    for attributes, _ in variants:
        for name in ("BANDWIDTH=", "AVERAGE-BANDWIDTH=", "RESOLUTION=", "CODECS=", "FRAME-RATE="):
            assert name in attributes
        assert "mp4a.40.2" in attributes  # audio present in every rung
    resolutions = [re.search(r"RESOLUTION=(\d+x\d+)", a)[1] for a, _ in variants]  # type: ignore[index]
    assert resolutions == ["1920x1080", "1280x720", "854x480", "640x360"]

    source_duration = float(ffprobe(pipeline.runs["hd"].source, "-show_format")["format"]["duration"])
    boundaries = [pipeline.durations("hd", uri) for _, uri in variants]
    for durations in boundaries:
        assert sum(durations) == pytest.approx(source_duration, abs=0.1)
    assert all(d == boundaries[0] for d in boundaries)  # identical segment grid across rungs

    assert job.outputs is not None
    assert job.outputs.playback_url is not None
    assert job.outputs.playback_url.endswith(f"/{keys.master_key(job.job_id)}")
    assert job.outputs.dash_url is not None
    assert job.outputs.dash_url.endswith(f"/{keys.dash_key(job.job_id)}")
    assert job.progress == 100


def test_thumbnails_and_sprite_sizes(pipeline: Pipeline) -> None:
    job = completed(pipeline, "hd")
    prefix = f"outputs/{job.job_id}/thumbnails/"
    poster = ffprobe(pipeline.fetch(prefix + "poster.jpg"), "-show_streams")["streams"][0]
    assert (poster["width"], poster["height"]) == (1280, 720)
    still = ffprobe(pipeline.fetch(prefix + "thumb_00000.jpg"), "-show_streams")["streams"][0]
    assert (still["width"], still["height"]) == (640, 360)
    sheet = ffprobe(pipeline.fetch(prefix + "sprite_000.jpg"), "-show_streams")["streams"][0]
    assert (sheet["width"], sheet["height"]) == (10 * 160, 1 * 90)  # 10 s, a tile a second
    vtt = pipeline.text(prefix + "storyboard.vtt")
    assert vtt.count("#xywh=") == 10
    for sheet_name, x, y, w, h in re.findall(r"(sprite_\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)", vtt):
        assert sheet_name == "sprite_000.jpg"
        assert int(x) + int(w) <= sheet["width"]
        assert int(y) + int(h) <= sheet["height"]


@pytest.mark.parametrize("name", ["portrait", "rotated"])
def test_portrait_and_rotated_sources_get_portrait_rungs(pipeline: Pipeline, name: str) -> None:
    completed(pipeline, name)
    variants = pipeline.master(name)
    assert [uri for _, uri in variants] == ["720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
    for attributes, _ in variants:
        width, height = map(int, re.search(r"RESOLUTION=(\d+)x(\d+)", attributes).groups())  # type: ignore[union-attr]
        assert width < height
        # No padding: the rung keeps the 9:16 display shape of the (rotated) source.
        assert width / height == pytest.approx(9 / 16, rel=0.01)


def test_small_source_is_never_upscaled(pipeline: Pipeline) -> None:
    completed(pipeline, "small")
    assert [uri for _, uri in pipeline.master("small")] == ["360p/index.m3u8"]


def test_source_without_audio(pipeline: Pipeline) -> None:
    completed(pipeline, "silent")
    (attributes, _uri), *_ = pipeline.master("silent")
    assert "mp4a" not in attributes


@pytest.mark.parametrize(
    ("name", "error_type", "reason"),
    [
        ("audio_only", "NoVideoStream", "no video stream"),
        ("truncated", "SourceUnreadable", "truncated or corrupt"),
        ("playlist", "UnsupportedInput", "playlists"),
    ],
)
def test_bad_sources_fail_readably(pipeline: Pipeline, name: str, error_type: str, reason: str) -> None:
    job = pipeline.runs[name].job
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error_type == error_type
    assert job.error_message is not None
    assert reason in job.error_message
    assert not job.error_message.lstrip().startswith("{")  # the reason, not the raw Cause document
    # MarkFailed gave the record its TTL (90 days from the start of processing), so failed jobs expire too.
    item = pipeline.dynamodb.get_item(
        TableName=pipeline.outputs["JobsTableName"], Key={"pk": {"S": f"JOB#{job.job_id}"}, "sk": {"S": "JOB"}}
    )["Item"]
    assert job.started_at is not None
    retained = int(item["expires_at"]["N"]) - job.started_at.timestamp()
    assert 90 * 86400 - 60 < retained < 90 * 86400 + 60
    # The upload is kept (for support and a retry); nothing was published.
    pipeline.s3.head_object(Bucket=pipeline.outputs["UploadsBucketName"], Key=pipeline.runs[name].key)
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.outputs_bucket, Prefix=keys.master_key(job.job_id))
    assert listed.get("KeyCount", 0) == 0


def test_a_redelivered_upload_event_leaves_one_job_and_one_execution(pipeline: Pipeline) -> None:
    """EventBridge delivers at least once: the scheduler gets the same upload event twice more."""
    run = pipeline.runs["small"]
    before = completed(pipeline, "small")
    machine = pipeline.outputs["StateMachineArn"]

    def executions() -> list[dict[str, Any]]:
        listed = pipeline.sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]
        return [e for e in listed if e["name"].startswith(f"{run.job_id}-")]

    (original,) = executions()
    assert original["name"] == f"{run.job_id}-a0"  # one execution per attempt, named by the admission
    event = {
        "version": "0", "id": "redelivered", "detail-type": "Object Created", "source": "aws.s3",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"version": "0", "bucket": {"name": pipeline.outputs["UploadsBucketName"]},
                   "object": {"key": run.key, "size": 1, "etag": "x", "sequencer": "01"},
                   "request-id": "r", "requester": "r", "reason": "CompleteMultipartUpload"},
    }  # fmt: skip
    for _ in range(2):
        response = pipeline.lambda_.invoke(
            FunctionName=pipeline.outputs["SchedulerFunction"], Payload=json.dumps(event)
        )
        assert "FunctionError" not in response, response["Payload"].read()
    assert [e["executionArn"] for e in executions()] == [original["executionArn"]]
    after = pipeline.repository.get(run.job_id)
    assert (after.status, after.version, after.execution_arn) == (before.status, before.version, before.execution_arn)
    jobs, _ = pipeline.repository.list_for_owner(OWNER, limit=100)
    assert len([j for j in jobs if j.source.key == run.key]) == 1


def test_a_duplicate_reaching_the_workflow_itself_is_a_no_op(pipeline: Pipeline) -> None:
    """Second line of defence: RegisterJob checks the execution is the one the admission named."""
    run = pipeline.runs["silent"]
    before = completed(pipeline, "silent")
    (original,) = [
        e
        for e in pipeline.sfn.list_executions(stateMachineArn=pipeline.outputs["StateMachineArn"], maxResults=1000)[
            "executions"
        ]
        if e["name"].startswith(f"{run.job_id}-")
    ]
    event = pipeline.sfn.describe_execution(executionArn=original["executionArn"])["input"]
    arn = pipeline.sfn.start_execution(stateMachineArn=pipeline.outputs["StateMachineArn"], input=event)["executionArn"]
    deadline = time.monotonic() + 60
    status = "RUNNING"
    while status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.3)
        status = pipeline.sfn.describe_execution(executionArn=arn)["status"]
    assert status == "SUCCEEDED"  # AlreadyRegistered
    after = pipeline.repository.get(run.job_id)
    assert (after.status, after.version, after.execution_arn) == (before.status, before.version, before.execution_arn)


def test_progress_only_rises(pipeline: Pipeline) -> None:
    for name, run in pipeline.runs.items():
        assert run.progress == sorted(run.progress), name
    assert pipeline.runs["hd"].progress[-1] == 100
    assert len(set(pipeline.runs["hd"].progress)) >= 3  # seen moving, not only 0 and 100


def test_current_step_names_the_stage(pipeline: Pipeline) -> None:
    # Transcode and thumbnails run side by side, so they share a rank.
    rank = {"registered": 0, "probe": 1, "validate": 1, "plan": 1, "transcode": 2, "thumbnails": 2}
    rank |= {"package": 3, "publish": 4}
    steps = pipeline.runs["hd"].steps
    ranks = [rank[s] for s in steps]
    assert ranks == sorted(ranks), steps
    assert steps[-1] == "publish", steps
    assert len(set(ranks)) >= 3, steps  # seen on its way, not only at the end


def _track_file(pipeline: Pipeline, name: str, track: str) -> tuple[Path, list[str]]:
    """A track's init segment and media segments concatenated into one playable fMP4, and the segment names."""
    job_id = pipeline.runs[name].job_id
    whole = Outputs(s3=pipeline.s3, bucket=pipeline.outputs_bucket, tmp=pipeline.tmp).track(job_id, track)
    playlist = m3u8.loads(pipeline.text(keys.track_prefix(job_id, track) + keys.MEDIA_PLAYLIST))
    return whole, [segment.uri for segment in playlist.segments]


def test_every_segment_starts_on_a_keyframe_and_audio_stays_in_sync(pipeline: Pipeline) -> None:
    completed(pipeline, "hd")
    audio_file, _ = _track_file(pipeline, "hd", keys.AUDIO_TRACK)
    audio = ffprobe(audio_file, "-select_streams", "a:0", "-show_entries", "packet=pts_time,duration_time")["packets"]
    audio_start = float(audio[0]["pts_time"])
    audio_end = float(audio[-1]["pts_time"]) + float(audio[-1]["duration_time"])
    for rung in LADDER:
        whole, segments = _track_file(pipeline, "hd", rung)
        durations = pipeline.durations("hd", f"{rung}/{keys.MEDIA_PLAYLIST}")
        frames = ffprobe(whole, "-select_streams", "v:0", "-show_entries", "frame=pts_time,key_frame")["frames"]
        first = float(frames[0]["pts_time"])  # B-frame composition offset: the grid starts here
        keyframe_times = [float(f["pts_time"]) - first for f in frames if f["key_frame"] == 1]
        starts = [sum(durations[:i]) for i in range(len(segments))]
        for start in starts:
            assert any(abs(start - t) < 0.02 for t in keyframe_times), (rung, start, keyframe_times)
        kinds = {s["codec_type"] for s in ffprobe(whole, "-show_streams")["streams"]}
        assert kinds == {"video"}, rung  # audio is its own track, shared by every rung
        video_end = float(frames[-1]["pts_time"]) + 1 / 30
        # In sync: both tracks start together and end together (within 0.1 s).
        assert abs(audio_start - first) < 0.1, (rung, audio_start, first)
        assert abs(audio_end - video_end) < 0.1, (rung, audio_end, video_end)


def test_the_mp4_fallback_plays(pipeline: Pipeline) -> None:
    job = completed(pipeline, "hd")
    assert job.outputs is not None
    mp4 = [
        k
        for k in pipeline.s3.list_objects_v2(Bucket=pipeline.outputs_bucket, Prefix=f"outputs/{job.job_id}/mp4/")[
            "Contents"
        ]
    ]
    (key,) = [o["Key"] for o in mp4]
    info = ffprobe(pipeline.fetch(key), "-show_streams", "-show_format")
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    assert float(info["format"]["duration"]) == pytest.approx(10.0, abs=0.1)
