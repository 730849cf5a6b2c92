"""The audio downloads through the real steps on the fakes with real ffmpeg: audio-only uploads (one item, no
manifests, completed with the files), downloads beside the streams of a video job (made by the default track's
item, recorded on the job before packaging, loudness normalised), and what cannot be made."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lambdas import keys
from lambdas.jobs.model import Job, JobStatus, OutputKind, Source, new_job_id, utc_now
from lambdas.jobs.transitions import transition
from lambdas.media.audio_files import ENCODINGS, downloads_cost
from lambdas.media.errors import NoAudioStream, NoVideoStream
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.package import PackageResult, package
from lambdas.pipeline.plan import EncodePlan
from lambdas.pipeline.publish import PublishRequest, publish
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.media_tools import ffprobe_json
from tests.unit.media.conftest import LAYER_BIN
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    encode_request,
    item_ids,
    needs_ffmpeg,
    package_request,
    probe_job,
    upload_key,
)

pytestmark = needs_ffmpeg
A, MP3, WAV = OutputKind.AUDIO, OutputKind.MP3, OutputKind.WAV16K


def ffmpeg(*args: str) -> None:
    subprocess.run([str(LAYER_BIN / "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio-sources")
    noise = ["-f", "lavfi", "-i", "anoisesrc=r=44100:d=2:a=0.02:color=pink:seed=3"]
    ffmpeg(*noise, "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(d / "song.mp3"))
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", *noise,
        "-filter_complex", "[1:a]aformat=channel_layouts=5.1[a]", "-map", "0:v", "-map", "[a]",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac",
        str(d / "talk.mp4"),
    )  # fmt: skip
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p", str(d / "silent.mp4"),
    )  # fmt: skip
    return {p.stem: p for p in d.iterdir()}


def processing(
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    source: Path,
    outputs: tuple[OutputKind, ...],
    *,
    renditions: tuple[str, ...] = (),
    loudnorm: bool = False,
) -> Job:
    """A job as the API creates it from a request (outputs, loudnorm), uploaded, queued and started."""
    job_id = new_job_id()
    key = upload_key(job_id)
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=key),
        requested_renditions=renditions,
        requested_outputs=outputs,
        loudnorm=loudnorm,
        now=utc_now(),
    )
    store.put_bytes(UPLOADS, key, source.read_bytes())
    repo.create(job)
    queued = repo.save_transition(job, transition(job, JobStatus.QUEUED, utc_now()))
    return repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now()))


def probed(store: DirectoryMediaStore, path: str, tmp: Path) -> dict[str, object]:
    local = tmp / Path(path).name
    local.write_bytes(store.read_bytes(OUTPUTS, path))
    (stream,) = ffprobe_json(local, "-show_streams")["streams"]
    return {"codec": stream["codec_name"], "rate": int(stream["sample_rate"]), "channels": stream["channels"]}


def test_an_mp3_asking_for_audio_only_is_one_item_and_completes_with_its_files(
    sources: dict[str, Path],
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    config: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = processing(repo, store, sources["song"], (A, MP3, WAV))
    planned = probe_job(job.job_id, repo, store, config)
    assert item_ids(store, planned) == ["downloads"]  # no stream: no audio item, only the downloads
    assert planned.media.video is None
    assert planned.thumbnails.enabled is False
    plan = EncodePlan.model_validate_json(store.read_bytes(planned.plan.bucket, planned.plan.key))
    assert (plan.renditions, plan.chunks.chunks) == ((), ())
    expected = downloads_cost((A, MP3, WAV), loudnorm=False, duration_s=2.0) + config.costs.item_overhead_cpu_s
    assert plan.chunks.items[0].weight == pytest.approx(expected, rel=0.05)
    assert [c.track for c in plan.audio] == ["audio"]  # its piece is cut all the same

    result = encode(encode_request(job.job_id, planned, "downloads"), repo, store, config)
    assert result.segments == 0  # nothing streams
    stored = repo.get(job.job_id)
    assert stored.audio_ready_at is not None
    assert [f.kind for f in stored.audio_files] == [A, MP3, WAV]
    assert [f.key for f in stored.audio_files] == [
        keys.audio_key(job.job_id, name) for name in ("audio.m4a", "audio.mp3", "audio-16k.wav")
    ]
    assert store.list_prefix(OUTPUTS, keys.stream_prefix(job.job_id)) == []
    assert probed(store, stored.audio_files[0].key, tmp_path) == {"codec": "aac", "rate": 48000, "channels": 2}
    assert probed(store, stored.audio_files[1].key, tmp_path) == {"codec": "mp3", "rate": 44100, "channels": 2}
    assert probed(store, stored.audio_files[2].key, tmp_path) == {"codec": "pcm_s16le", "rate": 16000, "channels": 1}
    for file in stored.audio_files:
        assert file.size_bytes == store.head(OUTPUTS, file.key).size
        assert file.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert ENCODINGS[A].content_type == store.head(OUTPUTS, stored.audio_files[0].key).content_type

    packaged = package(package_request(job, planned), repo, store, config)
    assert (packaged.manifest_key, packaged.dash_key) == (None, None)
    assert packaged.files == stored.audio_files
    assert packaged.encode_cpu_seconds > 0
    outputs = PackageResult.model_validate(json.loads(packaged.model_dump_json()))  # as the state machine carries it
    done = publish(PublishRequest(job=planned_ref(job), outputs=outputs), repo, config)
    assert done.status is JobStatus.COMPLETED
    assert done.outputs is not None
    assert (done.outputs.playback_url, done.outputs.dash_url) == (None, None)
    assert tuple(f.model_copy(update={"url": None}) for f in done.outputs.files) == stored.audio_files
    assert all(f.url == f"https://cdn.example.com/{f.key}" for f in done.outputs.files)  # public: fetch as it is
    assert store.list_prefix(UPLOADS, keys.work_prefix(job.job_id, 0)) == []  # the pieces are spent


def planned_ref(job: Job) -> JobRef:
    return JobRef(job_id=job.job_id, execution_arn=job.execution_arn)


def test_a_video_job_makes_its_downloads_beside_the_streams_normalised(
    sources: dict[str, Path],
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    job = processing(repo, store, sources["talk"], (OutputKind.HLS, A, WAV), renditions=("240p", "120p"), loudnorm=True)
    planned = probe_job(job.job_id, repo, store, per_segment)
    ids = item_ids(store, planned)
    assert ids[:2] == ["audio", "downloads"]  # an item of its own, started before the chunks
    # The stream's audio and the first chunk are watchable without the downloads: the preview never waits for them.
    for item_id in ("audio", "c00000"):
        encode(encode_request(job.job_id, planned, item_id), repo, store, per_segment)
    early = repo.get(job.job_id)
    assert (early.playable_segments > 0, early.audio_ready_at) == (True, None)
    for item_id in ids:
        if item_id not in ("audio", "c00000"):
            encode(encode_request(job.job_id, planned, item_id), repo, store, per_segment)
    stored = repo.get(job.job_id)
    assert [f.kind for f in stored.audio_files] == [A, WAV]
    assert probed(store, stored.audio_files[0].key, tmp_path) == {"codec": "aac", "rate": 48000, "channels": 2}
    # The 5.1 pink noise sits near -32 LUFS; both mixes were measured and brought to the target in one gain.
    assert {(mix.mix, mix.mode) for mix in stored.audio_loudness} == {("stereo", "linear"), ("mono", "linear")}
    for loudness in stored.audio_loudness:
        assert loudness.input_lufs is not None
        assert loudness.input_lufs < -25
        assert loudness.output_lufs == pytest.approx(-16, abs=1)
    events = [e.message for e in repo.list_events(job.job_id)]
    assert "audio downloads" in events
    packaged = package(package_request(job, planned), repo, store, per_segment)
    assert packaged.manifest_key == keys.master_key(job.job_id)
    assert set(stored.audio_files) <= set(packaged.files)
    assert packaged.warnings == ()


def test_a_silent_video_asking_for_audio_completes_with_a_warning(
    sources: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job = processing(repo, store, sources["silent"], (OutputKind.HLS, MP3), renditions=("240p",))
    planned = probe_job(job.job_id, repo, store, per_segment)
    for item_id in item_ids(store, planned):
        encode(encode_request(job.job_id, planned, item_id), repo, store, per_segment)
    packaged = package(package_request(job, planned), repo, store, per_segment)
    assert repo.get(job.job_id).audio_files == ()
    assert packaged.warnings == ("mp3: the source has no sound, so no audio file was made.",)


def test_audio_only_needs_sound_and_video_outputs_need_a_picture(
    sources: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    silent = processing(repo, store, sources["silent"], (A,))
    with pytest.raises(NoAudioStream, match=r"audio: the file contains no sound"):
        probe_job(silent.job_id, repo, store, config)
    song = processing(repo, store, sources["song"], (OutputKind.HLS, A), renditions=("240p",))
    with pytest.raises(NoVideoStream):
        probe_job(song.job_id, repo, store, config)


def test_a_job_cancelled_while_its_downloads_are_stored_leaves_none(
    sources: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> None:
    from lambdas.pipeline.errors import JobCancelled

    job = processing(repo, store, sources["song"], (A, WAV))
    planned = probe_job(job.job_id, repo, store, config)
    upload = store.upload

    def cancel_during_upload(path: Path, bucket: str, key: str, **kwargs: object) -> object:
        stored = upload(path, bucket, key, **kwargs)  # type: ignore[arg-type]
        current = repo.get(job.job_id)
        if current.status is JobStatus.PROCESSING:
            repo.save_transition(current, transition(current, JobStatus.CANCELLED, utc_now()))
        return stored

    store.upload = cancel_during_upload  # type: ignore[method-assign,assignment]
    with pytest.raises(JobCancelled):
        encode(encode_request(job.job_id, planned, "downloads"), repo, store, config)
    assert store.list_prefix(OUTPUTS, keys.audio_prefix(job.job_id)) == []
    assert repo.get(job.job_id).audio_ready_at is None
