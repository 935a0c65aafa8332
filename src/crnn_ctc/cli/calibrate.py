"""``crnn calibrate``: fit the confidence's temperature and write a calibrated copy of the model."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, add_model_options


def add_command(commands: argparse._SubParsersAction) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        description=(
            "Recognize DATA with the model (greedy, fp32), fit one temperature T (log-probs / T) that makes the "
            "confidence an honest probability of being right (least log loss), and write a copy of the model file "
            "that carries T: every backend and the service apply it. Fit on data like what the model will read, "
            "but not on the set you judge it on (docs/confidence.md)."
        ),
    )
    add_model_options(calibrate)
    calibrate.add_argument("--data", nargs="+", required=True, metavar="SRC", help="labelled datasets to fit on")
    calibrate.add_argument("--out", required=True, metavar="FILE", help="the calibrated .safetensors to write")
    calibrate.add_argument(
        "--protocol", choices=("raw", "alnum", "lower-alnum"), default="raw",
        help="what counts as right (default: %(default)s, the exact text the confidence is about)",
    )  # fmt: skip
    calibrate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..bundle import resolve_model_path
    from ..calibration import calibrate_file
    from ..files import check_writable, refuse_same_file

    model = resolve_model_path(args.model, args.model_dir)
    refuse_same_file(args.out, [model, *args.data], "--out")
    check_writable(args.out)
    figures = calibrate_file(model, args.data, args.out, args.protocol)
    print(
        f"wrote {args.out}: temperature {figures['temperature']:g}, fitted on {figures['samples']:,} samples "
        f"(accuracy {figures['accuracy']:.2%}, {args.protocol}); ECE {figures['ece_before']:.4f} -> "
        f"{figures['ece_after']:.4f}"
    )
    return EXIT_OK
