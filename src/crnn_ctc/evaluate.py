"""Metrics under named protocols: word accuracy, CER and 1 - NED, with the excluded samples counted.

Protocols say how label and prediction are normalised before comparing them:
- ``lower-alnum``: lowercase, keep only [0-9a-z] (the paper's and the public benchmarks' protocol);
- ``alnum``: keep only [0-9a-zA-Z], case-sensitive;
- ``raw``: compare as they are.
A sample whose label is empty after normalisation is excluded and counted, as the public
benchmarks do. The seed's "accuracy" matched characters position by position; this is not that:
word accuracy counts a prediction right only when it equals the label.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import Levenshtein

from .errors import ConfigError, SampleError

_NON_LOWER_ALNUM = re.compile(r"[^0-9a-z]")
_NON_ALNUM = re.compile(r"[^0-9a-zA-Z]")

PROTOCOLS: dict[str, Callable[[str], str]] = {
    "lower-alnum": lambda text: _NON_LOWER_ALNUM.sub("", text.lower()),
    "alnum": lambda text: _NON_ALNUM.sub("", text),
    "raw": lambda text: text,
}


def normalize(text: str, protocol: str) -> str:
    try:
        return PROTOCOLS[protocol](text)
    except KeyError:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}") from None


@dataclass(frozen=True)
class Scored:
    """One evaluated sample, after normalisation."""

    label: str
    prediction: str
    confidence: float
    correct: bool
    edit_distance: int


@dataclass
class Report:
    """Aggregated metrics of one dataset under one protocol."""

    protocol: str
    samples: int = 0
    excluded: int = 0
    correct: int = 0
    edit_distance: int = 0
    label_characters: int = 0
    ned_sum: float = 0.0
    word_errors: int = 0  # word-level edit distance (labels split at whitespace), summed
    label_words: int = 0
    scored: list[Scored] = field(default_factory=list, repr=False)

    @property
    def word_accuracy(self) -> float:
        return self.correct / self.samples if self.samples else 0.0

    @property
    def cer(self) -> float:
        """Character error rate: total edit distance over total label characters."""
        return self.edit_distance / self.label_characters if self.label_characters else 0.0

    @property
    def wer(self) -> float:
        """Word error rate: word-level edit distance over label words (for lines; use the ``raw``
        protocol, since the others drop spaces and so see one word per sample)."""
        return self.word_errors / self.label_words if self.label_words else 0.0

    @property
    def one_minus_ned(self) -> float:
        """Mean of 1 - edit distance / max(len(label), len(prediction)) (the ICDAR 2019 measure)."""
        return 1.0 - self.ned_sum / self.samples if self.samples else 0.0

    def add(self, label: str, prediction: str, confidence: float = 0.0) -> None:
        label = normalize(label, self.protocol)
        if not label:
            self.excluded += 1
            return
        prediction = normalize(prediction, self.protocol)
        distance = Levenshtein.distance(label, prediction)
        self.samples += 1
        self.correct += label == prediction
        self.edit_distance += distance
        self.label_characters += len(label)
        self.ned_sum += distance / max(len(label), len(prediction))
        label_words = label.split()
        self.word_errors += Levenshtein.distance(label_words, prediction.split())
        self.label_words += len(label_words)
        self.scored.append(Scored(label, prediction, confidence, label == prediction, distance))

    def most_confident_mistakes(self, count: int) -> list[Scored]:
        mistakes = [s for s in self.scored if not s.correct]
        return sorted(mistakes, key=lambda s: s.confidence, reverse=True)[:count]

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "protocol": self.protocol,
            "samples": self.samples,
            "excluded": self.excluded,
            "word_accuracy": round(self.word_accuracy, 6),
            "cer": round(self.cer, 6),
            "wer": round(self.wer, 6),
            "one_minus_ned": round(self.one_minus_ned, 6),
        }


def score(
    labels: Sequence[str], predictions: Sequence[str], protocol: str = "lower-alnum",
    confidences: Iterable[float] | None = None,
) -> Report:  # fmt: skip
    """A report over parallel lists of labels and predictions."""
    report = Report(protocol)
    normalize("", protocol)  # fail early on an unknown protocol
    confidences = list(confidences) if confidences is not None else [0.0] * len(labels)
    for label, prediction, confidence in zip(labels, predictions, confidences, strict=True):
        report.add(label, prediction, confidence)
    return report


@dataclass(frozen=True)
class PredictionRow:
    """One evaluated sample as written to ``--predictions``."""

    name: str
    label: str
    prediction: str
    confidence: float
    error: str | None = None


def evaluate_source(
    recognizer: Any, source: Any, protocols: Sequence[str] = ("lower-alnum",), batch_size: int = 64
) -> tuple[dict[str, Report], list[PredictionRow]]:
    """Recognize every sample of ``source`` (any backend's ``Recognizer``) and score it under each protocol.

    Args:
        recognizer: a ``Recognizer`` (its model, backend and decoder are what is measured).
        source: a ``SampleSource`` (``data.readers.open_source`` of an LMDB, TFRecord, annotation
            file or folder).
        protocols: names from ``PROTOCOLS`` (``lower-alnum``, ``alnum``, ``raw``).
        batch_size: images per forward pass.

    Returns:
        One ``Report`` (word accuracy, CER, WER, 1-NED) per protocol, and every prediction.

    Example::

        from crnn_ctc import Recognizer
        from crnn_ctc.bundle import BUNDLED_MODEL
        from crnn_ctc.data.readers import open_source
        from crnn_ctc.evaluate import evaluate_source

        reports, rows = evaluate_source(Recognizer.load(), open_source(BUNDLED_MODEL.parent / "samples"), ["raw"])
        print(reports["raw"].word_accuracy)

    Unreadable images (corrupt, or a folder dataset's missing file) count as wrong predictions (an
    empty text) and are listed with their error; a damaged store raises ``DatasetError``.
    """
    reports = {protocol: Report(protocol) for protocol in protocols}
    # Folder datasets know their images' paths (per-image lexicons key on them); stores only positions.
    image_name = getattr(source, "image_name", None)
    names = [image_name(i) if image_name else f"{source.path}#{i}" for i in range(len(source))]
    labels: list[str] = []
    unreadable: dict[int, str] = {}
    recognized: list[int] = []  # the samples handed to the recognizer, in order

    def samples() -> Iterator[tuple[bytes, str]]:
        for index in range(len(source)):
            try:
                image, label = source[index]
            except SampleError as error:  # one file missing: the rest of the dataset still counts
                labels.append(error.label)
                unreadable[index] = error.reason
                continue
            labels.append(label)
            recognized.append(index)
            yield image, names[index]

    images, named = itertools.tee(samples())
    predictions = recognizer.iter_recognize(
        (image for image, _ in images), batch_size=batch_size, errors="report", names=(name for _, name in named)
    )
    by_index = {recognized[position]: prediction for position, prediction in enumerate(predictions)}
    rows: list[PredictionRow] = []
    for index, name in enumerate(names):
        label = labels[index]
        prediction = by_index.get(index)
        text, confidence = (prediction.text, prediction.confidence) if prediction is not None else ("", 0.0)
        error = prediction.error if prediction is not None else unreadable[index]
        for report in reports.values():
            report.add(label, text, confidence)
        rows.append(PredictionRow(name, label, text, confidence, error))
    return reports, rows
