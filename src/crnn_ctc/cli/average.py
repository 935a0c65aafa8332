"""``crnn average``: one model whose weights are the weighted mean of several (a "model soup")."""

from __future__ import annotations

import argparse

from .common import EXIT_OK


def add_command(commands: argparse._SubParsersAction) -> None:
    average = commands.add_parser(
        "average",
        description=(
            "Write a model whose weights are the weighted mean of MODELS: checkpoints of one run, runs fine-tuned "
            "from one model, or a fine-tuned model with the one it started from (which keeps what the start knew). "
            "The models must share architecture, charset and preprocessing. The confidence's temperature is not "
            "carried over: run `crnn calibrate` on the result (docs/training_recipes.md)."
        ),
    )
    average.add_argument("models", nargs="+", metavar="MODEL", help="two or more .safetensors model files")
    average.add_argument(
        "--weights", nargs="+", type=float, metavar="W",
        help="one weight per model, in order (normalised to sum to 1; default: equal)",
    )  # fmt: skip
    average.add_argument("--out", required=True, metavar="FILE", help="the .safetensors to write")
    average.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..averaging import average_files
    from ..files import check_writable, refuse_same_file

    refuse_same_file(args.out, args.models, "--out")
    check_writable(args.out)
    parts = average_files(args.models, args.out, args.weights)
    shares = ", ".join(f"{part.path} {part.weight:.3g}" for part in parts)
    print(f"wrote {args.out}: the weighted mean of {len(parts)} models ({shares}); calibrate it before shipping")
    return EXIT_OK
