"""The localruntime plugins run inside LocalStack's venv; their pure modules are importable from the checkout."""

from __future__ import annotations

import sys
from pathlib import Path

LOCALRUNTIME = Path(__file__).resolve().parents[3] / "localruntime"
if str(LOCALRUNTIME) not in sys.path:
    sys.path.insert(0, str(LOCALRUNTIME))
