"""The ``crnn`` command: thin subcommands over the Python API. Printing and exit codes live here.

Exit codes: 0 success; 1 some inputs could not be read (the rest were processed);
2 nothing could run (bad flags, no inputs, unusable model file).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from ._version import __version__
from .errors import CrnnError

if TYPE_CHECKING:
    from pathlib import Path

    from .api import Prediction
    from .decode import DecoderOptions

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
    group.add_argument(
        "--decoder",
        choices=DECODERS,
        help="(default: lexicon when a lexicon is given, else greedy; docs/confidence.md)",
    )
    group.add_argument(
        "--beam-width", type=int, default=10, metavar="K", help="beam search width (default: %(default)s)"
    )
    group.add_argument("--lexicon", metavar="FILE", help="read only words of FILE (one a line): the paper's search")
    group.add_argument(
        "--max-edit-distance", type=int, default=3, metavar="D",
        help="lexicon words searched: within D edits of the greedy text (default: %(default)s, as in the paper)",
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


class _Commands(argparse._SubParsersAction):
    """``crnn``'s subcommands, each given its parser and options only when it is chosen, so that
    `crnn --help` and `crnn predict` import none of the other commands' modules (training and export
    import PyTorch, which takes seconds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._adders: dict[str, Callable[[argparse._SubParsersAction], None]] = {}

    def add_command(self, name: str, summary: str, adder: Callable[[argparse._SubParsersAction], None]) -> None:
        """``name`` and its ``summary`` line in `crnn --help`; ``adder`` adds its parser when it is chosen."""
        self.add_parser(name, help=summary)  # a placeholder until then
        self._adders[name] = adder

    def build(self, name: str) -> argparse.ArgumentParser:
        """The parser of command ``name``, with its options."""
        adder = self._adders.pop(name, None)
        if adder is not None:
            del self._name_parser_map[name]
            listed = list(self._choices_actions)
            adder(self)
            self._choices_actions[:] = listed  # `crnn --help` keeps one line per command
        return self._name_parser_map[name]

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        self.build(values[0])
        super().__call__(parser, namespace, values, option_string)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crnn",
        description="Text recognition in cropped word and line images with CRNN + CTC.",
        epilog="Exit codes: 0 success; 1 some inputs could not be read; 2 nothing could run.",
    )
    parser.add_argument("--version", action="version", version=f"crnn-ctc {__version__}")
    commands = cast(_Commands, parser.add_subparsers(dest="command", metavar="COMMAND", action=_Commands))
    commands.required = True
    commands.add_command("predict", "recognize text in images", _add_predict_command)
    commands.add_command("read", "read whole pages and PDFs: text, JSON or hOCR", _add_read_command)
    commands.add_command("dataset", "create, inspect and download datasets", _add_dataset_commands)
    commands.add_command("train", "train a model (seed form: --data_dir --model_dir --batch_size)", _add_train_command)
    commands.add_command("synth", "render synthetic word images into an LMDB dataset", _add_synth_command)
    commands.add_command("synth-pages", "render synthetic pages with exact line boxes and text", _add_synth_pages)
    commands.add_command(
        "export", "write an ONNX model (dynamic batch and width) that works without PyTorch", _add_export_command
    )
    commands.add_command(
        "calibrate", "fit the confidence's temperature on labelled data and write the model with it",
        _add_calibrate_command,
    )  # fmt: skip
    commands.add_command("bench", "images/s and latency per backend, batch size and width", _add_bench_command)
    commands.add_command("eval", "word accuracy, CER and 1-NED of a model on datasets", _add_eval_command)
    commands.add_command(
        "serve", "HTTP service: POST images, get text and confidence back; a web page at /", _add_serve_command
    )
    commands.add_command("info", "describe a model file", _add_info_command)
    return parser


def _add_predict_command(commands: argparse._SubParsersAction) -> None:
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
    predict.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )
    _add_model_options(predict)
    _add_runtime_options(predict)
    predict.set_defaults(handler=_run_predict)


def _add_info_command(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser("info", description="Print a model file's config.")
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="print the full JSON config")
    info.set_defaults(handler=_run_info)


def _add_dataset_commands(commands: argparse._SubParsersAction) -> None:
    from .data.annotations import ANNOTATION_FORMATS
    from .data.create import STORE_FORMATS, UNKNOWN_CHAR_POLICIES

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


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers, got {text!r}")
    return values


