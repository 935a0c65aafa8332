"""``crnn train``: options from flags and/or a config file, over ``training.train``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from .common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, add_progress_option, print_error, show_progress


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..model import ARCHITECTURES
    from ..training.config import AMP_MODES, AUGMENT_MODES, FREEZE_BN_MODES, OPTIMIZERS, SCHEDULES

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
    train.add_argument(
        "--charset",
        help="preset name or file (default: the one the training data states in its char_map.json or LMDB "
        "metadata; with --init-from, the model's plus any symbol the data adds; else lower-alnum)",
    )
    train.add_argument("--height", type=int)
    train.add_argument("--channels", type=int, choices=(1, 3))
    train.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int)
    train.add_argument("--max-steps", dest="max_steps", type=int)
    train.add_argument("--epochs", type=int)
    train.add_argument("--epoch-size", dest="epoch_size", type=int, help="samples per epoch when mixing sources")
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument(
        "--lr", type=float,
        help="peak learning rate (default: adam/adamw 3e-3 from scratch, 2e-4 with --init-from; adadelta 1.0)",
    )  # fmt: skip
    train.add_argument("--schedule", choices=SCHEDULES)
    train.add_argument("--warmup-steps", dest="warmup_steps", type=int)
    train.add_argument("--weight-decay", dest="weight_decay", type=float)
    train.add_argument("--grad-clip", dest="grad_clip", type=float)
    train.add_argument(
        "--ema-decay", dest="ema_decay", type=float, metavar="DECAY",
        help="validate and save an exponential moving average of the weights (e.g. 0.999: about the last "
        "1,000 steps) instead of the last step's; default: off",
    )  # fmt: skip
    train.add_argument(
        "--amp", nargs="?", const="auto", choices=AMP_MODES,
        help="precision: auto (default: bf16 where the CPU or GPU computes it natively, else fp32), off (fp32), "
        "bf16, fp16 (CUDA)",
    )  # fmt: skip
    train.add_argument("--workers", type=int, help="data loading processes")
    train.add_argument(
        "--augment", nargs="?", const="on", choices=AUGMENT_MODES,
        help="perturb stored training images anew each epoch (rotation, slant, zoom, exposure, blur, noise, JPEG): "
        "auto (default: on with --init-from, off from scratch), on, off; synth: images are rendered new instead",
    )  # fmt: skip
    train.add_argument(
        "--freeze-bn", dest="freeze_bn", nargs="?", const="on", choices=FREEZE_BN_MODES,
        help="keep batch norm's statistics as the model file has them (its scale and shift still train): auto "
        "(default: on with --init-from, off from scratch), on, off",
    )  # fmt: skip
    train.add_argument(
        "--cnn-ctc", dest="cnn_ctc", type=float, metavar="WEIGHT",
        help="weight of a training-only CTC loss read straight from the CNN's features, which leaves CTC's "
        "plateau sooner (default: 0.5 from scratch, 0 with --init-from; never in the model file)",
    )  # fmt: skip
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
    add_progress_option(train, "progress bars")
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from ..training import TrainConfig, read_config_file, train

    own = ("handler", "command", "config", "resume", "overwrite", "progress")
    flags = {k: v for k, v in vars(args).items() if k not in own}
    values: dict[str, object] = {}
    resume = bool(getattr(args, "resume", False))
    if resume and getattr(args, "overwrite", False):
        print_error("--resume continues MODEL_DIR's run and --overwrite starts it over: pass one of them")
        return EXIT_USAGE
    model_dir = Path(flags.get("model_dir", "runs/crnn"))
    if resume:
        saved = model_dir / "config.json"
        if not saved.is_file():
            print_error(f"--resume: {saved} not found; is {model_dir} a training run's folder?")
            return EXIT_USAGE
        values.update(read_config_file(saved))
    if getattr(args, "config", None):
        values.update(read_config_file(args.config))
    values.update(flags)
    # --data_dir resolves in the library (TrainConfig.with_sources), which also refuses a run without data.
    config = TrainConfig.from_dict(values, origin="options").with_sources()
    earlier = [name for name in _RUN_FILES if (Path(config.model_dir) / name).exists()]
    if earlier and not resume and not getattr(args, "overwrite", False):
        print_error(f"{config.model_dir} holds a training run ({earlier[0]}): pass --resume to continue it, or "
                    "--overwrite to start over and replace its files")  # fmt: skip
        return EXIT_USAGE
    show = show_progress(getattr(args, "progress", None))
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
