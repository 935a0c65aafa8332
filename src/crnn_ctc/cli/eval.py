"""``crnn eval``: word accuracy, CER and 1-NED of a model on datasets, one table row per dataset."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import CrnnError
from .common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_model_options,
    add_runtime_options,
    decoder_name,
    decoder_options,
    print_error,
)

if TYPE_CHECKING:
    from ..data.readers import SampleSource


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..evaluate import PROTOCOLS

    evaluate = commands.add_parser(
        "eval",
        description="Evaluate a model on datasets (LMDB, TFRecord, annotated folder), one table row per dataset.",
    )
    evaluate.add_argument("--data", nargs="+", metavar="SRC", help="datasets to evaluate on")
    evaluate.add_argument(
        "--data-dir", "--data_dir", dest="data_dir", help="the seed's layout: uses DIR/test or DIR/validation"
    )
    evaluate.add_argument("--protocol", choices=sorted(PROTOCOLS), default="lower-alnum", help="(default: %(default)s)")
    evaluate.add_argument("--predictions", metavar="OUT.tsv", help="write every sample's label, prediction, confidence")
    evaluate.add_argument("--worst", type=int, default=0, metavar="K", help="show the K most confident mistakes")
    evaluate.add_argument(
        "--image-lexicons", metavar="TSV",
        help="per-image lexicons, IMAGE<TAB>word,word,... (the IIIT5K/SVT small lexicons); for datasets that "
        "name their images (an annotation file or a folder with one), matched by path",
    )  # fmt: skip
    add_model_options(evaluate)
    add_runtime_options(evaluate)
    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..api import Recognizer
    from ..data.readers import find_split, open_source
    from ..evaluate import evaluate_source

    sources = list(args.data or [])
    if args.data_dir:
        try:
            sources.append(str(find_split(args.data_dir, "test")))
        except CrnnError:
            sources.append(str(find_split(args.data_dir, "validation")))
    if not sources:
        print_error("no data: pass --data SRC [SRC ...] or --data_dir DIR")
        return EXIT_USAGE
    opened = [open_source(location) for location in sources]  # a missing or damaged dataset stops us here
    if args.predictions:
        _check_predictions_output(args, opened)  # before the model loads and the data is read
    recognizer = Recognizer.load(
        args.model, model_dir=args.model_dir, backend=args.backend, device=args.device,
        threads=args.threads, decoder=decoder_name(args), decoder_options=decoder_options(args),
    )  # fmt: skip
    protocols = [args.protocol] + [p for p in ("lower-alnum", "alnum", "raw") if p != args.protocol]
    print(f"model: {recognizer.info.path}  protocol: {args.protocol} (also shown: word accuracy under the others)")
    header = (
        f"{'dataset':<40} {'samples':>8} {'excluded':>8} {'word acc':>9} {'CER':>7} {'WER':>7} {'1-NED':>7}  "
        + "  ".join(f"{p:>11}" for p in protocols[1:])
    )
    print(header)
    failed = 0
    all_rows = []
    for location, source in zip(sources, opened, strict=True):
        reports, rows = evaluate_source(recognizer, source, protocols, batch_size=args.batch_size)
        main_report = reports[args.protocol]
        others = "  ".join(f"{reports[p].word_accuracy:>11.2%}" for p in protocols[1:])
        counts = f"{main_report.samples:>8,} {main_report.excluded:>8,}"
        metrics = (
            f"{main_report.word_accuracy:>9.2%} {main_report.cer:>7.2%} {main_report.wer:>7.2%} "
            f"{main_report.one_minus_ned:>7.3f}"
        )
        unread = sum(row.error is not None for row in rows)
        if rows and unread == len(rows):  # scores of nothing read are no scores: say so instead of 0.00%
            print(f"{location[-40:]:<40} {counts}  none of its samples could be read")
        else:
            print(f"{location[-40:]:<40} {counts} {metrics}  {others}")
        for row in rows:
            if row.error is not None:
                failed += 1
                # A name that is not already a path inside the dataset says which dataset it is from.
                where = row.name if row.name.startswith(location) else f"{location}: sample {row.name}"
                print(f"crnn: error: {where}: {row.error}", file=sys.stderr)
        all_rows.extend(rows)
        if args.worst:
            print(f"  {args.worst} most confident mistakes ({args.protocol}):")
            for mistake in main_report.most_confident_mistakes(args.worst):
                print(f"    {mistake.confidence:.3f}  label {mistake.label!r}  read {mistake.prediction!r}")
    if args.predictions:
        from ..files import atomic_text_file, tsv_field

        with atomic_text_file(args.predictions) as file:
            file.write("sample\tlabel\tprediction\tconfidence\terror\n")
            for row in all_rows:
                fields = (row.name, row.label, row.prediction, f"{row.confidence:.6f}", row.error or "")
                file.write("\t".join(tsv_field(field) for field in fields) + "\n")
    if failed and failed == len(all_rows):
        print(f"crnn: none of the {failed:,} samples could be read", file=sys.stderr)
        return EXIT_USAGE
    if failed:
        print(f"crnn: {failed} samples could not be read (counted as wrong)", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _check_predictions_output(args: argparse.Namespace, opened: list[SampleSource]) -> None:
    """Refuse a ``--predictions`` file that is an input (an annotation file or its images, a TFRecord's
    char map, a lexicon, the model) or would become one (an annotation name in an annotated folder being
    read, any file of an LMDB being read), and one that cannot be written: before any work, so nothing
    is lost."""
    from pathlib import Path

    from ..bundle import resolve_model_path
    from ..data.readers import ANNOTATION_NAMES, FolderSource, TFRecordSource
    from ..errors import OutputError
    from ..files import check_writable, refuse_same_file
    from .common import word_list_file

    out = args.predictions
    target = Path(out).resolve()
    inputs: list[str | Path] = [p for p in (args.image_lexicons, args.lexicon, word_list_file(args)) if p]
    inputs.append(resolve_model_path(args.model, args.model_dir))
    annotated: list[Path] = []  # folders whose annotation file is read
    databases: list[Path] = []  # LMDB folders (a folder, a folder of shards, or the one of a data.mdb named)
    for source in opened:
        if isinstance(source, FolderSource):
            inputs.append(source.path)
            inputs.extend(image for image, _ in source.items)
            annotated.append(source.path.parent)
        elif isinstance(source, TFRecordSource):
            inputs.extend((source.path, source.path.parent / "char_map.json"))
        else:
            databases.append(source.path if source.path.is_dir() else source.path.parent)
    refuse_same_file(out, inputs, "--predictions")
    for folder in annotated:
        if target.parent == folder.resolve() and target.name in ANNOTATION_NAMES:
            raise OutputError(f"--predictions {out}: the next read of {folder} would take it for the annotations; "
                              "write it elsewhere")  # fmt: skip
    for folder in databases:
        if target.is_relative_to(folder.resolve()):
            raise OutputError(f"--predictions {out} lies inside the dataset {folder}; write it elsewhere")
    check_writable(out)
