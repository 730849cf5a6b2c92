"""PackageOutputs and PublishJob over a real segment-parallel run: HLS and DASH over one set of segments,
the MP4 fallback, and the job completed with both playback URLs."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from lambdas import keys
from lambdas.jobs.model import Job, JobStatus, JobStep, OutputKind, Source, new_job_id, utc_now
from lambdas.jobs.transitions import transition
from lambdas.pipeline.config import JobRef, PipelineConfig
from lambdas.pipeline.encode import encode
from lambdas.pipeline.errors import JobCancelled
from lambdas.pipeline.package import PackageRequest, PackageResult, package
from lambdas.pipeline.progress import PROGRESS_PACKAGED
from lambdas.pipeline.publish import PublishRequest, publish
from lambdas.pipeline.thumbnails import ThumbnailsRequest, ThumbnailsResult, make_thumbnails
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.media_tools import ffprobe_json
from tests.unit.pipeline.conftest import (
    OUTPUTS,
    UPLOADS,
    StartJob,
    cancel,
    encode_request,
    item_ids,
    needs_ffmpeg,
    package_request,
    probe_job,
    upload_key,
)

pytestmark = needs_ffmpeg

RUNGS = ["240p", "180p", "120p"]


@dataclass
class Encoded:
    job: Job
    request: PackageRequest
    cpu_seconds: float  # every item's, as EncodeChunk reported them


def encode_everything(
    job: Job, repo: InMemoryJobRepository, store: DirectoryMediaStore, config: PipelineConfig
) -> Encoded:
    """Probe, every work item (last first: the joins must not depend on the order) and thumbnails."""
    planned = probe_job(job.job_id, repo, store, config)
    cpu = sum(
        encode(encode_request(job.job_id, planned, item_id), repo, store, config).cpu_seconds
        for item_id in reversed(item_ids(store, planned))
    )
    thumbnails = make_thumbnails(
        ThumbnailsRequest(job=JobRef(job_id=job.job_id), media=planned.media, thumbnails=planned.thumbnails),
        repo,
        store,
        config,
    )
    return Encoded(repo.get(job.job_id), package_request(job, planned, thumbnails), cpu)


@pytest.fixture
def encoded(
    clips: dict[str, Path],
    start_job: StartJob,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
) -> Encoded:
    """A 3 s job encoded as three one-second chunks and the audio, as the state machine would run it."""
    return encode_everything(start_job(clips["three_seconds"]), repo, store, per_segment)


def text(store: DirectoryMediaStore, key: str) -> str:
    return store.read_bytes(OUTPUTS, key).decode()


def peak_bps(store: DirectoryMediaStore, job_id: str, track: str) -> int:
    """The highest segment bitrate of a track, from the stored segments and their playlist durations."""
    prefix = keys.track_prefix(job_id, track)
    media = m3u8.loads(text(store, prefix + keys.MEDIA_PLAYLIST))
    peak: float = max(store.head(OUTPUTS, prefix + s.uri).size * 8 / s.duration for s in media.segments)
    return math.ceil(peak)


def test_hls_and_dash_over_the_same_segments(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job_id = encoded.job.job_id
    result = package(encoded.request, repo, store, per_segment)
    assert result.manifest_key == keys.master_key(job_id) == f"outputs/{job_id}/cmaf/master.m3u8"
    assert result.dash_key == keys.dash_key(job_id) == f"outputs/{job_id}/cmaf/manifest.mpd"
    assert result.duration_s == pytest.approx(3.0, abs=0.01)

    master = m3u8.loads(text(store, result.manifest_key))
    assert [v.uri for v in master.playlists] == [f"{r}/index.m3u8" for r in RUNGS]
    assert [(m.type, m.uri, m.group_id) for m in master.media] == [("AUDIO", "audio/index.m3u8", "audio")]
    audio_peak = peak_bps(store, job_id, keys.AUDIO_TRACK)
    for variant, name, size in zip(master.playlists, RUNGS, [(320, 240), (240, 180), (160, 120)], strict=True):
        info = variant.stream_info
        assert info.resolution == size
        assert info.frame_rate == pytest.approx(30.0)
        assert info.codecs.startswith("avc1.64")
        assert info.codecs.endswith(",mp4a.40.2")
        assert info.audio == "audio"
        assert info.bandwidth == peak_bps(store, job_id, name) + audio_peak  # the audio plays alongside each
        assert 0 < info.average_bandwidth <= info.bandwidth
    for track in [*RUNGS, keys.AUDIO_TRACK]:
        media = m3u8.loads(text(store, keys.track_prefix(job_id, track) + keys.MEDIA_PLAYLIST))
        assert (media.playlist_type, media.is_endlist) == ("vod", True)
        assert [s.uri for s in media.segments] == [keys.segment_name(n) for n in range(3)]
        assert sum(s.duration for s in media.segments) == pytest.approx(3.0, abs=0.03)

    mpd = MPEGDASHParser.parse(text(store, result.dash_key))
    assert mpd.type == "static"
    sets = mpd.periods[0].adaptation_sets
    assert [[r.id for r in s.representations] for s in sets] == [RUNGS, [keys.AUDIO_TRACK]]
    for representation in (r for s in sets for r in s.representations):
        template = representation.segment_templates[0]
        assert template.initialization == f"{representation.id}/init.mp4"
        timeline = template.segment_timelines[0].Ss
        assert sum((s.r or 0) + 1 for s in timeline) == 3  # the very segments the HLS playlists list

    # The attempt's pieces and results are spent once the manifests are out.
    assert store.list_prefix(UPLOADS, keys.work_prefix(job_id, 0)) == []
    stored = repo.get(job_id)
    assert (stored.progress, stored.current_step) == (PROGRESS_PACKAGED, JobStep.PACKAGE)


def test_the_outputs_list_every_file_and_the_cpu_spent(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job_id = encoded.job.job_id
    result = package(encoded.request, repo, store, per_segment)
    by_kind: dict[OutputKind, list[str]] = {}
    for file in result.files:
        by_kind.setdefault(file.kind, []).append(file.key)
    assert by_kind[OutputKind.HLS] == [
        keys.master_key(job_id),
        *(keys.track_prefix(job_id, r) + keys.MEDIA_PLAYLIST for r in RUNGS),
    ]
    assert by_kind[OutputKind.DASH] == [keys.dash_key(job_id)]
    assert by_kind[OutputKind.MP4] == [keys.mp4_key(job_id, "180p")]  # the middle rung
    assert len(by_kind[OutputKind.THUMBNAILS]) == 6  # poster, storyboard, 3 stills, 1 sheet
    for file in result.files:
        if file.kind in (OutputKind.DASH, OutputKind.MP4, OutputKind.THUMBNAILS) or file.rendition is None:
            assert file.size_bytes == store.head(OUTPUTS, file.key).size, file.key
    for file, rendition in ((f, f.rendition) for f in result.files if f.kind is OutputKind.HLS):
        if rendition is None:
            continue
        segments = store.list_prefix(OUTPUTS, keys.track_prefix(job_id, rendition))
        assert file.size_bytes == sum(o.size for o in segments if o.key.endswith(".m4s"))
        assert file.duration_seconds == pytest.approx(3.0, abs=0.01)
    assert result.encode_cpu_seconds == pytest.approx(encoded.cpu_seconds, abs=0.002)
    assert result.encode_cpu_seconds > 0
    assert PackageResult.model_validate(json.loads(result.model_dump_json())) == result  # as Step Functions carries it


def test_the_mp4_fallback_has_picture_and_sound_index_first(
    encoded: Encoded,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    tmp_path: Path,
) -> None:
    result = package(encoded.request, repo, store, per_segment)
    mp4 = next(f for f in result.files if f.kind is OutputKind.MP4)
    assert mp4.rendition == "180p"
    assert mp4.duration_seconds == pytest.approx(3.0, abs=0.01)
    assert store.head(OUTPUTS, mp4.key).content_type == "video/mp4"
    local = tmp_path / "fallback.mp4"
    local.write_bytes(store.read_bytes(OUTPUTS, mp4.key))
    data = local.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while it downloads
    info = ffprobe_json(local, "-show_format", "-show_streams")
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert sorted(streams) == ["audio", "video"]
    assert (streams["video"]["width"], streams["video"]["height"]) == (240, 180)
    assert streams["audio"]["codec_name"] == "aac"
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    # The three chunks joined without a gap or a repeated frame.
    packets = ffprobe_json(local, "-select_streams", "v:0", "-show_entries", "packet=pts_time")["packets"]
    times = sorted(float(p["pts_time"]) for p in packets)
    assert len(times) == 90
    assert {round(b - a, 4) for a, b in itertools.pairwise(times)} == {round(1 / 30, 4)}


def test_no_mp4_unless_the_job_asked_for_one(
    clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    """As the API creates jobs: the outputs the user chose, here streams and thumbnails only."""
    job_id = new_job_id()
    key = upload_key(job_id)
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=key),
        requested_renditions=tuple(RUNGS),
        requested_outputs=(OutputKind.HLS, OutputKind.THUMBNAILS),
        now=utc_now(),
    )
    store.put_bytes(UPLOADS, key, clips["three_seconds"].read_bytes())
    repo.create(job)
    queued = repo.save_transition(job, transition(job, JobStatus.QUEUED, utc_now()))
    repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now()))
    result = package(encode_everything(job, repo, store, per_segment).request, repo, store, per_segment)
    assert OutputKind.MP4 not in {f.kind for f in result.files}
    assert store.list_prefix(OUTPUTS, keys.output_prefix(job.job_id) + "mp4/") == []
    assert OutputKind.DASH in {f.kind for f in result.files}


def test_a_cancelled_job_is_not_packaged(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    cancel(repo, store, encoded.job.job_id)
    with pytest.raises(JobCancelled):
        package(encoded.request, repo, store, per_segment)
    assert store.list_prefix(OUTPUTS, keys.output_prefix(encoded.job.job_id)) == []


def test_publish_completes_the_job_with_both_playback_urls(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    outputs = PackageResult.model_validate(
        json.loads(package(encoded.request, repo, store, per_segment).model_dump_json())
    )
    request = PublishRequest(job=encoded.request.job, outputs=outputs)
    job = publish(request, repo, per_segment)
    assert job.status is JobStatus.COMPLETED
    assert job.progress == 100
    assert job.outputs is not None
    assert job.outputs.playback_url == f"https://cdn.example.com/outputs/{job.job_id}/cmaf/master.m3u8"
    assert job.outputs.manifest_key == keys.master_key(job.job_id)
    assert job.outputs.dash_url == f"https://cdn.example.com/outputs/{job.job_id}/cmaf/manifest.mpd"
    assert job.outputs.dash_manifest_key == keys.dash_key(job.job_id)
    assert tuple(f.model_copy(update={"url": None}) for f in job.outputs.files) == outputs.files
    # Every file of a public job with the URL a page fetches it at (the storyboard for a player's seek bar).
    assert all(f.url == f"https://cdn.example.com/{f.key}" for f in job.outputs.files)
    assert job.outputs.encode_cpu_seconds == outputs.encode_cpu_seconds
    assert job.outputs.encode_cpu_seconds is not None
    assert job.outputs.encode_cpu_seconds > 0
    steps = {JobStep.PROBE, JobStep.PLAN, JobStep.SPLIT, JobStep.TRANSCODE, JobStep.THUMBNAILS, JobStep.PACKAGE}
    assert steps <= set(job.metrics)
    assert repo.get(job.job_id) == job
    assert publish(request, repo, per_segment) == job  # a Lambda retry changes nothing


def test_publish_of_a_cancelled_job_is_refused(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    outputs = package(encoded.request, repo, store, per_segment)
    current = repo.get(encoded.job.job_id)
    repo.save_transition(current, transition(current, JobStatus.CANCELLED, utc_now()))
    with pytest.raises(JobCancelled):
        publish(PublishRequest(job=encoded.request.job, outputs=outputs), repo, per_segment)
    assert repo.get(encoded.job.job_id).status is JobStatus.CANCELLED


def test_a_job_without_its_thumbnails_completes_with_a_warning(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    """The state machine's Catch turned a failed MakeThumbnails into `failure`: the job still completes."""
    failed = ThumbnailsResult.model_validate(
        {
            "enabled": False,
            "failure": {
                "Error": "Sandbox.Timedout",
                "Cause": json.dumps({"errorMessage": "Task timed out after 60.00 seconds"}),
            },
        }
    )
    request = encoded.request.model_copy(update={"thumbnails": failed})
    outputs = package(request, repo, store, per_segment)
    job = publish(PublishRequest(job=request.job, outputs=outputs), repo, per_segment)
    assert job.status is JobStatus.COMPLETED
    assert job.outputs is not None
    assert job.outputs.warnings == (
        "Thumbnails, stills and storyboard are missing: Task timed out after 60.00 seconds",
    )
    assert not [f for f in job.outputs.files if f.kind is OutputKind.THUMBNAILS]


