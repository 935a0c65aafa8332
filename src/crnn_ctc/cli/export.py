"""``crnn export``: an ONNX graph of a model file (fp32 or int8), checked against PyTorch."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, EXIT_USAGE, add_model_options, print_error


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..runtime.metadata import DEFAULT_OPSET  # not ..export, which imports PyTorch

    export = commands.add_parser(
        "export",
        description=(
            "Export to ONNX with the model's config (charset, preprocessing, version) in the file's metadata, "
            "so the .onnx file alone recognizes text (crnn predict --model model.onnx). A parity check against "
            "PyTorch over several widths and batch sizes runs at the end and rejects a mismatching export."
        ),
    )
    add_model_options(export)
    export.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default: %(default)s)")
    export.add_argument(
        "--int8", nargs="?", const="static", choices=("static", "dynamic"), default=None,
        help="quantise to int8 for CPUs: static (the default: convolutions and matrix products, calibrated; "
        "fastest) or dynamic (matrix products and LSTMs, no calibration). docs/benchmarks.md has speed and accuracy",
    )  # fmt: skip
    export.add_argument(
        "--calibration", metavar="DATA",
        help="images to calibrate static int8 on (any dataset crnn eval reads); default: synthetic images "
        "rendered with the model's charset (needs make fonts)",
    )  # fmt: skip
    export.add_argument("--calibration-count", type=int, default=256, metavar="N", help="default: %(default)s")
    export.add_argument(
        "--overwrite", action="store_true",
        help="replace --out even when it is an existing file that is not a .onnx graph (an earlier .onnx export "
        "is always replaced)",
    )  # fmt: skip
    export.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..bundle import load_bundle, resolve_model_path
    from ..export import PARITY_BATCHES, PARITY_WIDTHS, export_onnx

    out = Path(args.out)
    if out.is_file() and out.suffix.lower() != ".onnx" and not args.overwrite:
        # Re-exporting over an earlier graph is routine; a typo that names an image or a model file is not.
        print_error(f"--out {out} exists and is not a .onnx file: name a .onnx file, or pass --overwrite to replace it")
        return EXIT_USAGE
    bundle = load_bundle(resolve_model_path(args.model, args.model_dir))
    path, worst = export_onnx(
        bundle, args.out, opset=args.opset, int8=args.int8 or False,
        calibration=args.calibration, calibration_count=args.calibration_count,
    )  # fmt: skip
    widths = ", ".join(map(str, PARITY_WIDTHS))
    batches = ", ".join(map(str, PARITY_BATCHES))
    if args.int8:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {args.int8} int8); the same best class as "
              f"PyTorch at >= 99% of time steps (max |log-prob difference| {worst:.1e})")  # fmt: skip
    else:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); parity with PyTorch: max |log-prob difference| "
              f"{worst:.1e} at widths {widths} and batch sizes {batches}")  # fmt: skip
    return EXIT_OK
