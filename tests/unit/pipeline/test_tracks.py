"""The job's CMAF tracks from the work items' results: several audio tracks, the default first."""

from __future__ import annotations

import pytest

from lambdas import keys
from lambdas.jobs.model import new_job_id
from lambdas.media.probe import AudioStream
from lambdas.pipeline.config import PipelineConfig
from lambdas.pipeline.encode import describe
from lambdas.pipeline.plan import EncodePlan, ItemResult, SegmentResult, TrackResult
from lambdas.pipeline.probe import encode_plan
from lambdas.pipeline.tracks import assemble, leading_chunks
from tests.unit.media.conftest import load_info

AAC_SEGMENT = 47 * 1024  # about one second at 48 kHz
STREAMS = (
    AudioStream(index=1, codec="aac", channels=6, language="eng"),
    AudioStream(index=2, codec="aac", channels=1, sample_rate=8000, language="fra", default=True),
    AudioStream(index=3, codec="aac", channels=2, start_time=1.5),
)


def plan_with(config: PipelineConfig, streams: tuple[AudioStream, ...] = STREAMS) -> EncodePlan:
    """A 3 s source in three one-second chunks, the whole ladder per chunk."""
    info = load_info("landscape_h264_aac").model_copy(update={"duration": 3.0, "audio": streams})
    config = config.model_copy(update={"max_chunk_segments": 1, "transcode_concurrency": 1})
    return encode_plan(info, new_job_id(), 0, ("240p",), config)


def audio_result(item_id: str, segments: int = 3, size: int = 16_000) -> ItemResult:
    track = TrackResult(
        timescale=48000,
        codec="mp4a.40.2",
        segments=tuple(
            SegmentResult(number=n, start_ticks=n * AAC_SEGMENT, ticks=AAC_SEGMENT, bytes=size) for n in range(segments)
        ),
    )
    return ItemResult(item_id=item_id, tracks={item_id: track}, cpu_seconds=0.1, elapsed_seconds=0.1)


def video_result(plan: EncodePlan, chunk: int) -> ItemResult:
    ticks = 90_000
    tracks = {
        r.name: TrackResult(
            timescale=90_000,
            segments=(SegmentResult(number=chunk, start_ticks=chunk * ticks, ticks=ticks, bytes=50_000),),
            codec="avc1.64000d",
            width=r.width,
            height=r.height,
        )
        for r in plan.renditions
    }
    return ItemResult(item_id=f"c{chunk:05d}", tracks=tracks, cpu_seconds=1.0, elapsed_seconds=1.0)


def test_the_plan_has_one_audio_item_per_track_the_default_first(config: PipelineConfig) -> None:
    plan = plan_with(config)
    assert [i.item_id for i in plan.chunks.items] == ["audio", "audio-1", "audio-2", "c00000", "c00001", "c00002"]
    assert [(t.track, t.stream, t.name, t.language) for t in plan.audio] == [
        ("audio", 2, "fr", "fr"),
        ("audio-1", 1, "en", "en"),
        ("audio-2", 3, "audio", None),
    ]
    assert plan.audio_track("audio-2").start_time == 1.5
    with pytest.raises(KeyError):
        plan.audio_track("audio-3")
    assert [describe(plan, plan.chunks.item(t.track)) for t in plan.audio] == [
        "audio 1/3: fr",
        "audio 2/3: en",
        "audio 3/3: audio",
    ]


def test_one_track_or_none_keeps_todays_items(config: PipelineConfig) -> None:
    one = plan_with(config, STREAMS[:1])
    assert [i.item_id for i in one.chunks.items][:2] == ["audio", "c00000"]
    assert describe(one, one.chunks.item("audio")) == "audio"
    silent = plan_with(config, ())
    assert not silent.audio
    assert [i.item_id for i in silent.chunks.items] == ["c00000", "c00001", "c00002"]


def test_assemble_lists_every_audio_track_the_default_first(config: PipelineConfig) -> None:
    plan = plan_with(config)
    results = {
        "audio-2": audio_result("audio-2", size=8_000),
        "audio": audio_result("audio"),
        "audio-1": audio_result("audio-1", size=24_000),
        **{f"c{c:05d}": video_result(plan, c) for c in range(3)},
    }
    videos, audio = assemble(plan, results)
    assert [v.name for v in videos] == [r.name for r in plan.renditions]
    assert [(a.name, a.label, a.language) for a in audio] == [
        ("audio", "fr", "fr"),
        ("audio-1", "en", "en"),
        ("audio-2", "audio", None),
    ]
    for track in audio:
        assert track.init_uri == f"{track.name}/{keys.INIT_SEGMENT}"
        assert track.playlist_uri == f"{track.name}/{keys.MEDIA_PLAYLIST}"
        assert [s.uri for s in track.segments] == [f"{track.name}/seg_{n:05d}.m4s" for n in range(3)]
        assert (track.channels, track.sample_rate, track.codec) == (2, 48000, "mp4a.40.2")
    assert [s.bytes for s in audio[1].segments] == [24_000] * 3


def test_a_preview_waits_for_the_default_audio_only(config: PipelineConfig) -> None:
    plan = plan_with(config)
    first = frozenset({"c00000"})
    assert leading_chunks(plan, first) == 0
    assert leading_chunks(plan, first | {"audio-1", "audio-2"}) == 0
    assert leading_chunks(plan, first | {"audio"}) == 1
    # Over the first chunk: the default track only (what the preview loads), cut to the video's end.
    results = {"audio": audio_result("audio"), "c00000": video_result(plan, 0)}
    videos, audio = assemble(plan, results, chunks=1)
    assert [len(v.segments) for v in videos] == [1] * len(videos)
    (sound,) = audio
    assert (sound.name, len(sound.segments)) == ("audio", 1)
