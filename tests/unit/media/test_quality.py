"""The quality report's pieces: the sample, the reference, the command line, the parsers, the sums; and on the
layer's real ffmpeg, that a badly encoded rung scores clearly lower than a good one, with VMAF and with SSIM."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from lambdas.media import quality
from lambdas.media.ffmpeg_args import PIECE_FORMATS, chunk_argv, chunk_filters, video_piece_argv
from lambdas.media.fmp4 import FragmentedTrack, FragmentInfo, read_track
from lambdas.media.ladder import LadderConfig, Rendition, Rung, plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.quality import (
    ChunkQuality,
    Clip,
    Metric,
    RungQuality,
    Sample,
    clip_fragments,
    combine,
    measure,
    metric_from_filters,
    parse_ssim_stats,
    parse_vmaf_log,
    plan_sample,
    quality_argv,
    quality_timeout,
    reference_size,
    summarize,
    write_clip,
)
from lambdas.media.runner import run
from tests.unit.media.conftest import load_info, make_clip

POLICY = ValidationPolicy()
RATE = Fraction(30)

# Captured from the layer's ffmpeg 6.0 / libvmaf 2.3.0 (n_subsample=5 over 12 frames of a crf 35 encode).
# Its pooled "vmaf" is frame 0's alone: libvmaf 2.3.0 pools only part of the frames it subsamples.
VMAF_LOG = json.dumps(
    {
        "version": "2.3.0",
        "frames": [
            {"frameNum": 0, "metrics": {"integer_motion2": 0.0, "integer_adm2": 0.962253, "vmaf": 81.435255}},
            {"frameNum": 5, "metrics": {"integer_motion2": 1.606332, "integer_adm2": 0.953227, "vmaf": 80.626170}},
            {"frameNum": 10, "metrics": {"integer_motion2": 1.731201, "integer_adm2": 0.958704, "vmaf": 83.587060}},
        ],
        "pooled_metrics": {
            "integer_adm2": {"min": 0.962253, "max": 0.962253, "mean": 0.962253, "harmonic_mean": 0.962253},
            "vmaf": {"min": 81.435255, "max": 81.435255, "mean": 81.435255, "harmonic_mean": 81.435255},
        },
        "aggregate_metrics": {},
    },
    indent=2,
)
SSIM_STATS = """n:1 Y:0.953194 U:0.973220 V:0.987355 All:0.962225 (14.228008)
n:2 Y:0.949657 U:0.967783 V:0.977568 All:0.957330 (13.698742)
n:3 Y:0.947892 U:0.968615 V:0.978374 All:0.956426 (13.607731)
"""
FILTERS = """Filters:
  T.. = Timeline support
  .S. = Slice threading
  A = Audio input/output
  | = Source or sink filter
 ... abench            A->A       Benchmark part of a filtergraph.
 ... libvmaf           VV->V      Calculate the VMAF between two video streams.
 TS. psnr              VV->V      Calculate the PSNR between two video streams.
 TS. ssim              VV->V      Calculate the SSIM between two video streams.
 ... ssim360           VV->V      Calculate the SSIM between two 360 video streams.
 ... testsrc2          |->V       Generate another test pattern.
