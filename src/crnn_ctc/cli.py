"""The ``crnn`` command: thin subcommands over the Python API. Printing and exit codes live here.

Exit codes: 0 success; 1 some inputs could not be read (the rest were processed);
2 nothing could run (bad flags, no inputs, unusable model file).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
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

    _add_dataset_commands(commands)

    info = commands.add_parser("info", help="describe a model file", description="Print a model file's config.")
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="print the full JSON config")
    info.set_defaults(handler=_run_info)
    return parser


def _add_dataset_commands(commands: argparse._SubParsersAction) -> None:
    from .data.annotations import ANNOTATION_FORMATS
    from .data.create import STORE_FORMATS, UNKNOWN_CHAR_POLICIES

    dataset = commands.add_parser("dataset", help="create, inspect and download datasets")
    actions = dataset.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    create = actions.add_parser(
        "create",
        help="annotation file + images -> checked train/validation LMDB or TFRecord datasets",
        description=(
            "Check every sample, split exactly into train and validation, and write DATA_DIR/train and "
            "DATA_DIR/validation (LMDB folders, or train.tfrecord and validation.tfrecord), plus char_map.json, "
            "rejected.tsv and summary.json. Interrupted runs leave no dataset behind."
        ),
    )
    create.add_argument("--image-dir", "--image_dir", dest="image_dir", required=True, metavar="DIR")
    create.add_argument("--anno-file", "--anno_file", dest="anno_file", required=True, metavar="FILE")
    create.add_argument("--data-dir", "--data_dir", dest="data_dir", required=True, metavar="OUT")
    create.add_argument(
        "--validation-split-fraction", "--validation_split_fraction", dest="validation_split_fraction",
        type=float, default=0.1, metavar="F", help="share of samples for validation (default: %(default)s)",
    )  # fmt: skip
    create.add_argument("--anno-format", choices=ANNOTATION_FORMATS, default="auto", help="(default: %(default)s)")
    create.add_argument("--format", dest="store_format", choices=STORE_FORMATS, default="lmdb")
    create.add_argument("--charset", default="lower-alnum", help="preset name or file (default: %(default)s)")
    create.add_argument("--lowercase", action="store_true", help="lowercase labels before checking them")
    create.add_argument(
        "--unknown-chars", choices=UNKNOWN_CHAR_POLICIES, default="error",
        help="labels with symbols outside the charset: stop (error), reject the sample (skip) or delete "
        "the symbols (drop) (default: %(default)s)",
    )  # fmt: skip
    create.add_argument("--height", type=int, help="store images pre-scaled to this height (default: original bytes)")
    create.add_argument("--model-height", type=int, default=32, help="height for the label-length check")
    create.add_argument("--seed", type=int, default=0)
    create.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=True)
    create.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    create.add_argument("--overwrite", action="store_true", help="replace an existing DATA_DIR")
    create.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    create.set_defaults(handler=_run_dataset_create)

    inspect = actions.add_parser("inspect", help="statistics and a PNG grid of samples")
    inspect.add_argument("path", help="LMDB, .tfrecord, annotation file, or folder with labels.tsv")
    inspect.add_argument("--grid", metavar="PNG", help="where to write the sample grid (default: PATH-samples.png)")
    inspect.add_argument("--count", type=int, default=32, help="samples in the grid (default: %(default)s)")
    inspect.add_argument("--seed", type=int, default=0)
    inspect.add_argument("--charset", help="charset of a TFRecord without char_map.json beside it")
    inspect.set_defaults(handler=_run_dataset_inspect)

    download = actions.add_parser("download-synth90k", help="fetch the Synth90k (MJSynth) archive with resume")
    download.add_argument("--dest", required=True, metavar="DIR")
    download.add_argument("--count", type=int, help="extract only the first N images (streamed, no full download)")
    download.add_argument("--split", default="train", choices=("train", "val", "test"))
    download.add_argument("--url", help="archive location (default: the official one)")
    download.add_argument("--sha256", help="expected SHA-256 of the archive")
    download.add_argument("--md5", help="expected MD5 of the archive")
    download.set_defaults(handler=_run_dataset_download)


def _show_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _run_dataset_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data.create import CreateConfig, create_dataset

    config = CreateConfig(
        image_dir=Path(args.image_dir), anno_file=Path(args.anno_file), data_dir=Path(args.data_dir),
        validation_split_fraction=args.validation_split_fraction, anno_format=args.anno_format,
        store_format=args.store_format, charset=args.charset, lowercase=args.lowercase,
        unknown_chars=args.unknown_chars, height=args.height, model_height=args.model_height, seed=args.seed,
        shuffle=args.shuffle, workers=args.workers, overwrite=args.overwrite,
    )  # fmt: skip
    summary = create_dataset(config, progress=_show_progress(args.progress))
    rate = summary.written / summary.seconds if summary.seconds else 0.0
    print(
        f"wrote {summary.train:,} train + {summary.validation:,} validation samples to {summary.data_dir} "
        f"({summary.store_format}, annotations read as {summary.anno_format}) in {summary.seconds:.1f} s "
        f"({rate:,.0f} images/s)"
    )
    if summary.rejected:
        total = sum(summary.rejected.values())
        reasons = ", ".join(f"{reason}: {count}" for reason, count in summary.rejected.items())
        print(f"rejected {total:,} of {summary.lines:,} lines ({reasons}); see {summary.data_dir}/rejected.tsv")
    if summary.written == 0:
        _error("no sample passed the checks: the dataset is empty")
        return EXIT_SOME_FAILED
    return EXIT_OK


def _run_dataset_inspect(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .charset import Charset
    from .data.inspect import dataset_stats, format_stats, sample_grid
    from .data.readers import open_source

    charset = Charset.resolve(args.charset) if args.charset else None
    source = open_source(args.path, charset=charset)
    print(f"dataset:          {source.path} ({type(source).__name__})")
    print(format_stats(dataset_stats(source)))
    if len(source):
        grid = Path(args.grid) if args.grid else Path(str(Path(args.path)).rstrip("/") + "-samples.png")
        print(f"sample grid:      {sample_grid(source, grid, count=args.count, seed=args.seed)}")
    return EXIT_OK


def _run_dataset_download(args: argparse.Namespace) -> int:
    from .data.synth90k import OFFICIAL_URL, download_synth90k

    annotation = download_synth90k(
        args.dest, url=args.url or OFFICIAL_URL, count=args.count, split=args.split,
        sha256=args.sha256, md5=args.md5, progress=sys.stderr.isatty(),
    )  # fmt: skip
    from .data.synth90k import image_root

    print(f"annotation list: {annotation}")
    print(
        f"next: crnn dataset create --image_dir {image_root(args.dest)} --anno_file {annotation} "
        "--anno-format synth90k --data_dir DATA_DIR"
    )
    return EXIT_OK


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


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    # A kill (SIGTERM) unwinds like Ctrl-C, so half-written outputs are cleaned up.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
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
