"""``crnn dataset create | inspect | download-synth90k``."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_OK, EXIT_USAGE, add_progress_option, print_error, show_progress


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..data.annotations import ANNOTATION_FORMATS
    from ..data.create import STORE_FORMATS, UNKNOWN_CHAR_POLICIES

    dataset = commands.add_parser("dataset")
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
    add_progress_option(create)
    create.set_defaults(handler=run_create)

    inspect = actions.add_parser("inspect", help="statistics and a PNG grid of samples")
    inspect.add_argument("path", help="LMDB, .tfrecord, annotation file, or folder with labels.tsv")
    inspect.add_argument(
        "--grid", metavar="PNG",
        help="where to write the sample grid (default: NAME-samples.png in the current folder, NAME being "
        "PATH's last part; never beside the data, which may be read-only or another's)",
    )  # fmt: skip
    inspect.add_argument("--count", type=int, default=32, help="samples in the grid (default: %(default)s)")
    inspect.add_argument("--seed", type=int, default=0)
    inspect.add_argument("--charset", help="charset of a TFRecord without char_map.json beside it")
    inspect.set_defaults(handler=run_inspect)

    download = actions.add_parser("download-synth90k", help="fetch the Synth90k (MJSynth) archive with resume")
    download.add_argument("--dest", required=True, metavar="DIR")
    download.add_argument("--count", type=int, help="extract only the first N images (streamed, no full download)")
    download.add_argument("--split", default="train", choices=("train", "val", "test"))
    download.add_argument("--url", help="archive location (default: the official one)")
    download.add_argument("--sha256", help="expected SHA-256 of the archive")
    download.add_argument("--md5", help="expected MD5 of the archive")
    download.set_defaults(handler=run_download)


def run_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.create import CreateConfig, EmptyDatasetError, create_dataset

    config = CreateConfig(
        image_dir=Path(args.image_dir), anno_file=Path(args.anno_file), data_dir=Path(args.data_dir),
        validation_split_fraction=args.validation_split_fraction, anno_format=args.anno_format,
        store_format=args.store_format, charset=args.charset, lowercase=args.lowercase,
        unknown_chars=args.unknown_chars, height=args.height, model_height=args.model_height, seed=args.seed,
        shuffle=args.shuffle, workers=args.workers, overwrite=args.overwrite,
    )  # fmt: skip
    try:
        summary = create_dataset(config, progress=show_progress(args.progress))
    except EmptyDatasetError as error:  # nothing written: the reasons are all there is to show
        reasons = ", ".join(f"{reason}: {count}" for reason, count in error.summary.rejected.items())
        print(f"rejected {sum(error.summary.rejected.values()):,} of {error.summary.lines:,} lines ({reasons})")
        print_error(str(error))
        return EXIT_USAGE  # not "some failed": nothing could be kept
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
        print_error("no sample passed the checks: the dataset is empty")
        return EXIT_USAGE
    return EXIT_OK


def run_inspect(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..charset import Charset
    from ..data.inspect import dataset_stats, format_stats, sample_grid
    from ..data.readers import open_source

    charset = Charset.resolve(args.charset) if args.charset else None
    source = open_source(args.path, charset=charset)
    print(f"dataset:          {source.path} ({type(source).__name__})")
    print(format_stats(dataset_stats(source)))
    if len(source):
        # The last part of PATH as written ("." and a trailing slash resolved, links not followed).
        grid = Path(args.grid) if args.grid else Path(f"{Path(os.path.abspath(args.path)).name}-samples.png")
        print(f"sample grid:      {sample_grid(source, grid, count=args.count, seed=args.seed)}")
    return EXIT_OK


def run_download(args: argparse.Namespace) -> int:
    from ..data.synth90k import OFFICIAL_URL, download_synth90k

    annotation = download_synth90k(
        args.dest, url=args.url or OFFICIAL_URL, count=args.count, split=args.split,
        sha256=args.sha256, md5=args.md5, progress=sys.stderr.isatty(),
    )  # fmt: skip
    from ..data.synth90k import image_root

    print(f"annotation list: {annotation}")
    print(
        f"next: crnn dataset create --image_dir {image_root(args.dest)} --anno_file {annotation} "
        "--anno-format synth90k --data_dir DATA_DIR"
    )
    return EXIT_OK
