"""benchmarks/int8_speed.py: its three engines are the ones it names, and it prints a row for each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "int8_speed.py"


def test_int8_speed_prints_the_three_graphs() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--threads", "1", "--batch", "2", "--widths", "16,24"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert names[0] == "fp32" and names[2] == "int8, default kernels" and len(names) == 3
    assert names[1].startswith("int8, as OnnxEngine runs it here (")
    assert all(len(row.split(" | ")) == 3 and float(row.split(" | ")[1]) > 0 for row in rows)
