"""Fixtures for the client tests: the fake API on a local port, and a config dir of our own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.client.fake_api import FakeVodpipe


@pytest.fixture
def fake() -> Iterator[FakeVodpipe]:
    # Parts of 64 KiB instead of S3's 5 MiB minimum keep the files small and the part counts interesting.
    with FakeVodpipe(min_part_size=64 * 1024, default_part_size=64 * 1024) as api:
        yield api


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("VODPIPE_CONFIG_DIR", str(directory))
    for name in ("VODPIPE_API_URL", "VODPIPE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return directory


def make_file(path: Path, size: int, seed: int = 7) -> Path:
    """Deterministic, incompressible-looking bytes: a misplaced part shows up in the hash."""
    chunk = bytearray()
    value = seed
    while len(chunk) < min(size, 1 << 20):
        value = (value * 6364136223846793005 + 1442695040888963407) % 2**64
        chunk += value.to_bytes(8, "little")
    block = bytes(chunk)
    with path.open("wb") as fh:
        written = 0
        counter = 0
        while written < size:
            # The counter makes every MiB different from the one before.
            piece = counter.to_bytes(8, "little") + block[8:]
            piece = piece[: size - written]
            fh.write(piece)
            written += len(piece)
            counter += 1
    os.utime(path)
    return path
