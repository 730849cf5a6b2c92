"""Quality scores of box rungs: a padded rung is compared on its picture only, a cropped one with the same part
of the source; on the layer's ffmpeg, a good rung scores high either way, and comparing frames as a whole (the
bars, or the whole source against a crop) would not."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from lambdas.media.ffmpeg_args import chunk_argv, video_piece_argv
from lambdas.media.geometry import Rect
from lambdas.media.ladder import LadderConfig, Rendition, Rung, plan_ladder
from lambdas.media.policy import ValidationPolicy
from lambdas.media.probe import MediaInfo, probe_source
from lambdas.media.quality import ChunkQuality, Comparison, Metric, comparison, measure, reference_size
from lambdas.media.runner import run
from tests.unit.media.conftest import load_info, make_clip

POLICY = ValidationPolicy()
RATE = Fraction(30)


def boxed(fit: str, width: int = 240, height: int = 240) -> LadderConfig:
    rung = Rung(name="box", short_side=min(width, height), width=width, height=height, maxrate_kbps=20_000, crf=18)
    return LadderConfig(rungs=(rung,), fit=fit)  # type: ignore[arg-type]


def test_a_padded_rung_is_compared_on_its_picture_at_the_sources_size() -> None:
    info = load_info("landscape_h264_aac")  # 320x240
    (rendition,) = plan_ladder(info, config=boxed("pad", 240, 426))
    assert comparison(info, [rendition]) == Comparison(
        size=reference_size(info), rung_crops=(Rect(width=240, height=180, x=0, y=122),)
    )


def test_a_cropped_rung_is_compared_with_the_same_part_of_the_source() -> None:
    info = load_info("landscape_h264_aac")  # 320x240, 4:3
    (rendition,) = plan_ladder(info, config=boxed("crop"))
    assert comparison(info, [rendition]) == Comparison(
        size=(240, 240), source_crop=Rect(width=240, height=240, x=40, y=0), rung_crops=(None,)
    )


def test_a_rung_without_a_box_is_compared_as_before() -> None:
    info = load_info("landscape_h264_aac")
    renditions = plan_ladder(info)
    assert comparison(info, renditions) == Comparison(size=reference_size(info), rung_crops=(None,))


def _encoded(tmp_path: Path, ladder: LadderConfig) -> tuple[Path, MediaInfo, list[Rendition], list[Path]]:
    source = make_clip(tmp_path / "source.mp4", "-crf", "10", seconds=2, audio=False)
    info = probe_source(source, POLICY.format_whitelist)
    renditions = plan_ladder(info, segment_seconds=1, config=ladder)
    piece = tmp_path / "piece.mkv"
    run(video_piece_argv(source, info, POLICY, piece, seek=0, end=None), cwd=tmp_path, timeout=60)
    outputs = [tmp_path / f"{r.name}.mp4" for r in renditions]
    argv = chunk_argv(piece, info, POLICY, renditions, outputs, rate=RATE, segment_frames=30, start=0.0, frames=60)
    run(argv, cwd=tmp_path, timeout=60)
    return piece, info, renditions, outputs


def _score(
    tmp_path: Path, piece: Path, info: MediaInfo, renditions: list[Rendition], outputs: list[Path], *, fitted: bool
) -> ChunkQuality:
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
        metric=Metric.SSIM,
        renditions=renditions if fitted else (),
    )


@pytest.mark.parametrize("fit", ["pad", "crop"])
def test_a_good_box_rung_scores_high_only_when_like_is_compared_with_like(
    layer_path: Path, tmp_path: Path, fit: str
) -> None:
    piece, info, renditions, outputs = _encoded(tmp_path, boxed(fit))
    fitted = _score(tmp_path, piece, info, renditions, outputs, fitted=True)
    assert fitted.error is None, fitted.error
    whole = _score(tmp_path, piece, info, renditions, outputs, fitted=False)
    assert whole.error is None, whole.error
    assert fitted.rungs["box"].mean > 0.95
    # The frame as a whole against the whole source: bars against picture, or a crop against all of it.
    assert whole.rungs["box"].mean < fitted.rungs["box"].mean - 0.2