"""


# --- the sample ---


def test_a_short_chunk_is_scored_on_one_frame_after_a_warm_up() -> None:
    # 1 s chunks, one segment each (the unit tests' clips): the window opens the chunk.
    assert plan_sample(30, 30, RATE) == Sample(first=0, frames=8, subsample=6)
    assert plan_sample(30, 30, RATE).scored == 1
    # A 4 s chunk of one segment: still one frame, right after the chunk's keyframe, not in its middle.
    assert plan_sample(120, 120, RATE) == Sample(first=0, frames=8, subsample=6)


def test_the_window_starts_at_the_segment_start_nearest_the_middle() -> None:
    assert plan_sample(240, 120, RATE).first == 120  # 8 s, two segments
    assert plan_sample(15 * 120, 120, RATE).first == 7 * 120  # 60 s, fifteen
    # A last chunk whose boundary leaves no room: centred instead.
    short = plan_sample(125, 120, RATE)
    assert short.first + short.frames <= 125


def test_longer_chunks_score_more_frames_within_a_second() -> None:
    scored = {seconds: plan_sample(seconds * 30, 120, RATE).scored for seconds in (4, 8, 16, 24, 32, 60)}
    assert scored == {4: 1, 8: 1, 16: 2, 24: 3, 32: 4, 60: 4}
    for rate in (Fraction(24000, 1001), Fraction(25), Fraction(30), Fraction(60)):
        sample = plan_sample(round(60 * rate), round(4 * rate), rate)
        assert sample.frames <= round(quality.SAMPLE_SECONDS * rate)
        assert sample.subsample == round(0.2 * rate)
        assert sample.scored == 4


def test_a_chunk_of_a_few_frames_is_scored_whole() -> None:
    assert plan_sample(3, 120, RATE) == Sample(first=0, frames=3, subsample=1)
    assert plan_sample(2, 120, RATE).scored == 1
    with pytest.raises(ValueError, match="too short"):
        plan_sample(1, 120, RATE)


# --- the reference ---


def resized(info: MediaInfo, width: int, height: int) -> MediaInfo:
    assert info.video is not None
    return info.model_copy(update={"video": info.video.model_copy(update={"width": width, "height": height})})


def test_the_reference_is_the_picture_as_shown_at_most_1080p() -> None:
    landscape = load_info("landscape_h264_aac")
    assert reference_size(landscape) == (320, 240)
    assert reference_size(resized(landscape, 1920, 1080)) == (1920, 1080)
    assert reference_size(resized(landscape, 3840, 2160)) == (1920, 1080)
    assert reference_size(resized(landscape, 1920, 800)) == (1920, 800)
    assert reference_size(load_info("rotated90_h264_aac")) == (240, 320)  # upright
    assert reference_size(load_info("mpegts_mpeg2_anamorphic_51")) == (854, 480)  # square pixels


# --- the command line ---


def argv_for(metric: Metric, clips: list[Clip], info: MediaInfo | None = None) -> list[str]:
    info = info or load_info("landscape_h264_aac")
    return quality_argv(
        Path("/tmp/w/piece.mkv"),
        info,
        POLICY,
        clips,
        rate=RATE,
        start=1.5,
        frames=240,
        sample=Sample(first=120, frames=8, subsample=6),
        reference=(1920, 1080),
        metric=metric,
    )


CLIPS = [Clip(path=Path(f"/tmp/w/quality_clip_{i}.mp4"), skip=i) for i in range(3)]


def test_every_input_is_hardened() -> None:
    argv = argv_for(Metric.VMAF, CLIPS)
    inputs = [i for i, arg in enumerate(argv) if arg == "-i"]
    assert [argv[i + 1] for i in inputs] == ["file:/tmp/w/piece.mkv", *(f"file:{c.path}" for c in CLIPS)]
    for at in inputs:
        head = argv[:at]
        start = len(head) - head[::-1].index("-protocol_whitelist") - 1
        options = argv[start:at]
        assert options[:2] == ["-protocol_whitelist", "file"]
        assert "-codec_whitelist" in options
        assert "-max_pixels" in options
        assert options[-2] == "-f"
    piece_options = argv[: inputs[0]]
    assert piece_options[piece_options.index("-format_whitelist") + 1] == PIECE_FORMATS
    assert piece_options[piece_options.index("-ss") + 1] == "3.933"  # two frames before the window
    assert "-copyts" in piece_options
    assert argv.count("null") == len(CLIPS)


def test_the_reference_is_decoded_as_the_encode_decoded_it() -> None:
    info = load_info("landscape_h264_aac")
    graph = argv_for(Metric.VMAF, CLIPS, info)[argv_for(Metric.VMAF, CLIPS, info).index("-filter_complex") + 1]
    encoded = chunk_argv(
        Path("/tmp/w/piece.mkv"),
        info,
        POLICY,
        [plan_ladder(info)[0]],
        [Path("/tmp/w/out.mp4")],
        rate=RATE,
        segment_frames=120,
        start=1.5,
        frames=240,
    )
    chain = ",".join(chunk_filters(info, rate=RATE, start=1.5, frames=240))
    assert encoded[encoded.index("-filter_complex") + 1].startswith(f"[0:v:0]{chain}")
    assert graph.startswith(f"[0:v:0]{chain},trim=start_pts=120:end_pts=128,setpts=PTS-STARTPTS,scale=1920:1080")
    assert "split=3[ref0][ref1][ref2]" in graph
    for i in range(3):
        rung = f"[{i + 1}:v:0]trim=start_frame={i}:end_frame={i + 8},setpts=PTS-STARTPTS,scale=1920:1080:flags=bicubic"
        assert rung in graph
        vmaf = (
            f"[dist{i}][ref{i}]libvmaf=model=version=vmaf_v0.6.1:n_subsample=6:log_fmt=json:log_path=quality_{i}.json"
        )
        assert vmaf in graph


def test_ssim_keeps_only_the_scored_frames_on_both_sides() -> None:
    graph = argv_for(Metric.SSIM, CLIPS[:1])[argv_for(Metric.SSIM, CLIPS[:1]).index("-filter_complex") + 1]
    assert "libvmaf" not in graph
    assert "split" not in graph
    assert graph.count(r"select=not(mod(n\,6))*gte(n\,1)") == 2
    assert "[dist0][ref0]ssim=stats_file=quality_0.log[q0]" in graph


def test_the_quality_run_gets_what_the_encode_left() -> None:
    assert quality_timeout(840.0, 30.0) == quality.QUALITY_TIMEOUT_S
    assert quality_timeout(100.0, 60.0) == 40.0
    assert quality_timeout(100.0, 120.0) == 1.0


# --- the parsers ---


def test_vmaf_is_pooled_from_the_frames_without_the_warm_up() -> None:
    score = parse_vmaf_log(VMAF_LOG)
    assert score.metric is Metric.VMAF
    assert score.frames == 2
    assert score.mean == pytest.approx((80.626170 + 83.587060) / 2)
    assert score.min == pytest.approx(80.626170)
    assert score.harmonic_mean == pytest.approx(2 / (1 / 81.626170 + 1 / 84.587060) - 1)
    assert parse_vmaf_log(VMAF_LOG, warmup=0).frames == 3  # and never the log's own (wrong) pooled mean


def test_a_broken_vmaf_log_is_a_value_error() -> None:
    for text in ("", "{", '{"frames": [{"frameNum": 0}]}', '{"frames": 3}', '{"frames": []}'):
        with pytest.raises(ValueError, match=r"unexpected libvmaf log|no VMAF score"):
            parse_vmaf_log(text)
    with pytest.raises(ValueError, match="no VMAF score"):
        parse_vmaf_log(json.dumps({"frames": [{"frameNum": 0, "metrics": {"vmaf": 90.0}}]}))


def test_ssim_stats() -> None:
    score = parse_ssim_stats(SSIM_STATS)
    assert (score.metric, score.frames) == (Metric.SSIM, 3)
    assert score.mean == pytest.approx((0.962225 + 0.957330 + 0.956426) / 3)
    assert score.min == pytest.approx(0.956426)
    with pytest.raises(ValueError, match="no SSIM score"):
        parse_ssim_stats("")


def test_the_metric_is_what_ffmpeg_lists() -> None:
    assert metric_from_filters(FILTERS) is Metric.VMAF
    without_vmaf = "\n".join(line for line in FILTERS.splitlines() if "libvmaf" not in line)
    assert metric_from_filters(without_vmaf) is Metric.SSIM
    assert metric_from_filters(without_vmaf.replace(" ssim ", " xssim ")) is None
    assert metric_from_filters("") is None


# --- adding the chunks up ---


def score(mean: float, low: float, frames: int, metric: Metric = Metric.VMAF) -> RungQuality:
    return RungQuality(metric=metric, mean=mean, min=low, harmonic_mean=mean - 0.5, frames=frames)


def test_chunks_add_up_frame_weighted() -> None:
    combined = combine([score(90.0, 85.0, 1), score(80.0, 70.0, 3)])
    assert combined is not None
    assert (combined.mean, combined.min, combined.frames) == (82.5, 70.0, 4)
    # The harmonic mean of every frame, from each chunk's.
    assert combined.harmonic_mean == pytest.approx(4 / (1 / 90.5 + 3 / 80.5) - 1)
    assert combine([]) is None
    # SSIM where a chunk had no libvmaf does not mix with the others' VMAF.
    mixed = combine([score(90.0, 85.0, 2), score(0.9, 0.8, 5, Metric.SSIM)])
    assert mixed is not None
    assert (mixed.metric, mixed.frames, mixed.mean) == (Metric.VMAF, 2, 90.0)


def test_the_report_lists_each_rung_in_order_and_the_chunks_without_a_score() -> None:
    chunks = {
        "c00000": ChunkQuality(rungs={"720p": score(80.0, 75.0, 1), "1080p": score(90.0, 88.0, 1)}, cpu_seconds=1.0),
        "c00001-1080p": ChunkQuality(rungs={"1080p": score(94.0, 92.0, 3)}, cpu_seconds=0.5),
        "c00001-720p": ChunkQuality(error="VMAF not measured: it took too long"),
    }
    report = summarize(chunks, ["1080p", "720p", "480p"])
    assert list(report.renditions) == ["1080p", "720p"]  # the rungs' order; 480p was never scored
    assert (report.renditions["1080p"].mean, report.renditions["1080p"].frames) == (93.0, 4)
    assert report.renditions["720p"].frames == 1
    assert (report.metric, report.model) == (Metric.VMAF, "vmaf_v0.6.1")
    assert report.chunks_scored == 2
    assert report.missing == {"c00001-720p": "VMAF not measured: it took too long"}
    assert report.warnings == (
        "Quality report incomplete: 1 of 3 work items not scored (VMAF not measured: it took too long).",
    )
    assert report.cpu_seconds == 1.5
    empty = summarize({"c00000": ChunkQuality(error="no")}, ["1080p"])
    assert (empty.metric, empty.model, empty.renditions) == (None, None, {})


def test_the_fragments_that_hold_the_window() -> None:
    track = FragmentedTrack(
        init_size=100,
        timescale=90_000,
        fragments=tuple(
            FragmentInfo(
                offset=100 + 10 * i,
                size=10,
                decode_time=i * 3000 * 30,
                duration=90_000,
                sample_count=30,
                starts_with_sync=True,
            )
            for i in range(4)
        ),
    )
    assert clip_fragments(track, Sample(first=30, frames=8, subsample=6)) == ((track.fragments[1],), 0)
    assert clip_fragments(track, Sample(first=55, frames=8, subsample=6)) == (track.fragments[1:3], 25)
    with pytest.raises(ValueError, match="120 frames"):
        clip_fragments(track, Sample(first=120, frames=8, subsample=6))


# --- on the layer's ffmpeg ---


@pytest.fixture
def encoded(layer_path: Path, tmp_path: Path) -> tuple[Path, MediaInfo, list[Rendition], list[Path]]:
    """A detailed 2 s clip as a chunk's piece, encoded at crf 18 and crf 45 at the same size, 1 s segments."""
    source = make_clip(tmp_path / "source.mp4", "-crf", "10", seconds=2, audio=False)
    info = probe_source(source, POLICY.format_whitelist)
    ladder = LadderConfig(
        rungs=(
            Rung(name="good", short_side=240, maxrate_kbps=20_000, crf=18),
            Rung(name="poor", short_side=240, maxrate_kbps=20_000, crf=45),
        )
    )
    renditions = plan_ladder(info, segment_seconds=1, config=ladder)
    piece = tmp_path / "piece.mkv"
    run(video_piece_argv(source, info, POLICY, piece, seek=0, end=None), cwd=tmp_path, timeout=60)
    outputs = [tmp_path / f"{r.name}.mp4" for r in renditions]
    argv = chunk_argv(piece, info, POLICY, renditions, outputs, rate=RATE, segment_frames=30, start=0.0, frames=60)
    run(argv, cwd=tmp_path, timeout=60)
    return piece, info, renditions, outputs


