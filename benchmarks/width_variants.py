"""Reading crops at other widths: greedy accuracy at each width scale, and keeping the most confident of
several, on labelled sets. How the ``auto`` decoder's wider reading (``decode.auto.WIDER``) was chosen.

Each crop is preprocessed as always, stretched ``width_scale`` times (``preprocess(..., width_scale=)``),
read by the bundled model (the default backend) and decoded greedily; a combination keeps, per crop, the
reading with the highest confidence among its scales. Run it on held-out sets, not on IIIT5K alone.

Usage:
  OMP_NUM_THREADS=1 python benchmarks/width_variants.py --data runs/heldout/words runs/heldout/words-context \\
      ../shared/data/iiit5k_train [--scales 1.0 0.85 1.15] [--protocol lower-alnum] [--model FILE]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence

import numpy as np

from crnn_ctc import Recognizer
from crnn_ctc.data.readers import open_source
from crnn_ctc.decode import Decoded
from crnn_ctc.evaluate import normalize
from crnn_ctc.inference import group_by_width, run_group
from crnn_ctc.preprocess import preprocess


def read_at(recognizer: Recognizer, images: Sequence[bytes], scale: float, batch_size: int = 64) -> list[Decoded]:
    """Every image read greedily at ``scale`` times its width, in order."""
    arrays = [preprocess(image, recognizer.preprocess_config, width_scale=scale) for image in images]
    read: list[Decoded | None] = [None] * len(arrays)
    for group in group_by_width(list(range(len(arrays))), [array.shape[2] for array in arrays], batch_size):
        output = run_group(recognizer.engine, recognizer.decoder, [arrays[i] for i in group], [str(i) for i in group])
        for index, decoded in zip(group, output.decoded, strict=True):
            read[index] = decoded
    assert all(decoded is not None for decoded in read)
    return [decoded for decoded in read if decoded is not None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="labelled sets (crnn eval's --data)")
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 0.85, 1.15])
    parser.add_argument("--protocol", default="lower-alnum", help="lower-alnum, alnum or raw (default lower-alnum)")
    parser.add_argument("--model", help="a model file (default: the bundled model)")
    args = parser.parse_args(argv)
    recognizer = Recognizer.load(args.model, threads=1, decoder="greedy")
    combos = [combo for size in range(2, len(args.scales) + 1) for combo in itertools.combinations(args.scales, size)]
    print("| set | " + " | ".join(f"x{s:g}" for s in args.scales) + " | "
          + " | ".join("best of " + "/".join(f"{s:g}" for s in combo) for combo in combos) + " |")  # fmt: skip
    print("|---|" + "---:|" * (len(args.scales) + len(combos)))
    for data in args.data:
        source = open_source(data)
        samples = [source[index] for index in range(len(source))]
        labels = [normalize(label, args.protocol) for _, label in samples]
        reads = {scale: read_at(recognizer, [image for image, _ in samples], scale) for scale in args.scales}

        def accuracy(readings: Sequence[Decoded], labels: list[str] = labels) -> float:
            right = [normalize(d.text, args.protocol) == label for d, label in zip(readings, labels, strict=True)]
            return 100 * float(np.mean(right))

        cells = [accuracy(reads[scale]) for scale in args.scales]
        for combo in combos:
            best = [max((reads[scale][i] for scale in combo), key=lambda d: d.confidence) for i in range(len(samples))]
            cells.append(accuracy(best))
        print(f"| {data} | " + " | ".join(f"{cell:.2f}" for cell in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
