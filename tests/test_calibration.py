"""Temperature calibration: the fit recovers a known temperature, the model file carries it, and every
backend applies it without changing the text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crnn_ctc import Recognizer
from crnn_ctc.bundle import load_bundle, read_description, save_bundle
from crnn_ctc.calibration import Observation, confidences_at, expected_calibration_error, fit_temperature
from crnn_ctc.errors import ModelFileError
from crnn_ctc.runtime.tempered import temper


def test_temper_renormalises_and_keeps_each_steps_best_class(rng: np.random.Generator) -> None:
    logits = rng.normal(0, 3, (2, 7, 5))
    log_probs = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
    for temperature in (0.5, 2.0):
        tempered = temper(log_probs, temperature)
        assert np.allclose(np.exp(tempered).sum(-1), 1.0, atol=1e-5)
        assert (tempered.argmax(-1) == log_probs.argmax(-1)).all()
    assert temper(log_probs, 1.0) is log_probs


def test_fit_recovers_the_temperature_that_made_the_outcomes(rng: np.random.Generator) -> None:
    # One step, three classes; the decoded text is class 1. Outcomes are drawn from the confidence at
    # T = 2, so the network's own (T = 1) confidence is overconfident and the fit must find about 2.
    observations, true_temperature = [], 2.0
    for margin in rng.uniform(-1, 8, 3000):
        logits = np.array([[0.0, margin, 0.0]])
        log_probs = logits - np.log(np.exp(logits).sum())
        p_true = np.exp(temper(log_probs, true_temperature))[0, 1]
        observations.append(Observation(log_probs.astype(np.float32), [1], bool(rng.random() < p_true)))
    temperature, figures = fit_temperature(observations)
    assert temperature == pytest.approx(true_temperature, rel=0.15)
    assert figures["ece_after"] < figures["ece_before"]
    correct = np.array([o.correct for o in observations])
    assert expected_calibration_error(confidences_at(observations, temperature), correct) < 0.03


def test_the_model_file_carries_the_temperature_and_recognizers_apply_it(
    model_path: Path, word_images: list[Path], tmp_path: Path
) -> None:
    bundle = load_bundle(model_path)
    bundle.calibration = {"temperature": 2.5, "fitted_on": ["test"]}
    calibrated = save_bundle(bundle, tmp_path / "calibrated.safetensors")
    assert read_description(calibrated)["calibration"]["temperature"] == 2.5
    assert load_bundle(calibrated).info.temperature == 2.5
    for backend in ("torch", "onnx"):
        plain = Recognizer.load(model_path, backend=backend).recognize(word_images)
        tempered = Recognizer.load(calibrated, backend=backend).recognize(word_images)
        assert [p.text for p in tempered] == [p.text for p in plain]
        # A higher temperature spreads each step's probability: confident texts become less so.
        assert all(t.confidence < p.confidence for t, p in zip(tempered, plain, strict=True) if p.confidence > 0.5)


def test_a_model_file_with_a_bad_temperature_is_refused(model_path: Path, tmp_path: Path) -> None:
    bundle = load_bundle(model_path)
    bundle.calibration = {"temperature": -1}
    path = save_bundle(bundle, tmp_path / "bad.safetensors")
    with pytest.raises(ModelFileError, match="temperature"):
        load_bundle(path)


def test_calibrate_command_writes_a_calibrated_copy_and_never_the_model(model_path: Path, tmp_path: Path) -> None:
    from conftest import WORDS, render_word
    from crnn_ctc.cli import main

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    lines = []
    for index in range(60):  # the fixture model reads these words; some are drawn at another scale
        word = WORDS[index % len(WORDS)]
        render_word(word, scale=1 + index % 3, ink=40 * (index % 4)).save(data / "images" / f"{index}.png")
        lines.append(f"images/{index}.png\t{word}")
    (data / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "calibrated.safetensors"
    assert main(["calibrate", "--model", str(model_path), "--data", str(data / "labels.tsv"), "--out", str(out)]) == 0
    calibration = read_description(out)["calibration"]
    assert 0.4 <= calibration["temperature"] <= 4.0 and calibration["samples"] == 60
    before = model_path.read_bytes()
    code = main(["calibrate", "--model", str(model_path), "--data", str(data / "labels.tsv"), "--out", str(model_path)])
    assert code == 2 and model_path.read_bytes() == before