def measured(
    encoded: tuple[Path, MediaInfo, list[Rendition], list[Path]], tmp_path: Path, metric: Metric | None
) -> ChunkQuality:
    piece, info, renditions, outputs = encoded
    return measure(
        piece,
        info,
        POLICY,
        [(r.name, out) for r, out in zip(renditions, outputs, strict=True)],
        rate=RATE,
        start=0.0,
        frames=60,
        chunk_frames=60,
        segment_frames=30,
        cwd=tmp_path,
        timeout=60,
        run=run,
        metric=metric,
    )


def test_a_high_crf_scores_clearly_lower_vmaf(
    encoded: tuple[Path, MediaInfo, list[Rendition], list[Path]], tmp_path: Path
) -> None:
    result = measured(encoded, tmp_path, None)  # VMAF: the layer's ffmpeg has libvmaf
    assert result.error is None
    good, poor = result.rungs["good"], result.rungs["poor"]
    assert good.metric is poor.metric is Metric.VMAF
    assert good.frames == poor.frames == 1
    assert good.mean > 90  # the frames line up: a misaligned frame of this moving card scores far lower
    assert poor.mean < good.mean - 20
    assert result.cpu_seconds > 0
    assert not list(tmp_path.glob("quality_*"))  # logs and clips cleaned up


