"""How a job's quality report reads in a terminal."""

from __future__ import annotations

from vodpipe.client.render import quality_lines


def test_one_line_per_rung_names_aligned() -> None:
    lines = quality_lines(
        [
            {"rendition": "1080p", "metric": "vmaf", "mean": 94.06, "min": 88.0, "frames": 24},
            {"rendition": "360p", "metric": "vmaf", "mean": 61.54, "min": 52.04, "frames": 24},
        ]
    )
    assert [line.plain for line in lines] == [
        "  1080p  VMAF 94.1 (min 88.0, 24 frames)",
        "  360p   VMAF 61.5 (min 52.0, 24 frames)",
    ]


def test_ssim_keeps_its_decimals() -> None:
    (line,) = quality_lines([{"rendition": "720p", "metric": "ssim", "mean": 0.98213, "min": 0.9611, "frames": 6}])
    assert line.plain == "  720p  SSIM 0.982 (min 0.961, 6 frames)"
    assert quality_lines([]) == []
