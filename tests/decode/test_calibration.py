"""benchmarks/calibration.py: its measures on hand-made cases, and one run end to end on the fixture model."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from conftest import WORDS

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def calibration(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports model_cost's table formatting
    spec = importlib.util.spec_from_file_location("calibration", BENCHMARKS / "calibration.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "calibration", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_ece_and_auroc_on_hand_made_cases(calibration) -> None:
    confidence = np.array([0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    correct = np.array([False, False, True, True, True, False])
    bins = calibration.equal_mass_bins(confidence, 2)
    assert [sorted(b.tolist()) for b in bins] == [[0, 1, 2], [3, 4, 5]]
    # Bin 1: confidences 0.1, 0.1, 0.9 (mean 0.367), one right; bin 2: mean 0.9, two of three right.
    assert calibration.ece(confidence, correct, bins) == pytest.approx(
        0.5 * abs(1 / 3 - 1.1 / 3) + 0.5 * abs(2 / 3 - 0.9)
    )
    width_bins = calibration.equal_width_bins(confidence, 10)
    assert calibration.ece(confidence, correct, width_bins) == pytest.approx(2 / 6 * 0.1 + 4 / 6 * 0.15)
    assert calibration.auroc(np.array([0.9, 0.8, 0.2]), np.array([True, True, False])) == 1.0
    assert calibration.auroc(np.array([0.1, 0.8]), np.array([True, False])) == 0.0
    assert calibration.auroc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5


def test_runs_end_to_end(calibration, capsys, model_path, word_images, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for path in word_images:
        shutil.copy(path, data / path.name)
    labels = "".join(f"{p.name}\t{w.upper()}\n" for p, w in zip(word_images, WORDS, strict=True))
    excluded = f"{word_images[0].name}\t!!!\n"  # empty under the protocol: not scored
    (data / "labels.tsv").write_text(labels + excluded, encoding="utf-8")
    calibration.main(["--model", str(model_path), "--data", str(data), "--out", str(tmp_path / "out"), "--bins", "3"])
    out = capsys.readouterr().out
    assert "10 samples scored" in out and "word accuracy 100.00%" in out
    assert "| ours: P(text \\| image) |" in out and "| 0.5 | " in out
    assert (tmp_path / "out" / "reliability.png").stat().st_size > 10_000
