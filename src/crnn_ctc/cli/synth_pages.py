"""The ``crnn synth-pages`` subcommand: a thin layer of options over ``write_synth_pages``."""

from __future__ import annotations

import argparse
import re

from ..errors import ConfigError
from ..synth.fonts import FONT_SPLITS
from .common import EXIT_OK, add_progress_option, add_render_options, show_progress

_COLUMNS = re.compile(r"^(\d+)(?:-(\d+))?$")


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register ``crnn synth-pages`` on the ``crnn`` command's subparsers."""
    pages = commands.add_parser(
        "synth-pages",
        help="render synthetic document pages with exact line boxes and text",
        description=(
            "Render COUNT synthetic pages (a headline, columns of paragraphs, pictures and rules on paper, "
            "scanned; see docs/synthetic_data.md, 'Synthetic pages') into the folder OUT: page-NNNNN.png, "
            "page-NNNNN.json (every line's text and tight box, the blocks, figures and reading-order text) and "
            "pages.tsv. Page i of a seed is always the same; an interrupted run leaves no folder behind."
        ),
    )
    add_render_options(pages, "page")
    pages.add_argument("--columns", metavar="MIN-MAX", help="columns per page, e.g. 2 or 1-3 (default: 1-3)")
    pages.add_argument("--skew", type=float, metavar="DEG", help="turn pages by up to DEG degrees (default: 0)")
    pages.add_argument(
        "--font-split", choices=FONT_SPLITS, default=None,
        help="fonts of the fixed family split that `crnn synth` uses: train, heldout or all (default)",
    )  # fmt: skip
    pages.add_argument("--config", metavar="JSON", help="page settings to change (fields of PageSynthConfig)")
    add_progress_option(pages)
    pages.set_defaults(handler=run)


def parse_columns(text: str) -> tuple[int, int]:
    """``"2"`` or ``"1-3"`` as a (low, high) pair."""
    match = _COLUMNS.match(text.strip())
    if not match:
        raise ConfigError(f"--columns must be N or MIN-MAX (for example 2 or 1-3), got {text!r}")
    low = int(match.group(1))
    return low, int(match.group(2) or low)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..synth.page_config import PageSynthConfig
    from ..synth.pages import write_synth_pages

    config = PageSynthConfig.from_file(args.config) if args.config else PageSynthConfig()
    changes: dict[str, object] = {}
    if args.columns:
        changes["columns_range"] = parse_columns(args.columns)
    if args.skew is not None:
        changes["skew_degrees"] = abs(args.skew)
    for option in ("font_split", "fonts", "words"):
        if getattr(args, option) is not None:
            changes[option] = getattr(args, option)
    config = config.with_changes(**changes)
    show = show_progress(args.progress)
    with tqdm(total=args.count, unit="page", desc="rendering", disable=not show) as bar:

        def advance(done: int, total: int) -> None:
            bar.update(done - bar.n)

        summary = write_synth_pages(args.out, args.count, args.seed, config, args.overwrite, progress=advance)
    print(
        f"wrote {summary.count:,} synthetic pages ({summary.lines:,} lines, seed {summary.seed}) to {summary.out} "
        f"in {summary.seconds:.1f} s ({summary.seconds / summary.count:.2f} s a page) with {summary.fonts} fonts "
        f"in {summary.font_families} families"
    )
    return EXIT_OK