def test_without_libvmaf_ssim_ranks_them_the_same_way(
    encoded: tuple[Path, MediaInfo, list[Rendition], list[Path]], tmp_path: Path
) -> None:
    result = measured(encoded, tmp_path, Metric.SSIM)
    assert result.error is None
    good, poor = result.rungs["good"], result.rungs["poor"]
    assert good.metric is poor.metric is Metric.SSIM
    assert good.mean > 0.97
    assert poor.mean < good.mean - 0.05


def test_the_window_is_found_in_a_later_segment(
    encoded: tuple[Path, MediaInfo, list[Rendition], list[Path]], tmp_path: Path
) -> None:
    _, _, _, outputs = encoded
    sample = Sample(first=33, frames=8, subsample=6)
    clip = write_clip(outputs[0], tmp_path / "clip.mp4", sample)
    assert clip.skip == 3
    track = read_track(clip.path)
    assert [f.sample_count for f in track.fragments] == [30]
    assert track.fragments[0].starts_with_sync


def test_a_failed_quality_run_is_recorded_not_raised(
    encoded: tuple[Path, MediaInfo, list[Rendition], list[Path]], tmp_path: Path
) -> None:
    piece, info, renditions, outputs = encoded
    piece.write_bytes(piece.read_bytes()[:2000])  # a piece cut short: ffmpeg fails on it
    result = measured(encoded, tmp_path, None)
    assert result.rungs == {}
    assert result.error is not None
    assert result.error.startswith("VMAF not measured: ")
    shutil.rmtree(tmp_path / "gone", ignore_errors=True)
    missing = measured((tmp_path / "gone" / "piece.mkv", info, renditions, outputs), tmp_path, Metric.SSIM)
    assert missing.error is not None
    assert missing.error.startswith("SSIM not measured: ")