def _add_bench_command(commands: argparse._SubParsersAction) -> None:
    from .runtime import BACKENDS

    bench = commands.add_parser(
        "bench",
        description="Time the model's engines on generated inputs; print a table and plot latency vs width.",
    )
    _add_model_options(bench)
    bench.add_argument(
        "--backend", nargs="+", choices=BACKENDS, default=["torch", "onnx", "auto"],
        help="auto is what crnn predict uses (on a CPU: the model's int8 graph if it ships one and the CPU has VNNI, "
        "else onnx)",
    )  # fmt: skip
    bench.add_argument("--batch-sizes", type=_int_list, default=[1, 64], metavar="N,N")
    bench.add_argument("--widths", type=_int_list, default=[100, 200, 400, 800], metavar="W,W")
    bench.add_argument("--threads", type=int, metavar="N", help="CPU threads per engine (default: the engine's own)")
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--plot", default="bench.png", metavar="PNG", help="(default: %(default)s)")
    bench.set_defaults(handler=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import format_table, plot_latency, run_bench
    from .bundle import load_bundle, resolve_model_path
    from .runtime import set_threads

    set_threads(args.threads)
    bundle = load_bundle(resolve_model_path(args.model, args.model_dir))
    rows = run_bench(bundle, args.backend, args.batch_sizes, args.widths, threads=args.threads, repeats=args.repeats)
    threads = args.threads or torch.get_num_threads()
    print(f"{bundle.path} ({bundle.config.arch}), {threads} thread(s), median of {args.repeats} repeats\n")
    print(format_table(rows))
    print(f"\nlatency vs width: {plot_latency(rows, args.plot)}")
    return EXIT_OK


def _add_export_command(commands: argparse._SubParsersAction) -> None:
    from .export import DEFAULT_OPSET

    export = commands.add_parser(
        "export",
        description=(
            "Export to ONNX with the model's config (charset, preprocessing, version) in the file's metadata, "
            "so the .onnx file alone recognizes text (crnn predict --model model.onnx). A parity check against "
            "PyTorch over several widths and batch sizes runs at the end and rejects a mismatching export."
        ),
    )
    _add_model_options(export)
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
    export.set_defaults(handler=_run_export)


def _add_calibrate_command(commands: argparse._SubParsersAction) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        description=(
            "Recognize DATA with the model (greedy, fp32), fit one temperature T (log-probs / T) that makes the "
            "confidence an honest probability of being right (least log loss), and write a copy of the model file "
            "that carries T: every backend and the service apply it. Fit on data like what the model will read, "
            "but not on the set you judge it on (docs/confidence.md)."
        ),
    )
    _add_model_options(calibrate)
    calibrate.add_argument("--data", nargs="+", required=True, metavar="SRC", help="labelled datasets to fit on")
    calibrate.add_argument("--out", required=True, metavar="FILE", help="the calibrated .safetensors to write")
    calibrate.add_argument(
        "--protocol", choices=("raw", "alnum", "lower-alnum"), default="raw",
        help="what counts as right (default: %(default)s, the exact text the confidence is about)",
    )  # fmt: skip
    calibrate.set_defaults(handler=_run_calibrate)


def _run_calibrate(args: argparse.Namespace) -> int:
    from .bundle import resolve_model_path
    from .calibration import calibrate_file
    from .files import check_writable, refuse_same_file

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


def _run_export(args: argparse.Namespace) -> int:
    from .bundle import load_bundle, resolve_model_path
    from .export import PARITY_BATCHES, PARITY_WIDTHS, export_onnx

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


def _add_read_command(commands: argparse._SubParsersAction) -> None:
    from .page.command import add_read_command

    add_read_command(commands)


def _add_synth_command(commands: argparse._SubParsersAction) -> None:
    from .synth.command import add_synth_command

    add_synth_command(commands)


def _add_synth_pages(commands: argparse._SubParsersAction) -> None:
    from .synth.page_command import add_synth_pages_command

    add_synth_pages_command(commands)


