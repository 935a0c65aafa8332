"""Confidence calibration by temperature: a confidence users can threshold.

The confidence is P(text | image) under the network's per-step distributions (docs/confidence.md).
A network trained with CTC on synthetic data is often over- or underconfident on real images; one
scalar T, dividing every log-probability before renormalising, fixes most of that without changing
the greedy text (each step's best class stays the best). T is fitted on held-out *synthetic* words
and lines, never on the real set the model is judged on, and stored in the model file
(``ModelBundle.calibration``), so every backend and the service apply it (``runtime.TemperedEngine``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .api import Recognizer
from .bundle import load_bundle, save_bundle
from .decode import ctc
from .errors import ConfigError
from .runtime.tempered import temper

# The fit's grid: fine enough that the ECE it leaves differs from the optimum's by far less than noise.
TEMPERATURE_GRID = tuple(float(t) for t in np.round(np.exp(np.linspace(np.log(0.4), np.log(4.0), 93)), 4))


@dataclass(frozen=True)
class Observation:
    """One recognized sample: its valid log-probs, the decoded label's classes, and whether it was right."""

    log_probs: np.ndarray  # (T, classes)
    decoded: Sequence[int]
    correct: bool


def confidences_at(observations: Sequence[Observation], temperature: float) -> np.ndarray:
    """P(decoded text | image) of every observation with log-probs divided by ``temperature``."""
    values = np.empty(len(observations))
    for start in range(0, len(observations), 256):
        chunk = observations[start : start + 256]
        steps = max(len(o.log_probs) for o in chunk)
        classes = chunk[0].log_probs.shape[1]
        padded = np.full((len(chunk), steps, classes), -1e4, dtype=np.float64)
        for row, observation in enumerate(chunk):
            padded[row, : len(observation.log_probs)] = temper(observation.log_probs, temperature)
        lengths = np.array([len(o.log_probs) for o in chunk])
        labels, label_lengths = ctc.pad_labels([o.decoded for o in chunk])
        values[start : start + len(chunk)] = np.exp(ctc.log_likelihood(padded, lengths, labels, label_lengths))
    return values


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE over ``bins`` equal-mass bins (as benchmarks/calibration.py reports it)."""
    order = np.argsort(confidence, kind="stable")
    parts = [part for part in np.array_split(order, bins) if len(part)]
    total = len(confidence)
    return float(sum(len(p) / total * abs(correct[p].mean() - confidence[p].mean()) for p in parts))


def fit_temperature(observations: Sequence[Observation]) -> tuple[float, dict[str, float]]:
    """The T on ``TEMPERATURE_GRID`` with the smallest log loss of "right or wrong" given the
    confidence (a proper score: it rewards honest probabilities, unlike ECE alone), and the ECE
    before and after."""
    if len(observations) < 50:
        raise ConfigError(f"calibration needs at least 50 samples, got {len(observations)}")
    correct = np.array([o.correct for o in observations], dtype=bool)

    def log_loss(temperature: float) -> float:
        p = np.clip(confidences_at(observations, temperature), 1e-6, 1 - 1e-6)
        return float(-np.mean(np.where(correct, np.log(p), np.log1p(-p))))

    losses = {t: log_loss(t) for t in TEMPERATURE_GRID}
    best = min(losses, key=losses.__getitem__)
    before = expected_calibration_error(confidences_at(observations, 1.0), correct)
    after = expected_calibration_error(confidences_at(observations, best), correct)
    return best, {"ece_before": round(before, 4), "ece_after": round(after, 4), "samples": len(observations),
                  "accuracy": round(float(correct.mean()), 4)}  # fmt: skip


def observe(
    recognizer: Recognizer, sources: Sequence[str], protocol: str = "raw", batch_size: int = 64
) -> list[Observation]:
    """Recognize every sample of ``sources`` (greedy, untempered) and record what ``fit_temperature`` needs."""
    from .data.readers import open_source
    from .errors import ImageError
    from .evaluate import normalize
    from .preprocess import collate, preprocess

    engine: Any = getattr(recognizer.engine, "inner", recognizer.engine)  # fit on the network's own distributions
    decoder, info, charset = recognizer.decoder, recognizer.info, recognizer.charset
    observations: list[Observation] = []
    for location in sources:
        source = open_source(location)
        for start in range(0, len(source), batch_size):
            arrays, labels = [], []
            for index in range(start, min(start + batch_size, len(source))):
                data, label = source[index]
                try:
                    arrays.append(preprocess(data, info.preprocess, name=f"{location}#{index}"))
                except ImageError:
                    continue
                labels.append(label)
            if not arrays:
                continue
            batch, widths = collate(arrays)
            log_probs, lengths = engine.run(batch, widths)
            for row, (result, label) in enumerate(zip(decoder.decode(log_probs, lengths), labels, strict=True)):
                right = normalize(result.text, protocol) == normalize(label, protocol)
                steps = np.ascontiguousarray(log_probs[row, : lengths[row]])
                observations.append(Observation(steps, charset.encode(result.text), right))
    return observations


def calibrate_file(
    model: str | Path, sources: Sequence[str], out: str | Path, protocol: str = "raw"
) -> dict[str, float]:
    """Fit T on ``sources`` with ``model`` (PyTorch, fp32) and write the model with it to ``out``."""

    recognizer = Recognizer.load(model, backend="torch", device="cpu", decoder="greedy")
    temperature, figures = fit_temperature(observe(recognizer, sources, protocol))
    bundle = load_bundle(model)
    bundle.calibration = {"temperature": temperature, "fitted_on": [str(s) for s in sources],
                          "protocol": protocol, **figures}  # fmt: skip
    save_bundle(bundle, out)
    return {"temperature": temperature, **figures}
