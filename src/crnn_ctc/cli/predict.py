"""``crnn predict``: recognize the text in images, one line per image."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from .common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_model_options,
    add_progress_option,
    add_runtime_options,
    decoder_name,
    decoder_options,
    print_error,
    show_progress,
    word_list_file,
)

if TYPE_CHECKING:
    from ..api import Prediction


def add_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
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
    predict.add_argument(
        "--image-lexicons", metavar="TSV",
        help="per-image lexicons, IMAGE<TAB>word,word,... a line (the IIIT5K/SVT form); they take precedence "
        "over --lexicon",
    )  # fmt: skip
    predict.add_argument("--format", choices=("tsv", "json", "seed"), default="tsv", help="(default: %(default)s)")
    predict.add_argument("--output", "-o", metavar="FILE", help="write results here instead of stdout")
    add_progress_option(predict)
    add_model_options(predict)
    add_runtime_options(predict)
    predict.set_defaults(handler=run)


@contextlib.contextmanager
def _open_output(path: str | None) -> Iterator[TextIO]:
    """stdout, or a file that appears only once complete (a failed run leaves an old one as it was)."""
    if path is None:
        yield sys.stdout
        return
    from ..files import atomic_text_file

    with atomic_text_file(path) as file:
        yield file


def _format_prediction(prediction: Prediction, name: str, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(
            {
                "path": name,
                "text": prediction.text,
                "confidence": round(prediction.confidence, 6),
                "char_probs": [round(p, 6) for p in prediction.char_probs],
                # Only a lexicon decoder flags (no lexicon word found); the key appears when it does.
                **({"flagged": True} if prediction.flagged else {}),
            },
            ensure_ascii=False,
        )
    if output_format == "seed":
        return f"Predict {name} image as: {prediction.text}"
    return f"{name}\t{prediction.text}\t{prediction.confidence:.4f}"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..api import Recognizer
    from ..inputs import collect_images

    if args.batch_size < 1:
        print_error(f"--batch-size must be at least 1, got {args.batch_size}")
        return EXIT_USAGE
    refs = collect_images(args.inputs, image_dir=args.image_dir, image_list=args.image_list, recursive=args.recursive)
    if not refs:
        where = f" in {', '.join(args.inputs)}" if args.inputs else ""
        print_error(f"no images to read{where}: pass image files or folders, or --image_dir / --image_list")
        return EXIT_USAGE
    if args.output is not None:
        from ..files import check_writable, refuse_same_file

        others = (args.image_list, args.image_lexicons, args.lexicon, args.model, word_list_file(args))
        refuse_same_file(args.output, [ref.path for ref in refs] + [p for p in others if p], "--output")
        check_writable(args.output)  # before the model loads and the images are read
    recognizer = Recognizer.load(
        args.model,
        model_dir=args.model_dir,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        decoder=decoder_name(args),
        decoder_options=decoder_options(args),
    )
    failed = 0
    predictions = recognizer.iter_recognize(
        [ref.path for ref in refs], batch_size=args.batch_size, errors="report", names=[ref.name for ref in refs]
    )
    show = show_progress(args.progress)
    with _open_output(args.output) as out, tqdm(total=len(refs), unit="img", disable=not show, file=sys.stderr) as bar:
        for prediction in predictions:
            bar.update(1)
            if prediction.error is not None:
                failed += 1
                tqdm.write(f"crnn: error: {prediction.source}: {prediction.error}", file=sys.stderr)
                continue
            print(_format_prediction(prediction, prediction.source, args.format), file=out)
    if failed == len(refs):
        print(f"crnn: none of the {len(refs):,} images could be read", file=sys.stderr)
        return EXIT_USAGE
    if failed:
        print(f"crnn: {failed} of {len(refs)} images could not be read", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
