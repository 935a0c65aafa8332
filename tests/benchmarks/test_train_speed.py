"""benchmarks/train_speed.py: how it reads a run's log, which target applies, and its options."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_speed.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_speed", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


train_speed = _load_benchmark()

HEADER = "step,epoch,loss,lr,samples_per_s,skipped_steps,val_word_accuracy,val_cer,val_1_ned\n"


def test_window_rate_skips_the_first_window_and_weighs_by_time(tmp_path) -> None:
    log = tmp_path / "log.csv"
    # Start-up window (10), two timed windows of equal samples, and a validation row without a rate.
    log.write_text(HEADER + "10,0,3.0,1e-3,10.0,0,,,\n20,0,2.0,1e-3,40.0,0,,,\n20,,,,,,0.5,0.2,0.7\n"
                   "30,0,1.0,1e-3,60.0,0,,,\n", encoding="utf-8")  # fmt: skip
    # Two windows of N samples at 40 and 60 samples/s: 2N samples in N/40 + N/60 seconds.
    assert train_speed.window_rate(log) == pytest.approx(48.0)


def test_window_rate_of_a_single_window_and_of_none(tmp_path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "10,0,3.0,1e-3,25.0,0,,,\n", encoding="utf-8")
    assert train_speed.window_rate(log) == pytest.approx(25.0)
    log.write_text(HEADER, encoding="utf-8")
    with pytest.raises(ValueError, match="no training windows"):
        train_speed.window_rate(log)


def test_the_target_follows_native_bf16() -> None:
    assert train_speed.loop_target(frozenset({"avx2", "avx512f"})) == 0.85
    assert train_speed.loop_target(frozenset({"avx2", "avx512_bf16"})) == 1.6
    assert train_speed.loop_target(frozenset({"amx_bf16"})) == 1.6
    assert train_speed.describe_flags(frozenset({"avx2", "fpu"})) == (
        "has avx2; lacks avx512f avx512_bf16 amx_bf16 avx512_vnni avx_vnni"
    )


def test_splits_are_threads_and_workers() -> None:
    assert train_speed.parse_splits("2:1,1:1,2:0") == [(2, 1), (1, 1), (2, 0)]
