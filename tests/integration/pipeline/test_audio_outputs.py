"""Audio outputs on the deployed pipeline: a video's downloads (M4A, MP3, 16 kHz WAV) probe with the promised codec,
rate and channels and are normalised to -16 LUFS when asked; an MP3 upload asking for audio completes with its
files and no manifests; an MP3 asking for HLS is refused; `audio.ready` reaches a rule on the bus, naming the files,
before the job completes.

Needs the session fixture `stack` (tests/deployment.py). Two 3 s sources, one module-scoped run.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import Job, JobStatus, OutputKind
from lambdas.media.audio_files import DEFAULT_TARGET
from lambdas.storage.s3 import S3MediaStore
from tests.media_tools import LAYER_BIN, ffprobe_json
from tests.pipeline_jobs import Submitted as Run
from tests.pipeline_jobs import await_all, ffmpeg, outcome
from vodpipe.client.api import ApiClient
from vodpipe.client.errors import ApiError
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

SECONDS = 3
A, MP3, WAV = OutputKind.AUDIO, OutputKind.MP3, OutputKind.WAV16K
PROMISED = {
    A: ("aac", "LC", 48000, 2, "mov,mp4,m4a,3gp,3g2,mj2"),
    MP3: ("mp3", None, 44100, 2, "mp3"),  # the source's 44.1 kHz kept
    WAV: ("pcm_s16le", None, 16000, 1, "wav"),
}


# The meter reads every file as a stereo mix (a float downmix, as the stereo downloads are made from).
METER = ("-af", "aformat=channel_layouts=stereo,ebur128=framelog=quiet", "-f", "null", "-")


def integrated_lufs(path: Path) -> float:
    """An independent meter (ebur128, BS.1770-4), not the loudnorm that made the file."""
    log = subprocess.run(
        [str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-i", str(path), *METER],
        capture_output=True,
        text=True,
        check=True,
        env={"GCONV_PATH": "/nonexistent"},
    ).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", log)[-1])


def make_sources(folder: Path) -> dict[str, Path]:
    # Quiet programme-like sound (pink noise under a tone, about -35 LUFS) in 5.1 at 44.1 kHz behind a picture,
    # and a 44.1 kHz stereo MP3 song at about -28 LUFS.
    sound = (
        f"anoisesrc=r=44100:d={SECONDS}:a=0.05:color=pink:seed=5[n];sine=f=330:r=44100:d={SECONDS}[t];"
        "[n][t]amix=inputs=2:normalize=0,volume=-12dB"
    )
    talk = folder / "talk.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={SECONDS}",
        "-filter_complex", f"{sound},aformat=channel_layouts=5.1[a]", "-map", "0:v", "-map", "[a]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
        "-c:a", "aac", "-b:a", "192k", str(talk),
    )  # fmt: skip
    song = folder / "song.mp3"
    ffmpeg("-filter_complex", f"{sound},volume=6dB,aformat=channel_layouts=stereo[a]", "-map", "[a]",
           "-c:a", "libmp3lame", "-b:a", "128k", str(song))  # fmt: skip
    return {"talk": talk, "song": song}


@dataclass
class Finished:
    runs: dict[str, Run]
    jobs: dict[str, Job]
    sources: dict[str, Path]
    events: list[dict[str, Any]]
    refused: ApiError
    s3: Any
    bucket: str
    tmp: Path

    def fetch(self, key: str) -> Path:
        path = self.tmp / key.replace("/", "_")
        path.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        return path


def _bus_queue(aws_client: Callable[..., Any], stack: LocalDeployment, owner: str, run: str) -> tuple[str, str]:
    """The user's own routing, as an AWS user would add it: their Audio Ready events to an SQS queue."""
    sqs, events = aws_client("sqs"), aws_client("events")
    bus = stack.raw["VodpipePipeline"]["EventBusName"]
    queue = sqs.create_queue(QueueName=f"audio-ready-{run}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["vodpipe.jobs"],
        "detail-type": ["Audio Ready", "Job Completed"],
        "detail": {"owner": [owner]},
    }
    events.put_rule(Name=f"audio-{run}", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"audio-{run}", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return bus, queue


def _drain(aws_client: Callable[..., Any], queue: str, until: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    sqs, got = aws_client("sqs"), list[Any]()
    deadline = time.monotonic() + 90
    while not until(got) and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            got.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return got


@pytest.fixture(scope="module")
def finished(
    stack: LocalDeployment, aws_client: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Finished]:
    run_id = uuid.uuid4().hex[:8]
    owner = f"audio-{run_id}"
    folder = tmp_path_factory.mktemp("audio-sources")
    sources = make_sources(folder)
    token = create_token(aws_client("dynamodb"), stack.jobs_table, owner)
    repository = DynamoDBJobRepository(aws_client("dynamodb"), stack.jobs_table)
    bus, queue = _bus_queue(aws_client, stack, owner, run_id)
    requests = {
        "talk": UploadRequest(outputs=("hls", "audio", "mp3", "wav16k"), loudnorm=True),
        "song": UploadRequest(outputs=("audio",)),
    }
    runs: dict[str, Run] = {}
    with ApiClient(stack.api_url, token) as api:
        uploader = Uploader(api, ResumeStore(Path(tempfile.mkdtemp(prefix="vodpipe-resume-"))), parallel=1)
        for name, request in requests.items():
            runs[name] = Run(name=name, source=sources[name])
            runs[name].job_id = uploader.upload(sources[name], request).job_id
        other = folder / "song-as-video.mp3"  # its own file: the same one with other options would be resumed
        other.write_bytes(sources["song"].read_bytes())
        with pytest.raises(ApiError) as refused:
            uploader.upload(other, UploadRequest(outputs=("hls",)))
        pending = await_all(repository, runs, deadline_s=240, poll_s=2)
        assert not pending, {name: outcome(runs[name]) for name in pending}
        ids = {run.job_id for run in runs.values()}
        events = _drain(
            aws_client,
            queue,
            lambda got: (
                {(e["detail"]["job_id"], e["detail-type"]) for e in got}
                >= {(i, t) for i in ids for t in ("Audio Ready", "Job Completed")}
            ),
        )
        jobs = {name: run.job for name, run in runs.items() if run.job is not None}
        yield Finished(runs, jobs, sources, events, refused.value, aws_client("s3"), stack.outputs_bucket, folder)
    events_client = aws_client("events")
    events_client.remove_targets(Rule=f"audio-{run_id}", EventBusName=bus, Ids=["queue"])
    events_client.delete_rule(Name=f"audio-{run_id}", EventBusName=bus)
    aws_client("sqs").delete_queue(QueueUrl=queue)
    store = S3MediaStore(aws_client("s3"))
    for run in runs.values():
        if run.job_id:
            store.delete_prefix(stack.uploads_bucket, f"uploads/{owner}/{run.job_id}/")
            store.delete_prefix(stack.outputs_bucket, keys.output_prefix(run.job_id))


def _probe(path: Path) -> tuple[object, ...]:
    probed = ffprobe_json(path, "-show_streams", "-show_format")
    (stream,) = probed["streams"]
    return (
        stream["codec_name"],
        stream.get("profile") if stream["codec_name"] == "aac" else None,
        int(stream["sample_rate"]),
        stream["channels"],
        probed["format"]["format_name"],
        float(probed["format"]["duration"]),
    )


def test_a_videos_downloads_probe_as_promised_and_are_normalised(finished: Finished) -> None:
    job = finished.jobs["talk"]
    assert job.status is JobStatus.COMPLETED, outcome(finished.runs["talk"])
    assert job.outputs is not None
    assert job.outputs.playback_url is not None  # the streams are made as well
    assert [f.kind for f in job.audio_files] == [A, MP3, WAV]
    # The same files, the outputs' with the URL a page fetches them at (publish adds it to a public job's files).
    assert set(job.audio_files) <= {f.model_copy(update={"url": None}) for f in job.outputs.files}
    assert all(f.url and f.url.endswith(f.key) for f in job.outputs.files)
    source = integrated_lufs(finished.sources["talk"])
    assert abs(source - DEFAULT_TARGET.integrated_lufs) > 10, source  # far from the target to begin with
    for file in job.audio_files:
        assert file.key == keys.audio_key(job.job_id, file.key.rsplit("/", 1)[1])
        path = finished.fetch(file.key)
        codec, profile, rate, channels, container, duration = _probe(path)
        assert (codec, profile, rate, channels, container) == PROMISED[file.kind], file.kind
        assert duration == pytest.approx(SECONDS, abs=0.1), file.kind
        assert integrated_lufs(path) == pytest.approx(DEFAULT_TARGET.integrated_lufs, abs=1.0), file.kind
    assert {(mix.mix, mix.mode) for mix in job.audio_loudness} == {("stereo", "linear"), ("mono", "linear")}
    print(
        f"\nloudness: source {source:.1f} LUFS -> "
        + ", ".join(f"{m.mix} {m.input_lufs} -> {m.output_lufs} ({m.mode})" for m in job.audio_loudness)
        + f"; encode CPU {job.outputs.encode_cpu_seconds} s"
    )


def test_an_mp3_asking_for_audio_completes_with_its_file_and_no_manifests(finished: Finished) -> None:
    job = finished.jobs["song"]
    assert job.status is JobStatus.COMPLETED, outcome(finished.runs["song"])
    assert job.outputs is not None
    assert (job.outputs.playback_url, job.outputs.dash_url, job.outputs.manifest_key) == (None, None, None)
    (file,) = job.outputs.files
    assert (file.kind, file.key) == (A, keys.audio_key(job.job_id, "audio.m4a"))
    codec, profile, rate, channels, container, duration = _probe(finished.fetch(file.key))
    assert (codec, profile, rate, channels, container) == PROMISED[A]
    assert duration == pytest.approx(SECONDS, abs=0.1)
    listed = finished.s3.list_objects_v2(Bucket=finished.bucket, Prefix=keys.output_prefix(job.job_id))
    assert [o["Key"] for o in listed.get("Contents", [])] == [file.key]  # no manifests, no thumbnails


def test_an_mp3_asking_for_hls_is_refused_saying_why(finished: Finished) -> None:
    assert finished.refused.status == 422
    assert finished.refused.field == "outputs"
    assert "no picture" in finished.refused.message


def test_audio_ready_reaches_the_bus_with_the_files_before_the_job_completes(finished: Finished) -> None:
    for name, job in finished.jobs.items():
        mine = [e for e in finished.events if e["detail"]["job_id"] == job.job_id]
        ready = [e for e in mine if e["detail-type"] == "Audio Ready"]
        completed = [e for e in mine if e["detail-type"] == "Job Completed"]
        assert len({e["detail"]["id"] for e in ready}) == 1, name  # once per job (delivery may repeat it)
        detail = ready[0]["detail"]
        assert detail["type"] == "audio.ready"
        assert [f["key"] for f in detail["data"]["audio_files"]] == [f.key for f in job.audio_files]
        assert (detail["version"], detail["sequence"]) < (
            completed[0]["detail"]["version"],
            completed[0]["detail"]["sequence"],
        )
