"""Shared fixtures for the media unit tests: recorded ffprobe JSON and the layer's real binaries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lambdas.media.probe import MediaInfo, parse_probe

FIXTURES = Path(__file__).parent / "fixtures"
LAYER_BIN = Path(__file__).resolve().parents[3] / "layers" / "ffmpeg" / "build" / "bin"


def load_probe_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def load_info(name: str) -> MediaInfo:
    return parse_probe(load_probe_json(name))


@pytest.fixture
def layer_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the layer's bin/ first on PATH, as /opt/bin is on Lambda; skip if the layer is not built."""
    if not (LAYER_BIN / "ffmpeg").is_file():
        pytest.skip("ffmpeg layer not built: python layers/ffmpeg/build.py")
    monkeypatch.setenv("PATH", f"{LAYER_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return LAYER_BIN


def make_clip(out: Path, *args: str, seconds: float = 2, size: str = "320x240", audio: bool = True) -> Path:
    """A small deterministic test clip made with the layer's ffmpeg."""
    ffmpeg = shutil.which("ffmpeg", path=str(LAYER_BIN))
    assert ffmpeg, "layer ffmpeg missing"
    argv = [ffmpeg, "-hide_banner", "-v", "error", "-y", "-f", "lavfi"]
    argv += ["-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        argv += ["-c:a", "aac", "-ac", "2"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *args, str(out)]
    subprocess.run(argv, check=True)
    return out
