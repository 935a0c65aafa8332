"""Per-image cost of each decoder at batch 64, next to the model's forward pass in the same run.

Why: decoding must not eat the CPU budget the small model was built for. The limits checked are
greedy (confidence included) < 5% of the forward pass, beam search of width 10 < 50%, and a query of
a 100,000-word lexicon < 5 ms per image once its index is built.

What is timed, single-threaded (``--threads``), median of ``--repeats`` round-robin repeats:

* forward: ``build_model(ModelConfig.for_arch("small", classes))`` (random weights) on a batch of 64
  random 32 x 100 gray images under ``torch.inference_mode()`` (T = 26 steps);
* each decoder's ``decode(log_probs, lengths)`` on one batch of 64. A random network's output is
  nearly uniform, which no trained model gives, so decoders run on log-probabilities that read
  words instead: each image reads a word of the lexicon along a random alignment, the right class
  having probability 0.5 to 0.99 per step, and for half of the images one symbol is misread, so the
  greedy text is not the lexicon word and the lexicon decoder has to find it;
* lexicon: the 100,000 most frequent English words of ``wordfreq`` made of [a-z0-9] (a dependency of
  the project), maximum edit distance 3 (the paper's). Its one-time costs (spelling and encoding the
  words, building the BK-tree) are reported apart; queries are timed with the neighbour index the
  lexicon picks by default for that distance (the limit applies to it) and with the other one.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/decode_speed.py [--markdown] [--classes 37 95]``
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from crnn_ctc.charset import Charset
from crnn_ctc.decode import DecoderOptions, Lexicon, make_decoder
from crnn_ctc.model import ModelConfig, build_model

BATCH = 64
HEIGHT, WIDTH = 32, 100
WARMUP_CALLS = 2
TARGET_SECONDS = 0.3  # a timed repeat makes enough calls to last about this long
CHARSETS = {37: "lower-alnum", 95: "printable"}
LIMITS = {"greedy": 0.05, "beam (width 10)": 0.50}  # share of the forward pass
LEXICON_LIMIT_MS = 5.0


@dataclass
class Timed:
    name: str
    call: Callable[[], object]
    calls: int = 1
    seconds: list[float] = field(default_factory=list)  # per image, one entry per repeat

    def run(self) -> float:
        start = time.perf_counter()
        for _ in range(self.calls):
            self.call()
        return time.perf_counter() - start


def measure(items: Sequence[Timed], repeats: int) -> None:
    """Warm up and calibrate each item, then time them round-robin so they all see the same noise."""
    for item in items:
        for _ in range(WARMUP_CALLS):
            item.run()
        item.calls = max(1, round(TARGET_SECONDS / max(item.run(), 1e-6)))
    for _ in range(repeats):
        for item in items:
            item.seconds.append(item.run() / item.calls / BATCH)


def lexicon_words(count: int) -> list[str]:
    from wordfreq import top_n_list

    words = [word for word in top_n_list("en", 3 * count, wordlist="large") if re.fullmatch(r"[a-z0-9]+", word)]
    return words[:count]


def reading_log_probs(
    words: Sequence[str], charset: Charset, steps: int, rng: np.random.Generator, misread: float = 0.5
) -> tuple[np.ndarray, list[str]]:
    """(len(words), steps, classes) log-probabilities of a confident model reading each word (see the docstring)."""
    classes = charset.num_classes
    shown = []
    log_probs = np.empty((len(words), steps, classes), dtype=np.float32)
    for row, word in enumerate(words):
        symbols = charset.encode(word)
        if rng.random() < misread:
            symbols[rng.integers(len(symbols))] = int(rng.integers(1, classes))
        shown.append(charset.decode(symbols))
        # An alignment: each symbol on a run of steps, a blank run between symbols (needed between equal ones).
        path = np.zeros(steps, dtype=np.int64)
        starts = np.sort(rng.choice(np.arange(0, steps - 1, 2), size=len(symbols), replace=False))
        for start, symbol in zip(starts, symbols, strict=True):
            path[start] = symbol
        logits = rng.normal(0.0, 1.5, size=(steps, classes))
        logits[np.arange(steps), path] = logits.max(axis=1) + rng.uniform(1.0, 6.0, size=steps)
        log_probs[row] = torch.from_numpy(logits).log_softmax(-1).numpy()
    return log_probs, shown


def measure_charset(
    classes: int, words: Sequence[str], readable: Sequence[str], distance: int, repeats: int, rng: np.random.Generator
) -> tuple[list[list[str]], list[tuple[str, float]]]:
    """Table rows for one number of classes, and the one-time costs of its lexicon."""
    charset = Charset.preset(CHARSETS[classes])
    one_time = []
    start = time.perf_counter()
    lexicon = Lexicon(words, charset)
    one_time.append((f"spell + encode {len(lexicon):,} words ({classes} classes)", time.perf_counter() - start))
    start = time.perf_counter()
    _ = lexicon.tree
    one_time.append((f"build the BK-tree of {len(lexicon):,} words", time.perf_counter() - start))
    # The index "auto" picks for this distance, and the other one for comparison.
    default_index = "bktree" if lexicon.uses_tree(distance) else "scan"
    other = Lexicon(words, charset, index="scan" if default_index == "bktree" else "bktree")
    other._tree = lexicon.tree

    model = build_model(ModelConfig.for_arch("small", classes)).eval()
    images = torch.rand(BATCH, 1, HEIGHT, WIDTH)
    with torch.inference_mode():
        steps = model(images).shape[1]
    shown = [readable[i] for i in rng.integers(len(readable), size=BATCH)]
    log_probs, _ = reading_log_probs(shown, charset, steps, rng)
    lengths = np.full(BATCH, steps)

    def decoder_call(name: str, options: DecoderOptions) -> Callable[[], object]:
        decoder = make_decoder(name, charset, options)
        return lambda: decoder.decode(log_probs, lengths)

    def forward() -> object:
        with torch.inference_mode():
            return model(images)

    lexicon_name = f"lexicon {len(lexicon) // 1000}k, δ={distance}"
    items = [
        Timed("forward (small)", forward),
        Timed("greedy", decoder_call("greedy", DecoderOptions())),
        Timed("beam (width 10)", decoder_call("beam", DecoderOptions(beam_width=10))),
        Timed(
            f"{lexicon_name} (default index: {default_index})",
            decoder_call("lexicon", DecoderOptions(lexicon=lexicon, max_edit_distance=distance)),
        ),
        Timed(
            f"{lexicon_name} (other index: {other.index}, for comparison)",
            decoder_call("lexicon", DecoderOptions(lexicon=other, max_edit_distance=distance)),
        ),
    ]
    measure(items, repeats)
    forward_ms = 1000 * statistics.median(items[0].seconds)
    rows = []
    for item in items:
        ms = 1000 * statistics.median(item.seconds)
        spread = (max(item.seconds) - min(item.seconds)) / statistics.median(item.seconds)
        if item.name in LIMITS:
            verdict = f"< {LIMITS[item.name]:.0%}: {'pass' if ms < LIMITS[item.name] * forward_ms else 'FAIL'}"
        elif item.name.startswith("lexicon") and "default" in item.name:
            verdict = f"< {LEXICON_LIMIT_MS:g} ms: {'pass' if ms < LEXICON_LIMIT_MS else 'FAIL'}"
        else:
            verdict = ""
        share = "" if item is items[0] else f"{ms / forward_ms:.1%}"
        rows.append([str(classes), item.name, f"{ms:.3f}", share, verdict, f"{spread:.0%}"])
    return rows, one_time


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats; median reported")
    parser.add_argument("--classes", type=int, nargs="+", choices=sorted(CHARSETS), default=[37, 95])
    parser.add_argument("--lexicon-size", type=int, default=100_000)
    parser.add_argument("--max-edit-distance", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print GitHub markdown tables")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    words = lexicon_words(args.lexicon_size)
    readable = [word for word in words if len(word) <= 12]
    rows: list[list[str]] = []
    one_time: list[tuple[str, float]] = []
    for classes in args.classes:
        more_rows, more_costs = measure_charset(classes, words, readable, args.max_edit_distance, args.repeats, rng)
        rows += more_rows
        one_time += more_costs

    from model_cost import cpu_name, format_table

    print(
        f"Batch {BATCH}, input 1x{HEIGHT}x{WIDTH}, torch {torch.__version__}, {args.threads} thread(s), {cpu_name()}; "
        f"median of {args.repeats} repeats, ms per image.\n"
    )
    header = ["classes", "step", "ms/image", "of forward", "limit", "spread"]
    print(format_table(header, rows, args.markdown))
    print()
    print(format_table(["one-time cost", "seconds"], [[name, f"{s:.2f}"] for name, s in one_time], args.markdown))


if __name__ == "__main__":
    main()
