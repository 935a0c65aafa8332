"""benchmarks/train_memory.py: one row per capacity and round, each with its figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_memory.py"


def test_train_memory_prints_a_row_per_capacity() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--capacities", "1024,4", "--rounds", "1", "--steps", "1"],
        capture_output=True, text=True, timeout=300, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    rows = [line.split() for line in run.stdout.splitlines()[2:]]
    assert [row[0] for row in rows] == ["1024", "4"]
    assert all(float(row[2]) > 0 and float(row[4]) >= float(row[3]) > 0 for row in rows)
