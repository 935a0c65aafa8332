"""The ``crnn`` command: thin subcommands over the Python API. Printing and exit codes live here.

Exit codes: 0 success; 1 some inputs could not be read (the rest were processed);
2 nothing could run (bad flags, no inputs, unusable model file).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from ._version import __version__
from .errors import CrnnError

if TYPE_CHECKING:
    from .api import Prediction

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="FILE", help="model file (.safetensors); default: the bundled model")
    group.add_argument(
        "--model-dir", "--model_dir", dest="model_dir", metavar="DIR", help="use the newest model file in DIR"
    )


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    from .decode import DECODERS
    from .runtime import BACKENDS

    group = parser.add_argument_group("inference")
    group.add_argument("--backend", choices=BACKENDS, default="auto", help="inference engine (default: %(default)s)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: the engine's own)")
    group.add_argument("--decoder", choices=sorted(DECODERS), default="greedy", help="(default: %(default)s)")
    group.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=int,
        default=32,
        metavar="N",
        help="images per forward pass (default: %(default)s)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crnn",
        description="Text recognition in cropped word and line images with CRNN + CTC.",
        epilog="Exit codes: 0 success; 1 some inputs could not be read; 2 nothing could run.",
    )
    parser.add_argument("--version", action="version", version=f"crnn-ctc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    predict = commands.add_parser(
        "predict",
        help="recognize text in images",
        description="Recognize the text in each image and print one line per image.",
        epilog=(
            "Output formats: tsv = path<TAB>text<TAB>confidence; json = one JSON object per line; "
            "seed = 'Predict NAME image as: TEXT'. Unreadable images are reported on stderr and skipped. "
            "Exit codes: 0 all images read; 1 some could not be read; 2 nothing could run."
        ),
    )
    predict.add_argument("inputs", nargs="*", metavar="IMAGE_OR_DIR", help="image files and folders of images")
    predict.add_argument("--image-dir", "--image_dir", dest="image_dir", metavar="DIR", help="folder of images")
    predict.add_argument(
        "--image-list",
        "--image_list",
        dest="image_list",
        metavar="FILE",
        help="text file naming one image per line (relative to --image_dir); a label after it is ignored",
    )
    predict.add_argument("--recursive", action="store_true", help="also look in sub-folders of folders")
    predict.add_argument("--format", choices=("tsv", "json", "seed"), default="tsv", help="(default: %(default)s)")
    predict.add_argument("--output", "-o", metavar="FILE", help="write results here instead of stdout")
    predict.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )
    _add_model_options(predict)
    _add_runtime_options(predict)
    predict.set_defaults(handler=_run_predict)

    info = commands.add_parser("info", help="describe a model file", description="Print a model file's config.")
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="print the full JSON config")
    info.set_defaults(handler=_run_info)
    return parser


def _error(message: str) -> None:
    print(f"crnn: error: {message}", file=sys.stderr)


@contextlib.contextmanager
def _open_output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8") as file:
        yield file


def _format_prediction(prediction: Prediction, name: str, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(
            {
                "path": name,
                "text": prediction.text,
                "confidence": round(prediction.confidence, 6),
                "char_probs": [round(p, 6) for p in prediction.char_probs],
            },
            ensure_ascii=False,
        )
    if output_format == "seed":
        return f"Predict {name} image as: {prediction.text}"
    return f"{name}\t{prediction.text}\t{prediction.confidence:.4f}"


def _run_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import Recognizer
    from .inputs import collect_images

    if args.batch_size < 1:
        _error(f"--batch-size must be at least 1, got {args.batch_size}")
        return EXIT_USAGE
    refs = collect_images(args.inputs, image_dir=args.image_dir, image_list=args.image_list, recursive=args.recursive)
    if not refs:
        _error("no images to read: pass image files or folders, or --image_dir / --image_list")
        return EXIT_USAGE
    recognizer = Recognizer.load(
        args.model,
        model_dir=args.model_dir,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        decoder=args.decoder,
    )
    failed = 0
    predictions = recognizer.iter_recognize(
        [ref.path for ref in refs], batch_size=args.batch_size, errors="report", names=[ref.name for ref in refs]
    )
    show = sys.stderr.isatty() if args.progress is None else args.progress
    with _open_output(args.output) as out, tqdm(total=len(refs), unit="img", disable=not show, file=sys.stderr) as bar:
        for prediction in predictions:
            bar.update(1)
            if prediction.error is not None:
                failed += 1
                tqdm.write(f"crnn: error: {prediction.source}: {prediction.error}", file=sys.stderr)
                continue
            print(_format_prediction(prediction, prediction.source, args.format), file=out)
    if failed:
        print(f"crnn: {failed} of {len(refs)} images could not be read", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _run_info(args: argparse.Namespace) -> int:
    from .bundle import load_bundle, resolve_model_path

    path = resolve_model_path(args.model, args.model_dir)
    bundle = load_bundle(path)
    description = bundle.describe()
    if args.json:
        print(json.dumps(description, ensure_ascii=False, indent=2))
        return EXIT_OK
    config = bundle.config
    parameters = sum(p.numel() for p in bundle.model.parameters())
    prep = bundle.preprocess
    width_policy = f"fixed {prep.fixed_width}" if prep.fixed_width else f"{prep.min_width}..{prep.max_width}"
    print(f"file:           {path}")
    print(f"architecture:   {config.arch} ({parameters:,} parameters, {config.num_classes} classes)")
    print(f"charset:        {len(bundle.charset)} symbols: {''.join(bundle.charset.symbols)}")
    print(f"input:          {prep.channels} channel(s), height {prep.height}, width {width_policy}")
    for key, value in sorted(bundle.provenance.items()):
        print(f"{key + ':':<16}{value}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CrnnError as error:
        _error(str(error))
        return EXIT_USAGE
    except ValueError as error:  # invalid option values found past argparse (device, threads...)
        _error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("crnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `crnn predict ... | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
