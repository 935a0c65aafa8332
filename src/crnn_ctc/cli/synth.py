"""The ``crnn synth`` subcommand: a thin layer of options over ``write_synth_dataset``."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from ..synth.config import PRESETS, SynthConfig, preset
from ..synth.fonts import FONT_SPLITS, FontWarning
from .common import EXIT_OK, add_progress_option, add_render_options, show_progress


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register ``crnn synth`` on the ``crnn`` command's subparsers."""
    synth = commands.add_parser(
        "synth",
        help="render synthetic word images into an LMDB dataset",
        description=(
            "Render COUNT synthetic word images (fonts, words, backgrounds, distortions; see "
            "docs/synthetic_data.md) into the LMDB folder OUT, readable wherever `crnn dataset create` "
            "output is, with a grid of samples in OUT/samples.png. The output is the same for any "
            "--workers; an interrupted run leaves no dataset behind."
        ),
    )
    add_render_options(synth, "image")
    synth.add_argument("--charset", default="lower-alnum", help="preset name or file (default: %(default)s)")
    synth.add_argument("--height", type=int, default=32, help="image height in pixels (default: %(default)s)")
    synth.add_argument("--workers", type=int, default=0, metavar="K", help="processes (default: all cores)")
    synth.add_argument("--preset", choices=PRESETS, default="default", help="generator settings (default: %(default)s)")
    synth.add_argument("--config", metavar="JSON", help="generator settings to change (fields of SynthConfig)")
    synth.add_argument(
        "--font-split", choices=FONT_SPLITS, default="all",
        help="fonts of the fixed family split: train (about 9 families in 10), heldout (the rest, never "
        "trained on by the bundled model's recipe), or all (default)",
    )  # fmt: skip
    add_progress_option(synth, "progress bars")
    synth.set_defaults(handler=run)


def synth_config_from_args(args: argparse.Namespace) -> SynthConfig:
    config = SynthConfig.from_file(args.config) if args.config else preset(args.preset)
    return config.with_changes(height=args.height) if args.height != config.height else config


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..charset import Charset
    from ..synth.fonts import find_fonts, font_split, select_fonts
    from ..synth.generator import SynthGenerator
    from ..synth.text import load_words
    from ..synth.write import write_synth_dataset

    progress = show_progress(args.progress)
    config = synth_config_from_args(args)
    charset = Charset.resolve(args.charset)
    workers = args.workers or os.cpu_count() or 1
    faces = find_fonts(Path(args.fonts) if args.fonts else None)
    with tqdm(total=len(faces), unit="font", desc="checking fonts", disable=not progress) as bar:

        def advance(done: int, total: int) -> None:
            bar.update(done - bar.n)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FontWarning)
            fonts = font_split(select_fonts(faces, charset, workers=workers, progress=advance), args.font_split)
    skipped = [str(warning.message) for warning in caught if issubclass(warning.category, FontWarning)]
    if skipped:  # the usual cause is a font for another script or all capitals: not worth a line each
        shown = "; ".join(skipped[:3]) + (f"; and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        print(f"crnn: warning: {len(skipped)} fonts skipped: {shown}", file=sys.stderr)
    for warning in caught:  # recording caught every other warning too (the text layout's): show them
        if not issubclass(warning.category, FontWarning):
            print(f"crnn: warning: {warning.message}", file=sys.stderr)
    words = load_words(args.words, config.vocabulary_size, config.word_frequency_power)
    generator = SynthGenerator(config, charset, fonts, words, seed=args.seed)
    summary = write_synth_dataset(
        generator, args.out, args.count, workers=workers, overwrite=args.overwrite, progress=progress
    )
    print(
        f"wrote {summary.count:,} synthetic images (height {summary.height}, seed {summary.seed}) to {summary.out} "
        f"in {summary.seconds:.1f} s ({summary.rate:,.0f} images/s) with {summary.fonts} fonts in "
        f"{summary.font_families} families, text laid out by {summary.text_layout}"
    )
    if summary.uncovered_symbols:
        shown = "".join(summary.uncovered_symbols)
        print(f"crnn: warning: no font draws {shown!r}: those symbols never appear in a label", file=sys.stderr)
    print(f"sample grid:      {summary.grid}")
    return EXIT_OK