def _add_train_command(commands: argparse._SubParsersAction) -> None:
    from .model import ARCHITECTURES
    from .training.config import AMP_MODES, OPTIMIZERS, SCHEDULES

    train = commands.add_parser(
        "train",
        description=(
            "Train on LMDB, TFRecord, annotated folders or on-the-fly synthetic data (synth:). "
            "Options may come from --config FILE (YAML, TOML or JSON, same names); flags override it. "
            "Writes MODEL_DIR/model.safetensors (the best validated model), best.safetensors, checkpoints/, "
            "config.json, log.csv, tensorboard/ and curves.png. Multi-GPU or multi-process: "
            "torchrun --nproc-per-node N -m crnn_ctc train ..."
        ),
        argument_default=argparse.SUPPRESS,
    )
    train.add_argument("--config", metavar="FILE", help="YAML/TOML/JSON file of options")
    train.add_argument("--data-dir", "--data_dir", dest="data_dir", metavar="DIR", help="DIR/train + DIR/validation")
    train.add_argument("--model-dir", "--model_dir", dest="model_dir", metavar="DIR", help="(default: runs/crnn)")
    train.add_argument("--train", nargs="+", metavar="SRC", help="training sources, SRC[@WEIGHT]; synth: renders")
    train.add_argument("--val", nargs="+", metavar="SRC", help="validation sources")
    train.add_argument("--arch", choices=sorted(ARCHITECTURES))
    train.add_argument("--charset", help="preset name or file (default: lower-alnum)")
    train.add_argument("--height", type=int)
    train.add_argument("--channels", type=int, choices=(1, 3))
    train.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int)
    train.add_argument("--max-steps", dest="max_steps", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--epoch-size", dest="epoch_size", type=int, help="samples per epoch when mixing sources")
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--lr", type=float, help="default: 1e-3 (adam/adamw), 1.0 (adadelta)")
    train.add_argument("--schedule", choices=SCHEDULES)
    train.add_argument("--warmup-steps", dest="warmup_steps", type=int)
    train.add_argument("--weight-decay", dest="weight_decay", type=float)
    train.add_argument("--grad-clip", dest="grad_clip", type=float)
    train.add_argument(
        "--amp", nargs="?", const="auto", choices=AMP_MODES,
        help="precision: auto (default: bf16 where the CPU or GPU computes it natively, else fp32), off (fp32), "
        "bf16, fp16 (CUDA)",
    )  # fmt: skip
    train.add_argument("--workers", type=int, help="data loading processes")
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    train.add_argument("--val-every", dest="val_every", type=int, metavar="STEPS")
    train.add_argument("--val-limit", dest="val_limit", type=int, metavar="N")
    train.add_argument("--val-protocol", dest="val_protocol", help="protocol for choosing the best model")
    train.add_argument("--save-every", dest="save_every", type=int, metavar="STEPS")
    train.add_argument("--log-every", dest="log_every", type=int, metavar="STEPS")
    train.add_argument("--patience", type=int, metavar="VALIDATIONS", help="early stopping")
    train.add_argument("--init-from", dest="init_from", metavar="MODEL", help="fine-tune from a model file")
    train.add_argument("--resume", action="store_true", help="continue MODEL_DIR's run exactly where it stopped")
    train.add_argument(
        "--overwrite", action="store_true", help="start over in a MODEL_DIR that holds a run (its files are replaced)"
    )
    train.add_argument("--progress", action=argparse.BooleanOptionalAction)
    train.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from .data.readers import find_split
    from .training import TrainConfig, read_config_file, train

    own = ("handler", "command", "config", "resume", "overwrite", "progress")
    flags = {k: v for k, v in vars(args).items() if k not in own}
    values: dict[str, object] = {}
    resume = bool(getattr(args, "resume", False))
    if resume and getattr(args, "overwrite", False):
        _error("--resume continues MODEL_DIR's run and --overwrite starts it over: pass one of them")
        return EXIT_USAGE
    model_dir = Path(flags.get("model_dir", "runs/crnn"))
    if resume:
        saved = model_dir / "config.json"
        if not saved.is_file():
            _error(f"--resume: {saved} not found; is {model_dir} a training run's folder?")
            return EXIT_USAGE
        values.update(read_config_file(saved))
    if getattr(args, "config", None):
        values.update(read_config_file(args.config))
    values.update(flags)
    data_dir = values.get("data_dir")
    if data_dir and not values.get("train"):
        values["train"] = [str(find_split(str(data_dir), "train"))]
        if not values.get("val"):
            try:
                values["val"] = [str(find_split(str(data_dir), "validation"))]
            except CrnnError:
                values["val"] = []
    config = TrainConfig.from_dict(values, origin="options")
    if not config.train:
        _error("no training data: pass --data_dir DIR, --train SRC [SRC ...], or a --config file naming them")
        return EXIT_USAGE
    earlier = [name for name in _RUN_FILES if (Path(config.model_dir) / name).exists()]
    if earlier and not resume and not getattr(args, "overwrite", False):
        _error(f"{config.model_dir} holds a training run ({earlier[0]}): pass --resume to continue it, or "
               "--overwrite to start over and replace its files")  # fmt: skip
        return EXIT_USAGE
    show = _show_progress(getattr(args, "progress", None))
    with _noting_ctrl_c() as pressed:
        result = train(config, resume=resume, progress=show, report=lambda line: tqdm.write(line, file=sys.stderr))
    best = f"{result.best_accuracy:.2%}" if result.best_accuracy is not None else "not validated"
    print(f"{result.stopped} after {result.steps:,} steps; best validation word accuracy {best}; "
          f"model: {result.model_path}")  # fmt: skip
    if pressed and result.stopped.startswith("interrupted"):
        # Saved and stopped cleanly, yet interrupted: 130 as for every command. (A SIGTERM that the
        # run survives with its checkpoint stays 0, for job schedulers that stop runs on purpose.)
        print("crnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


# A folder holding one of these holds a training run (finished, or stopped with a checkpoint).
_RUN_FILES = ("model.safetensors", "checkpoints/last.pt")


@contextlib.contextmanager
def _noting_ctrl_c() -> Iterator[list[int]]:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt as usual, and is noted in the yielded list: the
    trainer catches the interrupt to save a checkpoint, and the exit code must still say it."""
    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield pressed
        return

    def note(signum: int, frame: object) -> None:
        pressed.append(signum)
        signal.default_int_handler(signum, frame)  # type: ignore[arg-type]

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _add_serve_command(commands: argparse._SubParsersAction) -> None:
    from .runtime import BACKENDS
    from .serve.config import ServeConfig

    defaults = ServeConfig()
    serve = commands.add_parser(
        "serve",
        description=(
            "Serve the model over HTTP (FastAPI + uvicorn): POST /v1/recognize (multipart files or JSON with base64 "
            "images), POST /v1/read (a whole page or PDF), GET /health, /v1/model, /metrics (Prometheus), /docs "
            "(OpenAPI) and a web page at /. "
            "Concurrent requests share forward passes. docs/serving.md has the details."
        ),
    )
    _add_model_options(serve)
    engine = serve.add_argument_group("inference")
    engine.add_argument("--backend", choices=BACKENDS, default="auto", help="inference engine (default: %(default)s)")
    engine.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    engine.add_argument("--threads", type=int, metavar="N", help="CPU threads per worker (default: the engine's own)")
    server = serve.add_argument_group("server")
    server.add_argument("--host", default=defaults.host, help="address to listen on (default: %(default)s, loopback)")
    server.add_argument("--port", type=int, default=defaults.port, help="(default: %(default)s)")
    server.add_argument(
        "--workers", type=int, default=defaults.workers, metavar="N",
        help="processes, each with its own model and batcher (default: %(default)s)",
    )  # fmt: skip
    server.add_argument(
        "--log-level", default=defaults.log_level, choices=("critical", "error", "warning", "info", "debug")
    )
    server.add_argument("--access-log", action="store_true", help="log every request (default: off; see /metrics)")
    limits = serve.add_argument_group("limits and batching")
    limits.add_argument(
        "--max-body-mb", type=float, default=defaults.max_body_mb, metavar="MB",
        help="largest request body, enforced while reading (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument("--max-images", type=int, default=defaults.max_images, metavar="N",
                        help="images per request (default: %(default)s)")  # fmt: skip
    limits.add_argument("--max-batch", type=int, default=defaults.max_batch, metavar="N",
                        help="images per forward pass (default: %(default)s)")  # fmt: skip
    limits.add_argument(
        "--batch-wait-ms", type=float, default=defaults.batch_wait_ms, metavar="MS",
        help="how long an idle batcher waits for more images to join the first (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-pixels", type=int, default=defaults.max_pixels, metavar="N",
        help="pixels per image, checked before decoding it (decompression bombs) (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-queue", type=int, default=defaults.max_queue, metavar="N",
        help="images waiting for inference before requests get 503 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-lexicon-words", type=int, default=defaults.max_lexicon_words, metavar="N",
        help="words in a request's own lexicon; more get 413 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-lexicon-mb", type=float, default=defaults.max_lexicon_mb, metavar="MB",
        help="size of a request's own lexicon, one word a line; more gets 413 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-edit-distance", type=int, default=defaults.max_edit_distance, metavar="D",
        help="largest max_edit_distance a request may ask for; more gets 422 (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--request-timeout-s", type=float, default=defaults.request_timeout_s, metavar="S",
        help="a request's work (reading its images, inference, decoding) past this is stopped: 503 "
        "(default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--client-timeout-s", type=float, default=defaults.client_timeout_s, metavar="S",
        help="a request's headers, and then its body, must each arrive within this, else 408 and the connection "
        "is closed (default: %(default)s)",
    )  # fmt: skip
    pages = serve.add_argument_group("pages (POST /v1/read)")
    pages.add_argument(
        "--max-page-pixels", type=int, default=defaults.max_page_pixels, metavar="N",
        help="pixels per page, checked before decoding or rendering it; more get 413 (default: %(default)s)",
    )  # fmt: skip
    pages.add_argument("--max-pages", type=int, default=defaults.max_pages, metavar="N",
                       help="pages in one document; more get 413 (default: %(default)s)")  # fmt: skip
    pages.add_argument("--page-dpi", type=int, default=defaults.page_dpi, metavar="DPI",
                       help="resolution PDF pages are rendered at (default: %(default)s)")  # fmt: skip
    serve.set_defaults(handler=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from .serve import ServeConfig, run_server

    config = ServeConfig(
        model=args.model, model_dir=args.model_dir, backend=args.backend, device=args.device, threads=args.threads,
        host=args.host, port=args.port, workers=args.workers, max_body_mb=args.max_body_mb,
        max_images=args.max_images, max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
        max_pixels=args.max_pixels, max_queue=args.max_queue, max_lexicon_words=args.max_lexicon_words,
        max_lexicon_mb=args.max_lexicon_mb, max_edit_distance=args.max_edit_distance,
        request_timeout_s=args.request_timeout_s, client_timeout_s=args.client_timeout_s, log_level=args.log_level,
        access_log=args.access_log, max_page_pixels=args.max_page_pixels, max_pages=args.max_pages,
        page_dpi=args.page_dpi,
    )  # fmt: skip
    try:
        run_server(config)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: uvicorn finished the requests in flight
        pass
    except SystemExit as stop:  # uvicorn exits on startup failures (port taken...), having logged why
        if stop.code:
            _error(f"the server could not start on {config.host}:{config.port} (uvicorn's message is above)")
            return EXIT_USAGE
    print("crnn serve: stopped", file=sys.stderr)
    return EXIT_OK


def _add_eval_command(commands: argparse._SubParsersAction) -> None:
    from .evaluate import PROTOCOLS

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
    _add_model_options(evaluate)
    _add_runtime_options(evaluate)
    evaluate.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from .api import Recognizer
    from .data.readers import find_split, open_source
    from .evaluate import evaluate_source

    sources = list(args.data or [])
    if args.data_dir:
        try:
            sources.append(str(find_split(args.data_dir, "test")))
        except CrnnError:
            sources.append(str(find_split(args.data_dir, "validation")))
    if not sources:
        _error("no data: pass --data SRC [SRC ...] or --data_dir DIR")
        return EXIT_USAGE
    opened = [open_source(location) for location in sources]  # a missing or damaged dataset stops us here
    recognizer = Recognizer.load(
        args.model, model_dir=args.model_dir, backend=args.backend, device=args.device,
        threads=args.threads, decoder=_decoder_name(args), decoder_options=_decoder_options(args),
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
        print(f"{location[-40:]:<40} {counts} {metrics}  {others}")
        for row in rows:
            if row.error is not None:
                failed += 1
                print(f"crnn: error: {row.name}: {row.error}", file=sys.stderr)
        all_rows.extend(rows)
        if args.worst:
            print(f"  {args.worst} most confident mistakes ({args.protocol}):")
            for mistake in main_report.most_confident_mistakes(args.worst):
                print(f"    {mistake.confidence:.3f}  label {mistake.label!r}  read {mistake.prediction!r}")
    if args.predictions:
        with open(args.predictions, "w", encoding="utf-8") as file:
            file.write("sample\tlabel\tprediction\tconfidence\terror\n")
            for row in all_rows:
                file.write(f"{row.name}\t{row.label}\t{row.prediction}\t{row.confidence:.6f}\t{row.error or ''}\n")
    if failed:
        print(f"crnn: {failed} samples could not be read (counted as wrong)", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _show_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _decoder_name(args: argparse.Namespace) -> str:
    """``--decoder``, else ``lexicon`` when a lexicon is given, else ``greedy``."""
    has_lexicon = args.lexicon or getattr(args, "image_lexicons", None)
    return str(args.decoder or ("lexicon" if has_lexicon else "greedy"))


def _decoder_options(args: argparse.Namespace) -> DecoderOptions:
    from .decode import DecoderOptions

    return DecoderOptions(
        beam_width=args.beam_width, lexicon=args.lexicon, image_lexicons=getattr(args, "image_lexicons", None),
        max_edit_distance=args.max_edit_distance, allow=args.allow, block=args.block,
    )  # fmt: skip


def _run_dataset_create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data.create import CreateConfig, EmptyDatasetError, create_dataset

    config = CreateConfig(
        image_dir=Path(args.image_dir), anno_file=Path(args.anno_file), data_dir=Path(args.data_dir),
        validation_split_fraction=args.validation_split_fraction, anno_format=args.anno_format,
        store_format=args.store_format, charset=args.charset, lowercase=args.lowercase,
        unknown_chars=args.unknown_chars, height=args.height, model_height=args.model_height, seed=args.seed,
        shuffle=args.shuffle, workers=args.workers, overwrite=args.overwrite,
    )  # fmt: skip
    try:
        summary = create_dataset(config, progress=_show_progress(args.progress))
    except EmptyDatasetError as error:  # nothing written: the reasons are all there is to show
        reasons = ", ".join(f"{reason}: {count}" for reason, count in error.summary.rejected.items())
        print(f"rejected {sum(error.summary.rejected.values()):,} of {error.summary.lines:,} lines ({reasons})")
        _error(str(error))
        return EXIT_SOME_FAILED
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
    """stdout, or a file that appears only once complete (a failed run leaves an old one as it was)."""
    if path is None:
        yield sys.stdout
        return
    from .files import atomic_text_file

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
    if args.output is not None:
        from .files import check_writable, refuse_same_file

        others = (args.image_list, args.image_lexicons, args.lexicon, args.model)
        refuse_same_file(args.output, [ref.path for ref in refs] + [p for p in others if p], "--output")
        check_writable(args.output)  # before the model loads and the images are read
    recognizer = Recognizer.load(
        args.model,
        model_dir=args.model_dir,
        backend=args.backend,
        device=args.device,
        threads=args.threads,
        decoder=_decoder_name(args),
        decoder_options=_decoder_options(args),
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
    if path.suffix == ".onnx":
        return _run_info_onnx(path, args.json)
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


def _run_info_onnx(path: Path, as_json: bool) -> int:
    """An exported graph: the config in its metadata, and how it was exported."""
    from .bundle import METADATA_KEY, model_info
    from .errors import ModelFileError
    from .runtime.onnx_engine import QUANTIZATION_KEY, SOURCE_KEY, OnnxEngine

    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    metadata = OnnxEngine(path).metadata()
    if METADATA_KEY not in metadata:
        raise ModelFileError(f"{path}: an ONNX model, but not one exported by crnn-ctc (no config in its metadata)")
    try:
        description = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: the ONNX model's config is malformed: {error}") from None
    info = model_info(description, path)
    export = {"quantization": metadata.get(QUANTIZATION_KEY), "source_sha256": metadata.get(SOURCE_KEY)}
    if as_json:
        print(json.dumps({**description, "onnx": export}, ensure_ascii=False, indent=2))
        return EXIT_OK
    prep = info.preprocess
    width_policy = f"fixed {prep.fixed_width}" if prep.fixed_width else f"{prep.min_width}..{prep.max_width}"
    print(f"file:           {path}")
    print(f"format:         ONNX, {export['quantization'] or 'fp32'} (crnn export)")
    print(f"architecture:   {info.config.arch} ({info.config.num_classes} classes)")
    print(f"charset:        {len(info.charset)} symbols: {''.join(info.charset.symbols)}")
    print(f"input:          {prep.channels} channel(s), height {prep.height}, width {width_policy}")
    if export["source_sha256"]:
        print(f"exported from:  a model file with SHA-256 {export['source_sha256']}")
    for key, value in sorted(info.provenance.items()):
        print(f"{key + ':':<16}{value}")
    return EXIT_OK


_MAIN_PID = os.getpid()


def _raise_interrupt(signum: int, frame: object) -> None:
    if os.getpid() != _MAIN_PID:
        # A forked worker (a pool being shut down) simply ends, as it would by default.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    # A kill (SIGTERM) unwinds like Ctrl-C, so half-written outputs are cleaned up.
    if threading.current_thread() is threading.main_thread():
        global _MAIN_PID
        _MAIN_PID = os.getpid()
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
