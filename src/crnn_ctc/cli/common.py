"""What several commands share: exit codes, the model and inference options, the decoder they name,
progress flags and error lines."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..decode import DecoderOptions

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="FILE", help="model file (.safetensors); default: the bundled model")
    group.add_argument(
        "--model-dir", "--model_dir", dest="model_dir", metavar="DIR", help="use the newest model file in DIR"
    )


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    from ..decode import DECODERS, GREEDY_ABOVE, WIDER
    from ..runtime import BACKENDS

    group = parser.add_argument_group("inference")
    group.add_argument("--backend", choices=BACKENDS, default="auto", help="inference engine (default: %(default)s)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: the engine's own)")
    group.add_argument(
        "--decoder",
        choices=DECODERS,
        help="(default: lexicon when a lexicon is given, beam with --word-prior, else auto: greedy where the "
        "model is sure, beam search with the English word prior where it is not; docs/word_prior.md)",
    )
    group.add_argument(
        "--beam-width", type=int, default=10, metavar="K", help="beam search width (default: %(default)s)"
    )
    group.add_argument("--lexicon", metavar="FILE", help="read only words of FILE (one a line): the paper's search")
    group.add_argument(
        "--max-edit-distance", type=int, default=3, metavar="D",
        help="lexicon words searched: within D edits of the greedy text (default: %(default)s, as in the paper)",
    )  # fmt: skip
    group.add_argument(
        "--word-prior", metavar="SRC",
        help="beam search prefers real words: wordfreq (English word frequencies) or a word list FILE "
        "(a word and optional count a line); implies --decoder beam (docs/word_prior.md)",
    )  # fmt: skip
    group.add_argument("--prior-weight", type=float, metavar="W", help="how much the word prior counts (default: 0.4)")
    group.add_argument("--prior-bonus", type=float, metavar="B", help="the word prior's bonus per word (default: 2)")
    group.add_argument(
        "--greedy-above", type=float, default=GREEDY_ABOVE, metavar="P",
        help="the auto decoder keeps greedy readings of at least this confidence and reads the others again "
        "with beam search and the word prior (default: %(default)s; 0: greedy only, 1: beam for all)",
    )  # fmt: skip
    group.add_argument(
        "--wider", type=float, default=WIDER, metavar="X",
        help="the auto decoder first reads those unsure images X times wider too, and keeps the more confident "
        "reading (default: %(default)s; 1: not)",
    )  # fmt: skip
    group.add_argument("--allow", metavar="CHARS", help="read only these symbols (every decoder)")
    group.add_argument("--block", metavar="CHARS", help="never read these symbols (every decoder)")
    group.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=int,
        default=32,
        metavar="N",
        help="images per forward pass (default: %(default)s)",
    )


def decoder_name(args: argparse.Namespace) -> str:
    """``--decoder``, else ``lexicon`` when a lexicon is given, ``beam`` with a word prior, else ``auto``
    (``decode.chosen_decoder``)."""
    from ..decode import chosen_decoder

    has_lexicon = bool(args.lexicon or getattr(args, "image_lexicons", None))
    return chosen_decoder(args.decoder, lexicon=has_lexicon, word_prior=args.word_prior is not None, default="auto")


def word_list_file(args: argparse.Namespace) -> str | None:
    """``--word-prior``'s file, None for wordfreq or none (an input an output must never overwrite)."""
    from ..decode import WORDFREQ

    return None if args.word_prior in (None, WORDFREQ) else str(args.word_prior)


def decoder_options(args: argparse.Namespace) -> DecoderOptions:
    from ..decode import DecoderOptions

    return DecoderOptions(
        beam_width=args.beam_width, lexicon=args.lexicon, image_lexicons=getattr(args, "image_lexicons", None),
        max_edit_distance=args.max_edit_distance, allow=args.allow, block=args.block,
        word_prior=args.word_prior, prior_weight=args.prior_weight, prior_bonus=args.prior_bonus,
        greedy_above=args.greedy_above, wider=args.wider,
    )  # fmt: skip


def add_progress_option(parser: argparse.ArgumentParser, what: str = "a progress bar", when: str = "") -> None:
    """``--progress`` / ``--no-progress``; unset, ``show_progress`` asks whether stderr is a terminal."""
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help=f"show {what} on stderr (default: when stderr is a terminal{when})",
    )  # fmt: skip


def add_render_options(parser: argparse.ArgumentParser, unit: str) -> None:
    """What ``crnn synth`` and ``crnn synth-pages`` share: how many ``unit``s, where, from which seed,
    fonts and words, and whether to replace the output."""
    parser.add_argument("--count", type=int, required=True, metavar="N", help=f"number of {unit}s")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    parser.add_argument("--seed", type=int, default=0, help=f"{unit} i of a seed is always the same {unit}")
    parser.add_argument("--fonts", metavar="DIR", help="folder of font files, or a manifest .tsv "
                        "(default: what `make fonts` installed)")  # fmt: skip
    parser.add_argument("--words", metavar="FILE", help="word list, one word (and optional count) per line "
                        "(default: wordfreq's English words)")  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")


def show_progress(flag: bool | None) -> bool:
    """``--progress`` / ``--no-progress``, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else flag


def print_error(message: str) -> None:
    print(f"crnn: error: {message}", file=sys.stderr)
