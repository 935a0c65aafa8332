"""Exit codes of ``crnn`` for errors: a bad option is a usage error (2, one line that says what is wrong);
any other exception is a bug and keeps its traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from crnn_ctc.cli import main
from crnn_ctc.errors import ConfigError
from crnn_ctc.runtime import set_threads

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "crnn_ctc" / "assets" / "samples" / "sample_00.png"

# `crnn info` whose run function has a bug that raises a plain ValueError.
BUGGY_INFO = """
import sys

from crnn_ctc.cli import info, main


def run(args):
    raise ValueError("a bug, not a bad option")


info.run = run
sys.exit(main(["info"]))
"""


def test_a_plain_value_error_is_a_bug_with_its_traceback(monkeypatch) -> None:
    from crnn_ctc.cli import info

    def run(args: object) -> int:
        raise ValueError("a bug, not a bad option")

    monkeypatch.setattr(info, "run", run)
    with pytest.raises(ValueError, match="a bug, not a bad option"):
        main(["info"])
    result = subprocess.run([sys.executable, "-c", BUGGY_INFO], capture_output=True, text=True, timeout=120)
    assert result.returncode not in (0, 2)
    assert "Traceback" in result.stderr and "ValueError: a bug, not a bad option" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--threads", "0"], "threads must be at least 1"),
        (["--backend", "onnx", "--allow", "\u00e9\u00e8"], "leave none of the model's"),
        (["--backend", "onnx", "--decoder", "beam", "--beam-width", "0"], "beam width must be at least 1"),
    ],
    ids=["threads", "allow", "beam-width"],
)
def test_a_bad_option_is_a_usage_error_with_a_message(capsys, options: list[str], message: str) -> None:
    assert main(["predict", *options, str(SAMPLE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crnn: error: ") and message in err and "Traceback" not in err


def test_a_config_error_is_still_a_value_error_for_callers() -> None:
    with pytest.raises(ConfigError):
        set_threads(0)
    with pytest.raises(ValueError, match="threads must be at least 1"):
        set_threads(0)
