"""A private scratch directory per step (on Lambda, /tmp: ephemeral storage), always removed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A private temp dir removed afterwards, whatever happens."""
    with tempfile.TemporaryDirectory(prefix=f"vodpipe-{prefix}-") as name:
        yield Path(name)
