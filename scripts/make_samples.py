"""Render the bundled sample images (src/crnn_ctc/assets/samples/) with the project's own renderer.

Clean, common fonts and the ``clean`` synth preset (no distortion or degradation): what the demo
shows, and what the bundled model must read. Also writes ``labels.tsv`` so that
``crnn eval --data src/crnn_ctc/assets/samples`` scores them. Usage: python scripts/make_samples.py
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np

from crnn_ctc.charset import Charset
from crnn_ctc.synth import find_fonts, preset, select_fonts
from crnn_ctc.synth.fonts import label_for
from crnn_ctc.synth.render import Plan, render

OUT = Path(__file__).resolve().parents[1] / "src" / "crnn_ctc" / "assets" / "samples"
SAMPLES = [  # (text, font family)
    ("Hello", "DejaVu Sans"),
    ("coffee", "Liberation Serif"),
    ("STREET", "Liberation Sans"),
    ("2026", "DejaVu Sans"),
    ("Recognition", "Liberation Serif"),
    ("OPEN", "DejaVu Sans"),
    ("$12.99", "Liberation Sans"),
    ("book", "DejaVu Serif"),
    # Printed lines: the bundled model reads spaces (charset printable+space).
    ("The quick brown fox jumps over the lazy dog.", "Liberation Serif"),
    ("Call 555-0199 before 6:30 pm", "DejaVu Sans"),
]


def main() -> None:
    charset = Charset.preset("printable+space")
    families = {family for _, family in SAMPLES}
    faces = [face for face in find_fonts() if face.family in families and face.style in ("Regular", "Book")]
    fonts = {font.face.family: font for font in select_fonts(faces, charset)}
    missing = families - set(fonts)
    if missing:
        raise SystemExit(f"fonts not installed: {', '.join(sorted(missing))} (run `make fonts`)")
    config = dataclasses.replace(preset("clean"), height=48)
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, (text, family) in enumerate(SAMPLES):
        plan = Plan(text, label_for(text, charset), fonts[family], size=56, spacing=0.0, fake_bold=0)
        rng = random.Random(index)
        image = render(plan, rng, np.random.default_rng(index), config)
        name = f"sample_{index:02d}.png"
        image.save(OUT / name)
        lines.append(f"{name}\t{plan.label}")
    (OUT / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(SAMPLES)} samples and labels.tsv to {OUT}")


if __name__ == "__main__":
    main()