def test_a_rung_one_frame_off_scores_far_lower(
    encoded: tuple[Path, MediaInfo, list[Rendition], list[Path]], tmp_path: Path
) -> None:
    """What makes the scores mean something: frame n of the reference is frame n of the rung."""
    piece, info, _, outputs = encoded
    sample = Sample(first=30, frames=14, subsample=6)
    clip = write_clip(outputs[0], tmp_path / "clip.mp4", sample)
    scores = []
    for skip in (clip.skip, clip.skip + 1):
        argv = quality_argv(
            piece,
            info,
            POLICY,
            [Clip(path=clip.path, skip=skip)],
            rate=RATE,
            start=0.0,
            frames=60,
            sample=sample,
            reference=reference_size(info),
            metric=Metric.VMAF,
        )
        run(argv, cwd=tmp_path, timeout=60)
        scores.append(parse_vmaf_log((tmp_path / "quality_0.json").read_text()).mean)
    aligned, shifted = scores
    assert aligned > 90
    assert shifted < aligned - 10


@pytest.mark.parametrize(
    ("chunks", "scored"), [(1, [0]), (5, [0, 1, 2, 3, 4]), (12, list(range(12))), (30, list(range(0, 30, 3)))]
)
def test_at_most_a_dozen_chunks_evenly_spread_are_scored(chunks: int, scored: list[int]) -> None:
    from lambdas.media.quality import MAX_SCORED_CHUNKS, scored_chunk

    chosen = [i for i in range(chunks) if scored_chunk(i, chunks)]
    assert chosen == scored
    assert len(chosen) <= MAX_SCORED_CHUNKS
