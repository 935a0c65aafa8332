"""The ``crnn`` command: thin subcommands over the Python API, one module each. Printing and exit codes
live in this package.

Exit codes: 0 success; 1 some inputs could not be read (the rest were processed);
2 nothing could run (bad flags, no inputs, unusable model file: a ``CrnnError``); 130 interrupted.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from .._version import __version__
from ..errors import CrnnError
from .common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, print_error

__all__ = ["main"]

Adder = Callable[[argparse._SubParsersAction], None]


class _Commands(argparse._SubParsersAction):
    """``crnn``'s subcommands, each given its parser and options only when it is chosen, so that
    `crnn --help` and `crnn predict` import none of the other commands' modules (training and export
    import PyTorch, which takes seconds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._adders: dict[str, Adder] = {}

    def add_command(self, name: str, summary: str, adder: Adder) -> None:
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


def _module(name: str) -> Adder:
    """The ``add_command`` of this package's module ``name``, imported when its command is chosen."""

    def add(commands: argparse._SubParsersAction) -> None:
        importlib.import_module(f"{__name__}.{name}").add_command(commands)

    return add


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crnn",
        description="Text recognition in cropped word and line images with CRNN + CTC.",
        epilog="Exit codes: 0 success; 1 some inputs could not be read; 2 nothing could run.",
    )
    parser.add_argument("--version", action="version", version=f"crnn-ctc {__version__}")
    commands = cast(_Commands, parser.add_subparsers(dest="command", metavar="COMMAND", action=_Commands))
    commands.required = True
    commands.add_command("predict", "recognize text in images", _module("predict"))
    commands.add_command("read", "read whole pages and PDFs: text, JSON or hOCR", _module("read"))
    commands.add_command("dataset", "create, inspect and download datasets", _module("dataset"))
    commands.add_command("train", "train a model (seed form: --data_dir --model_dir --batch_size)", _module("train"))
    commands.add_command("synth", "render synthetic word images into an LMDB dataset", _module("synth"))
    commands.add_command("synth-pages", "render synthetic pages with exact line boxes and text", _module("synth_pages"))
    commands.add_command(
        "export", "write an ONNX model (dynamic batch and width) that works without PyTorch", _module("export")
    )
    commands.add_command(
        "calibrate", "fit the confidence's temperature on labelled data and write the model with it",
        _module("calibrate"),
    )  # fmt: skip
    commands.add_command(
        "average", "average the weights of models fine-tuned from one model (a model soup)", _module("average")
    )
    commands.add_command("bench", "images/s and latency per backend, batch size and width", _module("bench"))
    commands.add_command("eval", "word accuracy, CER and 1-NED of a model on datasets", _module("eval"))
    commands.add_command(
        "serve", "HTTP service: POST images, get text and confidence back; a web page at /", _module("serve")
    )
    commands.add_command("info", "describe a model file", _module("info"))
    return parser


_MAIN_PID = os.getpid()


def _raise_interrupt(signum: int, frame: object) -> None:
    if os.getpid() != _MAIN_PID:
        # A forked worker (a pool being shut down) simply ends, as it would by default.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``crnn`` with ``argv`` (default: the command line) and return its exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    # A kill (SIGTERM) unwinds like Ctrl-C, so half-written outputs are cleaned up.
    if threading.current_thread() is threading.main_thread():
        global _MAIN_PID
        _MAIN_PID = os.getpid()
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return int(args.handler(args))
    except CrnnError as error:  # raised on purpose, for the user: a bad option, input or model file
        print_error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("crnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `crnn predict ... | head`
        return EXIT_OK
