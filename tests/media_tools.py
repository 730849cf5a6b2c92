"""The layer's real ffmpeg/ffprobe for tests in every tier (never the host's)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

LAYER_BIN = Path(__file__).resolve().parents[1] / "layers" / "ffmpeg" / "build" / "bin"


def ffprobe_json(path: Path, *args: str) -> dict[str, Any]:
    """ffprobe's JSON for `path` with extra options (`-show_streams`, `-select_streams v:0`, ...)."""
    out = subprocess.run(
        [str(LAYER_BIN / "ffprobe"), "-v", "error", "-print_format", "json", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data
