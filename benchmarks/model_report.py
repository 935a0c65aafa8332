"""The figures of docs/model_card.md for a model file: accuracy on real and held-out synthetic words,
speed, the most frequent character confusions, and a PNG of the most confident mistakes.

Usage: python benchmarks/model_report.py [--model M] [--real ../shared/data/iiit5k_train]
       [--synthetic 2000] [--grid docs/model_card_mistakes.png]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from crnn_ctc import Recognizer
from crnn_ctc.data.readers import open_source
from crnn_ctc.evaluate import PredictionRow, Report, evaluate_source, normalize

PROTOCOLS = ("lower-alnum", "alnum", "raw")
HELD_OUT_SEED = 424242  # training used seed 1; no sample of this seed was ever trained on


class _Samples:
    """(image bytes, label) pairs held in memory, as a source for ``evaluate_source``."""

    def __init__(self, items: list[tuple[bytes, str]], name: str) -> None:
        self.items = items
        self.path = Path(name)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[bytes, str]:
        return self.items[index]


def held_out_synthetic(recognizer: Recognizer, count: int) -> _Samples:
    from crnn_ctc.synth import SynthDataset, SynthGenerator

    generator = SynthGenerator.create(charset=recognizer.charset, seed=HELD_OUT_SEED)
    dataset = SynthDataset(generator, count, image_format="png")
    items = []
    for index in range(count):
        image, label = dataset[index]
        assert isinstance(image, bytes)
        items.append((image, label))
    return _Samples(items, f"synthetic (seed {HELD_OUT_SEED})")


def confusions(report: Report, top: int) -> list[tuple[str, int]]:
    """The most frequent character edits over the mistakes: 'a->o', 'del e', 'ins l'."""
    counts: Counter[str] = Counter()
    for scored in report.scored:
        if scored.correct:
            continue
        for operation in Levenshtein.editops(scored.label, scored.prediction):
            if operation.tag == "replace":
                counts[f"{scored.label[operation.src_pos]}->{scored.prediction[operation.dest_pos]}"] += 1
            elif operation.tag == "delete":
                counts[f"missed {scored.label[operation.src_pos]}"] += 1
            else:
                counts[f"extra {scored.prediction[operation.dest_pos]}"] += 1
    return counts.most_common(top)


def mistakes_grid(source: object, rows: list[PredictionRow], protocol: str, out: Path, count: int = 24) -> None:
    """The most confident wrong predictions: image, label and what the model read."""
    wrong = [
        (index, row) for index, row in enumerate(rows)
        if normalize(row.label, protocol) and normalize(row.label, protocol) != normalize(row.prediction, protocol)
    ]  # fmt: skip
    wrong.sort(key=lambda item: item[1].confidence, reverse=True)
    font = ImageFont.load_default(size=13)
    cell_width, height, columns = 260, 40, 4
    shown = wrong[:count]
    grid = Image.new("RGB", (columns * cell_width, max(1, -(-len(shown) // columns)) * (height + 34)), "white")
    draw = ImageDraw.Draw(grid)
    for position, (index, row) in enumerate(shown):
        data, _ = source[index]  # type: ignore[index]
        image = Image.open(io.BytesIO(data)).convert("RGB")
        width = min(cell_width - 8, max(1, round(image.width * height / image.height)))
        x, y = (position % columns) * cell_width, (position // columns) * (height + 34)
        grid.paste(image.resize((width, height)), (x + 4, y + 2))
        draw.text((x + 4, y + height + 4), f"label {row.label!r}", fill="black", font=font)
        draw.text((x + 4, y + height + 18), f"read {row.prediction!r} ({row.confidence:.2f})", fill="red", font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)


def speed(recognizer: Recognizer, images: list[bytes], batch_size: int, repeats: int = 3) -> float:
    """Images/s of ``recognize`` (decode + preprocess + network + CTC decoding), median of repeats."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        recognizer.recognize(images, batch_size=batch_size)
        rates.append(len(images) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: the bundled one)")
    parser.add_argument("--real", default="../shared/data/iiit5k_train")
    parser.add_argument("--synthetic", type=int, default=2000, help="held-out synthetic samples")
    parser.add_argument("--grid", default="docs/model_card_mistakes.png")
    parser.add_argument("--speed-images", type=int, default=512)
    args = parser.parse_args()
    recognizer = Recognizer.load(args.model, device="cpu", decoder="greedy")
    print(f"model: {recognizer.info.path} ({recognizer.info.config.arch}, {len(recognizer.charset)} symbols)\n")
    real = open_source(args.real)
    sources = [(f"real: {args.real}", real), ("held-out synthetic", held_out_synthetic(recognizer, args.synthetic))]
    print("| data | samples | word acc. lower-alnum | word acc. case-sensitive | word acc. raw | CER lower-alnum |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    real_rows: list[PredictionRow] = []
    real_report: Report | None = None
    for name, source in sources:
        reports, rows = evaluate_source(recognizer, source, PROTOCOLS, batch_size=64)
        main_report = reports["lower-alnum"]
        accuracies = " | ".join(f"{reports[p].word_accuracy:.2%}" for p in PROTOCOLS)
        print(f"| {name} | {main_report.samples:,} | {accuracies} | {main_report.cer:.2%} |")
        if real_report is None:
            real_report, real_rows = main_report, rows
    assert real_report is not None
    print("\nMost frequent character errors on the real words (lower-alnum):")
    print(", ".join(f"{edit} ×{count}" for edit, count in confusions(real_report, 15)))
    mistakes_grid(real, real_rows, "lower-alnum", Path(args.grid))
    print(f"\nmost confident mistakes: {args.grid}")
    images = [real[i][0] for i in range(min(args.speed_images, len(real)))]
    print(f"\nSpeed on {len(images)} real word images (fp32; the whole recognize() path: decode, preprocess, "
          "network, greedy decoding with its confidence):\n")  # fmt: skip
    print("| backend | threads | batch 1 img/s | batch 64 img/s |")
    print("| --- | ---: | ---: | ---: |")
    for backend in ("torch", "onnx"):
        for threads in (1, 2):
            timed = Recognizer.load(args.model, backend=backend, threads=threads, device="cpu", decoder="greedy")
            batch1, batch64 = speed(timed, images[:128], 1), speed(timed, images, 64)
            print(f"| {backend} | {threads} | {batch1:.0f} | {batch64:.0f} |")


if __name__ == "__main__":
    main()
