"""The benchmarks' own modules (bench/) import each other by their bare names, as the
scripts run from that folder: their tests find them the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)
