"""Does the confidence mean something? Reliability diagram, expected calibration error (ECE), and the
accuracy of the predictions above each confidence threshold, on a labelled dataset.

Why: the confidence is P(text | image) (docs/confidence.md), so among predictions with confidence
about p, a fraction of about p should be right. This script measures how far that holds for a model:

* correctness: a prediction is right when it equals the label under ``--protocol`` (``lower-alnum``
  by default: lowercase, [0-9a-z] only, the public benchmarks' protocol), as ``crnn eval`` scores it;
  samples whose label is empty under the protocol are excluded, unreadable images count as wrong
  with confidence 0;
* ECE with ``--bins`` equal-mass bins (each holds the same number of predictions, so the bins where
  a CTC model's confidences pile up, near 1, are resolved): sum over bins of
  (bin size / N) x |accuracy - mean confidence|. The equal-width variant (bins [0, 0.1), ...) is
  printed too, for comparison with papers that use it;
* AUROC: the probability that a random right prediction has a higher confidence than a random
  wrong one (how well the confidence separates them, whatever its scale);
* the same figures for the confidences other recognizers use, computed from the best path (product,
  minimum and mean of the per-step probabilities) and for P(text | image) ** (1 / len(text)), so the
  choice can be checked on real data; and, as a diagnostic, the ECE after the best temperature
  (log-probabilities / T, renormalised), fitted on the same data;
* ``OUT/reliability.png``: the reliability diagram and the confidence histograms of right and
  wrong predictions.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/calibration.py --model M --data ../shared/data/iiit5k_train --out docs/``
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crnn_ctc import Recognizer
from crnn_ctc.data.readers import SampleSource, open_source
from crnn_ctc.decode import DECODERS, DecoderOptions, ctc
from crnn_ctc.errors import ImageError
from crnn_ctc.evaluate import PROTOCOLS, normalize
from crnn_ctc.preprocess import collate, preprocess

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
TEMPERATURES = tuple(np.round(np.arange(0.5, 3.01, 0.1), 2))
PEER_CONFIDENCES = ("best-path product", "best-path minimum", "best-path mean", "P(text) ** (1/length)")


@dataclass
class Outcomes:
    """Per evaluated sample: the confidence, other confidences for comparison, and whether it was right."""

    confidence: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    peers: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in PEER_CONFIDENCES})
    tempered: dict[float, list[float]] = field(default_factory=lambda: {t: [] for t in TEMPERATURES})


def collect(
    recognizer: Recognizer, source: SampleSource, protocol: str, batch_size: int, limit: int | None
) -> Outcomes:
    """Recognize every sample of ``source`` and record confidences and correctness."""
    outcomes = Outcomes()
    count = len(source) if limit is None else min(limit, len(source))
    for start in range(0, count, batch_size):
        arrays, labels, names = [], [], []
        for index in range(start, min(start + batch_size, count)):
            data, label = source[index]
            if not normalize(label, protocol):
                continue  # excluded, as the public benchmarks do
            name = f"{source.path}#{index}"
            try:
                arrays.append(preprocess(data, recognizer.preprocess_config, name=name))
            except ImageError:
                _record_unreadable(outcomes)
                continue
            labels.append(label)
            names.append(name)
        if not arrays:
            continue
        batch, widths = collate(arrays)
        log_probs, lengths = recognizer.engine.run(batch, widths)
        decoded = recognizer.decoder.decode(log_probs, lengths, names)
        for result, label in zip(decoded, labels, strict=True):
            outcomes.confidence.append(result.confidence)
            outcomes.correct.append(normalize(result.text, protocol) == normalize(label, protocol))
        _record_peers(outcomes, log_probs, lengths, [recognizer.charset.encode(d.text) for d in decoded])
    return outcomes


def _record_unreadable(outcomes: Outcomes) -> None:
    outcomes.confidence.append(0.0)
    outcomes.correct.append(False)
    for values in (*outcomes.peers.values(), *outcomes.tempered.values()):
        values.append(0.0)


def _record_peers(outcomes: Outcomes, log_probs: np.ndarray, lengths: np.ndarray, labels: list[list[int]]) -> None:
    best = log_probs.max(axis=2).astype(np.float64)
    for row, length in enumerate(lengths):
        steps = np.exp(best[row, :length]) if length else np.zeros(1)
        outcomes.peers["best-path product"].append(float(np.prod(steps)))
        outcomes.peers["best-path minimum"].append(float(steps.min()))
        outcomes.peers["best-path mean"].append(float(steps.mean()))
    padded, label_lengths = ctc.pad_labels(labels)
    log_p = ctc.log_likelihood(log_probs, lengths, padded, label_lengths)
    outcomes.peers["P(text) ** (1/length)"] += np.exp(log_p / np.maximum(label_lengths, 1)).tolist()
    for temperature in TEMPERATURES:
        scaled = log_probs.astype(np.float64) / temperature
        scaled -= np.logaddexp.reduce(scaled, axis=2, keepdims=True)
        outcomes.tempered[temperature] += np.exp(ctc.log_likelihood(scaled, lengths, padded, label_lengths)).tolist()


def equal_mass_bins(confidence: np.ndarray, bins: int) -> list[np.ndarray]:
    """Indices of the predictions in each of ``bins`` bins of (nearly) equal size, by increasing confidence."""
    return [part for part in np.array_split(np.argsort(confidence, kind="stable"), bins) if len(part)]


def equal_width_bins(confidence: np.ndarray, bins: int) -> list[np.ndarray]:
    edges = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    return [np.flatnonzero(edges == b) for b in range(bins) if (edges == b).any()]


def ece(confidence: np.ndarray, correct: np.ndarray, bins: list[np.ndarray]) -> float:
    """Expected calibration error: sum over bins of (bin share) x |accuracy - mean confidence|."""
    total = len(confidence)
    return float(sum(len(b) / total * abs(correct[b].mean() - confidence[b].mean()) for b in bins))


def auroc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """P(a right prediction's confidence > a wrong one's), ties counting half; NaN without both kinds."""
    right, wrong = confidence[correct], confidence[~correct]
    if not len(right) or not len(wrong):
        return math.nan
    order = np.argsort(np.concatenate([right, wrong]), kind="stable")
    ranks = np.empty(len(order))
    values = np.concatenate([right, wrong])[order]
    # Average ranks over ties.
    _, first, counts = np.unique(values, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return float((ranks[: len(right)].sum() - len(right) * (len(right) + 1) / 2) / (len(right) * len(wrong)))


def threshold_rows(confidence: np.ndarray, correct: np.ndarray) -> list[list[str]]:
    rows = []
    for threshold in THRESHOLDS:
        kept = confidence >= threshold
        accuracy = f"{correct[kept].mean():.1%}" if kept.any() else "-"
        rows.append([f"{threshold:g}", f"{kept.mean():.1%}", f"{int(kept.sum()):,}", accuracy])
    return rows


def plot(confidence: np.ndarray, correct: np.ndarray, bins: list[np.ndarray], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (diagram, histogram) = plt.subplots(
        2, 1, figsize=(5.5, 7), gridspec_kw={"height_ratios": [3, 1.4]}, constrained_layout=True
    )
    mean_confidence = [confidence[b].mean() for b in bins]
    accuracy = [correct[b].mean() for b in bins]
    diagram.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfect calibration")
    diagram.plot(mean_confidence, accuracy, marker="o", label=f"{len(bins)} equal-mass bins")
    diagram.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence in bin", ylabel="word accuracy in bin", title=title)
    diagram.legend(loc="upper left")
    edges = np.linspace(0, 1, 21)
    histogram.hist([confidence[correct], confidence[~correct]], bins=edges, label=["right", "wrong"], stacked=True)
    histogram.set(xlim=(0, 1), xlabel="confidence P(text | image)", ylabel="predictions")
    histogram.legend(loc="upper left")
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", required=True, help="model file")
    parser.add_argument("--data", required=True, help="labelled dataset (LMDB, TFRecord, annotated folder)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for reliability.png (default: docs)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="lower-alnum")
    parser.add_argument("--decoder", choices=DECODERS, default="greedy")
    parser.add_argument("--beam-width", type=int, default=10)
    parser.add_argument("--lexicon", help="lexicon file (with --decoder lexicon)")
    parser.add_argument("--word-prior", help="wordfreq or a word list file (with --decoder beam)")
    parser.add_argument("--bins", type=int, default=10, help="equal-mass bins for ECE (default: 10)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, help="only the first N samples (a quick check)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    options = DecoderOptions(beam_width=args.beam_width, lexicon=args.lexicon, word_prior=args.word_prior)
    recognizer = Recognizer.load(
        args.model, device="cpu", threads=args.threads, decoder=args.decoder, decoder_options=options
    )
    source = open_source(args.data)
    outcomes = collect(recognizer, source, args.protocol, args.batch_size, args.limit)
    confidence, correct = np.array(outcomes.confidence), np.array(outcomes.correct, dtype=bool)
    if not len(confidence):
        parser.error(f"{args.data}: no sample to evaluate")
    mass_bins = equal_mass_bins(confidence, args.bins)

    from model_cost import format_table

    print(f"model: {args.model}\ndata: {args.data} ({len(confidence):,} samples scored, protocol {args.protocol})")
    prior = f" with the word prior {args.word_prior}" if args.word_prior else ""
    print(f"decoder: {args.decoder}{prior}; word accuracy {correct.mean():.2%}\n")
    rows = []
    for name, values in [("ours: P(text \\| image)", outcomes.confidence), *outcomes.peers.items()]:
        values_array = np.array(values)
        rows.append([
            name, f"{ece(values_array, correct, equal_mass_bins(values_array, args.bins)):.4f}",
            f"{ece(values_array, correct, equal_width_bins(values_array, args.bins)):.4f}",
            f"{auroc(values_array, correct):.4f}", f"{values_array.mean():.3f}",
        ])  # fmt: skip
    header = ["confidence", f"ECE ({args.bins} equal-mass bins)", f"ECE ({args.bins} equal-width)", "AUROC", "mean"]
    print(format_table(header, rows, markdown=True))
    tempered = {
        t: ece(np.array(v), correct, equal_mass_bins(np.array(v), args.bins)) for t, v in outcomes.tempered.items()
    }
    best_t = min(tempered, key=tempered.__getitem__)
    print(
        f"\nDiagnostic: with log-probabilities divided by T = {best_t:g} (fitted on these same samples) the ECE "
        f"would be {tempered[best_t]:.4f} (T = 1: {tempered[1.0]:.4f}).\n"
    )
    print("Predictions kept above a confidence threshold:\n")
    print(
        format_table(["threshold", "coverage", "kept", "accuracy of kept"], threshold_rows(confidence, correct), True)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "reliability.png"
    title = f"{Path(args.model).name} on {Path(args.data).name}: ECE {ece(confidence, correct, mass_bins):.3f}"
    plot(confidence, correct, mass_bins, title, png)
    print(f"\nreliability diagram: {png}")


if __name__ == "__main__":
    main()