def test_the_quality_report_is_written_and_the_job_carries_it(
    encoded: Encoded, repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    """Every rung over the three chunks: quality.json beside the streams, listed, and on the completed job."""
    from lambdas.jobs.model import QualityMetric
    from lambdas.media.quality import Metric, QualityReport

    job_id = encoded.job.job_id
    outputs = package(encoded.request, repo, store, per_segment)
    key = keys.quality_key(job_id)
    assert key == f"outputs/{job_id}/quality.json"
    (listed,) = (f for f in outputs.files if f.kind is OutputKind.QUALITY)
    stored = store.head(OUTPUTS, key)
    assert (listed.key, listed.size_bytes) == (key, stored.size)
    assert stored.content_type == "application/json"

    report = QualityReport.model_validate_json(store.read_bytes(OUTPUTS, key))
    assert (report.metric, report.model, report.missing) == (Metric.VMAF, "vmaf_v0.6.1", {})
    assert list(report.renditions) == RUNGS
    assert report.chunks_scored == 3
    assert all(r.frames == 3 for r in report.renditions.values())  # one frame per one-second chunk
    assert report.cpu_seconds > 0
    assert [q.rendition for q in outputs.quality] == RUNGS
    for summary in outputs.quality:
        scored = report.renditions[summary.rendition]
        assert (summary.metric, summary.mean, summary.min, summary.frames) == (
            QualityMetric.VMAF,
            scored.mean,
            scored.min,
            scored.frames,
        )
        assert 0 < summary.min <= summary.mean <= 100

    job = publish(PublishRequest(job=encoded.request.job, outputs=outputs), repo, per_segment)
    assert job.outputs is not None
    assert job.outputs.quality == outputs.quality
    assert repo.get(job_id).outputs == job.outputs  # what GET /jobs/{id} reads


def test_mp4_tracks_are_the_named_rungs_that_were_made() -> None:
    from lambdas.media.manifests import VideoTrack
    from lambdas.pipeline.package import mp4_tracks

    videos = [
        VideoTrack(
            name=n, uri_prefix=f"{n}/", init_uri=f"{n}/init.mp4", playlist_uri=f"{n}/index.m3u8", timescale=90_000,
            width=2, height=2, frame_rate="30", codec="avc1.64001f", segments=(),
        )
        for n in RUNGS
    ]  # fmt: skip

    def names(wanted: tuple[str, ...] | None) -> list[str]:
        return [t.name for t in mp4_tracks(videos, wanted)]

    assert names(None) == ["180p"]  # the middle rung, as before presets
    assert names(("240p", "120p")) == ["240p", "120p"]
    assert names(("1080p",)) == ["240p"]  # none of them was made (the source is smaller): the largest made


def test_one_mp4_per_rung_the_job_names(
    clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, per_segment: PipelineConfig
) -> None:
    job_id = new_job_id()
    key = upload_key(job_id)
    job = Job.new(
        job_id=job_id,
        owner="alice",
        source=Source(bucket=UPLOADS, key=key),
        requested_renditions=tuple(RUNGS),
        requested_outputs=(OutputKind.HLS, OutputKind.MP4),
        mp4_renditions=("240p", "120p"),
        now=utc_now(),
    )
    store.put_bytes(UPLOADS, key, clips["three_seconds"].read_bytes())
    repo.create(job)
    queued = repo.save_transition(job, transition(job, JobStatus.QUEUED, utc_now()))
    repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now()))
    result = package(encode_everything(job, repo, store, per_segment).request, repo, store, per_segment)
    mp4s = [f for f in result.files if f.kind is OutputKind.MP4]
    assert [(f.rendition, f.key) for f in mp4s] == [
        ("240p", keys.mp4_key(job_id, "240p")),
        ("120p", keys.mp4_key(job_id, "120p")),
    ]
    for file in mp4s:
        assert file.size_bytes == store.head(OUTPUTS, file.key).size > 0


def test_an_mp4_that_would_not_fit_the_disk_is_left_out_with_a_warning(
    encoded: Encoded,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    per_segment: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from lambdas.pipeline import package as packaging

    monkeypatch.setattr(packaging.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10, 10, 1000))  # type: ignore[attr-defined]
    result = package(encoded.request, repo, store, per_segment)
    assert OutputKind.MP4 not in {f.kind for f in result.files}
    assert store.list_prefix(OUTPUTS, keys.output_prefix(encoded.job.job_id) + "mp4/") == []
    (warning,) = [w for w in result.warnings if "MP4" in w]
    assert warning.startswith("No 180p MP4: making it takes ")
    assert OutputKind.HLS in {f.kind for f in result.files}  # the job's streams are made all the same
