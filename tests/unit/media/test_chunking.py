"""The segment-parallel planner: output rate and timescale, chunks on the segment grid, work items, budgets."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.media.chunking import (
    DEFAULT_COSTS,
    ChunkPlan,
    CostModel,
    ItemKind,
    Shape,
    WorkerBudget,
    audio_item_id,
    frame_ticks,
    output_rate,
    plan_chunks,
    segment_count,
    video_timescale,
)
from lambdas.media.errors import PolicyViolation

NTSC = Fraction(30000, 1001)
FILM = Fraction(24000, 1001)
SOURCE = Shape(name="source", width=1920, height=1080)
LADDER = (
    Shape(name="1080p", width=1920, height=1080),
    Shape(name="720p", width=1280, height=720),
    Shape(name="480p", width=854, height=480),
    Shape(name="360p", width=640, height=360),
)
LAMBDA = WorkerBudget(timeout_s=900, vcpus=1.7)  # the deployed default


def plan(**overrides: Any) -> ChunkPlan:
    args: dict[str, Any] = {
        "duration_s": 600.0,
        "rate": Fraction(30),
        "segment_frames": 120,
        "source": SOURCE,
        "source_rate": 30.0,
        "renditions": LADDER,
        "audio": True,
        "concurrency": 4,
        "max_chunk_segments": 15,
        "budget": LAMBDA,
    }
    return plan_chunks(**(args | overrides))


def video_items(p: ChunkPlan) -> list[Any]:
    return [i for i in p.items if i.kind is ItemKind.VIDEO]


# --- rates and timescales ---


@pytest.mark.parametrize(
    ("probed", "expected"),
    [
        (29.97, NTSC),
        (29.970029, NTSC),
        (23.976, FILM),
        (59.94, Fraction(60000, 1001)),
        (25.0, Fraction(25)),
        (30.0, Fraction(30)),
        (50.0, Fraction(50)),
        (60.0, Fraction(60)),
        (24.0, Fraction(24)),  # film is 24 fps exactly, not NTSC's 23.976
        (48.0, Fraction(48)),
        (15.0, Fraction(15)),
        (12.5, Fraction(25, 2)),  # not a standard rate: the exact fraction
    ],
)
def test_output_rate_is_the_exact_fraction(probed: float, expected: Fraction) -> None:
    assert output_rate(probed) == expected


@pytest.mark.parametrize(
    ("rate", "timescale", "ticks"),
    [(FILM, 96000, 4004), (Fraction(25), 90000, 3600), (NTSC, 90000, 3003), (Fraction(60000, 1001), 120000, 2002)],
)
def test_a_frame_is_a_whole_number_of_ticks(rate: Fraction, timescale: int, ticks: int) -> None:
    assert video_timescale(rate) == timescale
    assert frame_ticks(rate) == ticks
    assert Fraction(frame_ticks(rate)) == video_timescale(rate) / rate  # exact, no rounding


@given(st.integers(1, 120_000), st.integers(1, 1001))
def test_frame_ticks_are_exact_at_any_rate(numerator: int, denominator: int) -> None:
    rate = Fraction(numerator, denominator)
    assert video_timescale(rate) >= 90_000 or video_timescale(rate) == rate.numerator
    assert frame_ticks(rate) * rate == video_timescale(rate)


def test_segment_count_folds_a_short_tail_into_the_last_segment() -> None:
    assert segment_count(120, 30) == 4
    assert segment_count(134, 30) == 4  # 14 frames left over: less than half a segment, no sliver
    assert segment_count(135, 30) == 5  # half a segment or more: a segment of its own
    assert segment_count(10, 30) == 1  # shorter than one segment: still one
    assert segment_count(1, 30) == 1


# --- properties of every plan ---


@settings(max_examples=300, deadline=None)
@given(
    duration_s=st.floats(0.1, 7200),
    rate=st.sampled_from([FILM, Fraction(24), Fraction(25), NTSC, Fraction(30), Fraction(50), Fraction(60000, 1001)]),
    segment_s=st.sampled_from([1, 2, 4, 6]),
    rungs=st.integers(1, len(LADDER)),
    audio=st.booleans(),
    concurrency=st.integers(1, 64),
    max_chunk_segments=st.integers(1, 30),
    timeout_s=st.integers(60, 900),
    vcpus=st.floats(1, 6),
    source_mbps=st.one_of(st.none(), st.floats(0.1, 4000)),
)
def test_every_plan_tiles_the_timeline_on_the_segment_grid(
    duration_s: float,
    rate: Fraction,
    segment_s: int,
    rungs: int,
    audio: bool,
    concurrency: int,
    max_chunk_segments: int,
    timeout_s: int,
    vcpus: float,
    source_mbps: float | None,
) -> None:
    segment_frames = round(rate * segment_s)
    budget = WorkerBudget(timeout_s=timeout_s, vcpus=vcpus)
    source_bytes = None if source_mbps is None else round(source_mbps * 1e6 / 8 * duration_s)
    p = plan(
        duration_s=duration_s,
        rate=rate,
        segment_frames=segment_frames,
        renditions=LADDER[:rungs],
        audio=audio,
        concurrency=concurrency,
        max_chunk_segments=max_chunk_segments,
        budget=budget,
        source_bytes=source_bytes,
    )
    chunks = p.chunks
    assert p.rate == rate
    assert p.total_frames == max(1, round(duration_s * rate))
    assert p.segment_count == segment_count(p.total_frames, segment_frames)

    # The chunks tile [0, total_frames) exactly: no gap, no overlap, nothing past the end.
    assert chunks[0].start_frame == 0
    for before, after in pairwise(chunks):
        assert after.start_frame == before.start_frame + before.frames
        assert after.first_segment == before.first_segment + before.segments
    assert chunks[-1].start_frame + chunks[-1].frames == p.total_frames
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]

    # Every chunk starts on a segment boundary and is whole segments long; only the last takes the remainder.
    for c in chunks:
        assert c.start_frame == c.first_segment * segment_frames
        assert 1 <= c.segments <= max_chunk_segments
        if not c.last:
            assert c.frames == c.segments * segment_frames
    assert sum(c.segments for c in chunks) == p.segment_count
    if len(chunks) > 1:
        assert chunks[0].segments == 1  # something to watch early

    # Every chunk x rendition is encoded by exactly one item; the audio once, first.
    names = [r.name for r in LADDER[:rungs]]
    covered = Counter((i.chunk, name) for i in video_items(p) for name in i.renditions)
    assert covered == Counter({(c.index, name): 1 for c in chunks for name in names})
    assert len({i.item_id for i in p.items}) == len(p.items)
    if audio:
        assert p.items[0].kind is ItemKind.AUDIO
        assert (p.items[0].item_id, p.items[0].chunk, p.items[0].renditions) == ("audio", None, ())
    assert sum(i.kind is ItemKind.AUDIO for i in p.items) == int(audio)
    for item in video_items(p):
        if p.whole_ladder:
            assert item.renditions == tuple(names)  # in ladder order: one decode for every rung
        else:
            assert len(item.renditions) == 1
        assert item.weight > 0
        assert p.item(item.item_id) is item

    # A chunk of more than one segment fits what one worker may spend.
    seconds = float(segment_frames / rate)
    decode = DEFAULT_COSTS.decode(SOURCE.width, SOURCE.height, 30.0)
    encodes = [DEFAULT_COSTS.encode(r.width, r.height, float(rate)) for r in LADDER[:rungs]]
    per_segment = DEFAULT_COSTS.safety * (decode + (sum(encodes) if p.whole_ladder else max(encodes))) * seconds
    spendable = budget.cpu_seconds - DEFAULT_COSTS.item_overhead_cpu_s
    for c in chunks:
        if c.segments > 1 and not c.last:
            assert c.segments * per_segment <= spendable
        # ...and a piece of the source no larger than one download may be.
        if c.segments > 1 and source_bytes:
            assert c.segments * seconds * source_bytes / duration_s <= 1 << 30


# --- the choices the planner makes ---


def test_a_long_source_gets_the_whole_ladder_per_item() -> None:
    p = plan(duration_s=600.0)  # 150 segments for 4 workers
    assert p.whole_ladder
    assert len(video_items(p)) == len(p.chunks)
    assert all(i.renditions == ("1080p", "720p", "480p", "360p") for i in video_items(p))
    assert [i.item_id for i in p.items[:3]] == ["audio", "c00000", "c00001"]
    assert max(c.segments for c in p.chunks) == 15  # as long as max_chunk_segments allows


def test_a_short_source_gets_one_item_per_rendition_to_keep_the_workers_busy() -> None:
    p = plan(duration_s=8.0)  # 2 segments for 4 workers: one item per chunk would leave two idle
    assert not p.whole_ladder
    assert len(video_items(p)) == len(p.chunks) * len(LADDER)
    assert [i.item_id for i in p.items] == [
        "audio",
        *(f"c{c:05d}-{r.name}" for c in range(len(p.chunks)) for r in LADDER),
    ]


def test_one_rendition_is_always_a_whole_ladder() -> None:
    p = plan(duration_s=8.0, renditions=LADDER[-1:])
    assert p.whole_ladder
    assert [i.item_id for i in p.items] == ["audio", *(f"c{c.index:05d}" for c in p.chunks)]


def test_a_ladder_too_heavy_for_one_worker_is_split_by_rendition() -> None:
    # 15 CPU-seconds a worker: a 4 s segment of the whole ladder needs about 17, its heaviest rung about 11.
    small = WorkerBudget(timeout_s=30, vcpus=1.0)
    p = plan(duration_s=600.0, budget=small)
    assert not p.whole_ladder
    assert {c.segments for c in p.chunks} == {1}  # no more than one segment of the heaviest rung fits


def test_chunk_length_follows_the_budget() -> None:
    # 150 CPU-seconds, less the item's overhead, over about 16.8 a whole-ladder segment: 8 segments.
    p = plan(duration_s=600.0, budget=WorkerBudget(timeout_s=300, vcpus=1.0))
    assert p.whole_ladder
    assert {c.segments for c in p.chunks[1:-1]} == {8}


def test_chunks_are_no_longer_than_it_takes_to_hand_every_worker_one() -> None:
    p = plan(duration_s=120.0, concurrency=10)  # 30 segments for 10 workers
    assert p.whole_ladder
    assert max(c.segments for c in p.chunks) == 3
    assert len(video_items(p)) >= 10


def test_the_first_chunk_is_one_segment_only_when_more_follow() -> None:
    several = plan(duration_s=600.0)
    assert [c.segments for c in several.chunks[:2]] == [1, 15]
    single = plan(duration_s=20.0, concurrency=1)  # 5 segments, one worker: one chunk
    assert [(c.segments, c.frames, c.last) for c in single.chunks] == [(5, 600, True)]


def test_a_huge_source_is_cut_into_pieces_no_larger_than_one_download() -> None:
    # 100 MB/s of source: a 4 s segment is 400 MB, so at most 2 fit in 1 GiB.
    p = plan(duration_s=600.0, source_bytes=600 * 100_000_000)
    assert max(c.segments for c in p.chunks) == 2
    tighter = plan(duration_s=600.0, source_bytes=600 * 100_000_000, max_piece_bytes=100_000_000)
    assert {c.segments for c in tighter.chunks} == {1}  # a segment is the least a worker can take


def test_the_last_chunk_takes_the_remainder() -> None:
    one_each = {"rate": NTSC, "segment_frames": 120, "max_chunk_segments": 1}
    kept = plan(duration_s=10.4, **one_each)  # 312 frames: 2 segments and 72 frames, more than half of one
    assert [(c.first_segment, c.start_frame, c.frames) for c in kept.chunks] == [
        (0, 0, 120),
        (1, 120, 120),
        (2, 240, 72),
    ]
    folded = plan(duration_s=9.0, **one_each)  # 270 frames: 2 segments and 30, folded into the last
    assert [(c.first_segment, c.start_frame, c.frames) for c in folded.chunks] == [(0, 0, 120), (1, 120, 150)]
    assert folded.chunks[-1].last


def test_chunk_times_are_exact_on_an_ntsc_grid() -> None:
    p = plan(duration_s=60.0, rate=NTSC, segment_frames=120)
    second = p.chunk(1)
    assert second.start_s(NTSC) == pytest.approx(float(Fraction(120 * 1001, 30000)), abs=1e-12)  # 4.004 s
    assert second.end_s(NTSC) == p.chunk(2).start_s(NTSC)


def test_weights_follow_the_cost_model() -> None:
    p = plan(duration_s=8.0)
    by_rendition = {i.renditions[0]: i.weight for i in video_items(p) if i.chunk == 0}
    assert by_rendition["1080p"] > by_rendition["720p"] > by_rendition["480p"] > by_rendition["360p"]
    audio = p.item("audio")
    assert audio.weight == pytest.approx(8.0 * DEFAULT_COSTS.audio_per_second)
    with pytest.raises(KeyError):
        p.item("c99999")


def test_without_audio_there_is_no_audio_item() -> None:
    p = plan(audio=False)
    assert all(i.kind is ItemKind.VIDEO for i in p.items)


@pytest.mark.parametrize(("tracks", "expected"), [(0, []), (1, ["audio"]), (3, ["audio", "audio-1", "audio-2"])])
def test_one_audio_item_per_track_the_default_first(tracks: int, expected: list[str]) -> None:
    p = plan(duration_s=8.0, audio=tracks)
    audio = [i for i in p.items if i.kind is ItemKind.AUDIO]
    assert [i.item_id for i in audio] == expected
    assert p.items[: len(expected)] == tuple(audio)  # before the video: the preview waits for the default
    for item in audio:
        assert (item.chunk, item.renditions) == (None, ())
        assert item.weight == pytest.approx(8.0 * DEFAULT_COSTS.audio_per_second)  # each its own weight
    assert [i.item_id for i in video_items(p)] == [i.item_id for i in video_items(plan(duration_s=8.0))]


def test_audio_item_ids() -> None:
    assert [audio_item_id(n) for n in range(3)] == ["audio", "audio-1", "audio-2"]
    with pytest.raises(ValueError, match="no audio track"):
        audio_item_id(-1)


def test_a_segment_no_worker_can_encode_is_refused_as_too_long() -> None:
    # One 4 s segment of the heaviest rung needs about 11 CPU-seconds; a 10 s, 1 vCPU worker has 10.
    with pytest.raises(PolicyViolation) as caught:
        plan(budget=WorkerBudget(timeout_s=10, vcpus=1.0))
    assert caught.value.field == "duration"
    assert str(caught.value).startswith("duration: one 4 s segment")
    assert "can spend 10" in str(caught.value)


def test_a_costlier_model_refuses_sooner() -> None:
    budget = WorkerBudget(timeout_s=30, vcpus=1.0)
    plan(budget=budget)  # fits with the default costs
    with pytest.raises(PolicyViolation):
        plan(budget=budget, costs=CostModel(safety=6.0))


def test_nothing_to_plan_without_renditions() -> None:
    empty: Sequence[Shape] = ()
    with pytest.raises(ValueError, match="no renditions"):
        plan(renditions=empty)


def test_cost_model_is_linear_in_the_pixel_rate() -> None:
    costs = CostModel()
    assert costs.encode(1920, 1080, 30) == pytest.approx(costs.encode_per_reference)
    assert costs.encode(1280, 720, 60) == pytest.approx(costs.encode(1920, 1080, 30) * 8 / 9)
    assert costs.decode(3840, 2160, 30) == pytest.approx(4 * costs.decode_per_reference)
    assert WorkerBudget(timeout_s=900, vcpus=2).cpu_seconds == 900.0  # half kept in reserve
    assert math.isclose(WorkerBudget(timeout_s=100, vcpus=1, utilisation=1).cpu_seconds, 100)


def test_an_hdr_source_costs_its_tone_map_so_its_chunks_are_shorter() -> None:
    """The tone map roughly triples the decode: a worker's budget holds fewer HDR segments."""
    from fractions import Fraction

    from lambdas.media.chunking import Shape, WorkerBudget, plan_chunks

    def longest(tone_mapped: bool) -> int:
        plan = plan_chunks(
            duration_s=600,
            rate=Fraction(30),
            segment_frames=120,
            source=Shape(name="source", width=3840, height=2160),
            source_rate=30,
            renditions=[Shape(name="1080p", width=1920, height=1080), Shape(name="720p", width=1280, height=720)],
            audio=1,
            concurrency=4,
            max_chunk_segments=100,
            budget=WorkerBudget(timeout_s=120, vcpus=2),
            tone_mapped=tone_mapped,
        )
        return max(c.segments for c in plan.chunks)

    assert longest(tone_mapped=True) < longest(tone_mapped=False)
