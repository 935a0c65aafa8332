"""Does the word prior help, and how much should it count? Greedy, plain beam search and beam search with
the word prior at several weights and bonuses, on labelled sets, in one run.

The model runs once per set; its log-probabilities are kept and every decoder reads the same ones, so
the table compares decoders only. Words are scored under ``lower-alnum`` (the benchmarks' protocol),
lines under ``raw`` (case, punctuation and spaces count), as ``crnn eval`` does; the decode time is the
seconds each decoder spent on the whole set.

Choose settings on sets the model and the prior were not tuned to; the word prior's English list is the
same one ``crnn synth`` draws its words from, so synthetic sets flatter it (their text has no word the
list lacks): real text (pages of PDFs, scanned lines) is the fairer judge.

``--greedy-above`` adds the ``auto`` decoder (greedy, and beam search with the default prior where the
greedy reading's confidence is below the threshold) at each threshold given; its rows say which share
of the samples the beam read again.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/word_prior.py --data words=../shared/data/iiit5k_train
lines=runs/heldout/lines-document --weights 0.2 0.4 0.6 --bonuses 0 1 2 3 --greedy-above 0.5 0.8 0.9``
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass

import numpy as np

from crnn_ctc import Recognizer
from crnn_ctc.data.readers import open_source
from crnn_ctc.decode import AutoDecoder, BeamSearchDecoder, Decoder, GreedyDecoder
from crnn_ctc.decode.word_prior import WordPrior, WordPriorSettings, wordfreq_frequencies
from crnn_ctc.evaluate import score
from crnn_ctc.preprocess import collate, preprocess
from crnn_ctc.word_lists import read_word_counts


@dataclass
class Outputs:
    """One set's model outputs: each sample's log-probs (its valid steps), and its label."""

    name: str
    protocol: str
    log_probs: list[np.ndarray]
    labels: list[str]


def collect(recognizer: Recognizer, name: str, path: str, protocol: str, limit: int | None, batch: int) -> Outputs:
    source = open_source(path)
    count = len(source) if limit is None else min(limit, len(source))
    outputs = Outputs(name, protocol, [], [])
    for start in range(0, count, batch):
        arrays, labels = [], []
        for index in range(start, min(start + batch, count)):
            data, label = source[index]
            arrays.append(preprocess(data, recognizer.preprocess_config, name=f"{path}#{index}"))
            labels.append(label)
        log_probs, lengths = recognizer.engine.run(*collate(arrays))
        outputs.log_probs += [np.array(log_probs[row, : lengths[row]]) for row in range(len(arrays))]
        outputs.labels += labels
    return outputs


def decode_all(decoder: Decoder, outputs: Outputs, batch: int) -> tuple[list[str], float]:
    """Every sample's text, decoded in batches of similar lengths (as the recognizer groups them)."""
    order = np.argsort([len(lp) for lp in outputs.log_probs], kind="stable")
    texts = [""] * len(order)
    started = time.perf_counter()
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        steps = max(len(outputs.log_probs[row]) for row in rows)
        classes = outputs.log_probs[rows[0]].shape[1]
        padded = np.zeros((len(rows), steps, classes), dtype=np.float32)
        lengths = np.zeros(len(rows), dtype=np.int64)
        for slot, row in enumerate(rows):
            padded[slot, : len(outputs.log_probs[row])] = outputs.log_probs[row]
            lengths[slot] = len(outputs.log_probs[row])
        for row, decoded in zip(rows, decoder.decode(padded, lengths), strict=True):
            texts[row] = decoded.text
    return texts, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model file (default: the bundled model)")
    parser.add_argument("--data", nargs="+", required=True, metavar="KIND=PATH", help="words=PATH or lines=PATH")
    parser.add_argument("--limit", type=int, help="samples per set")
    parser.add_argument("--words", default="wordfreq", help="the prior's word list: wordfreq or a file")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.2, 0.4, 0.6])
    parser.add_argument("--bonuses", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--unknown", type=float, nargs="+", default=[WordPriorSettings().unknown])
    parser.add_argument("--greedy-above", type=float, nargs="*", default=[], metavar="P",
                        help="thresholds of the auto decoder to add")  # fmt: skip
    parser.add_argument("--beam-width", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    recognizer = Recognizer.load(args.model, backend="torch", decoder="greedy")
    sets = []
    for item in args.data:
        kind, _, path = item.partition("=")
        if kind not in ("words", "lines") or not path:
            parser.error(f"--data takes words=PATH or lines=PATH, got {item!r}")
        protocol = "lower-alnum" if kind == "words" else "raw"
        sets.append(collect(recognizer, path, path, protocol, args.limit, args.batch_size))
    charset = recognizer.charset
    decoders: list[tuple[str, Decoder]] = [
        ("greedy", GreedyDecoder(charset)),
        (f"beam {args.beam_width}", BeamSearchDecoder(charset, beam_width=args.beam_width)),
    ]
    # The word list is read once; each setting builds its prior from it.
    frequencies: dict[str, float] = wordfreq_frequencies() if args.words == "wordfreq" else {}
    for word, count in read_word_counts(args.words) if args.words != "wordfreq" else []:
        frequencies[word] = frequencies.get(word, 0.0) + count
    for weight, bonus, unknown in itertools.product(args.weights, args.bonuses, args.unknown):
        prior = WordPrior(frequencies, WordPriorSettings(weight=weight, bonus=bonus, unknown=unknown))
        label = f"prior w={weight:g} b={bonus:g} unk={unknown:g}"
        decoders.append((label, BeamSearchDecoder(charset, beam_width=args.beam_width, word_prior=prior)))
    default_prior = WordPrior(frequencies, WordPriorSettings())
    for threshold in args.greedy_above:
        auto = AutoDecoder(
            charset, word_prior=lambda: default_prior, greedy_above=threshold, beam_width=args.beam_width
        )
        decoders.append((f"auto, greedy above {threshold:g}", auto))

    # Each sample's greedy confidence, once per set: the share the auto decoder reads again.
    greedy = GreedyDecoder(charset)
    greedy_confidences = [
        np.array([greedy.decode(lp[np.newaxis], np.array([len(lp)]))[0].confidence for lp in outputs.log_probs])
        for outputs in sets
    ]
    header = f"{'decoder':32s}" + "".join(f" | {s.name[-28:]:>28s} acc    CER    WER    s" for s in sets)
    print(f"model: {args.model or 'bundled'}; words scored lower-alnum, lines raw")
    print(header)
    for label, decoder in decoders:
        cells = []
        for outputs, confidences in zip(sets, greedy_confidences, strict=True):
            texts, seconds = decode_all(decoder, outputs, args.batch_size)
            report = score(outputs.labels, texts, outputs.protocol)
            reread = ""
            if isinstance(decoder, AutoDecoder):
                reread = f"reread {np.mean(confidences < decoder.greedy_above):.0%}"
            cells.append(
                f" | {reread:>28s} {100 * report.word_accuracy:5.2f} {100 * report.cer:5.2f} "
                f"{100 * report.wer:6.2f} {seconds:5.1f}"
            )
        print(f"{label:32s}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
