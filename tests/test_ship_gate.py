"""scripts/ship_gate.py: a candidate ships only when it beats the bundled model on IIIT5K, its int8
graph stays within 0.3 points, and no held-out set's CER rises; the scores are the v5 round's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("ship_gate", REPO / "scripts" / "ship_gate.py")
assert spec and spec.loader
ship_gate = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = ship_gate
spec.loader.exec_module(ship_gate)

HEADER = "dataset  samples excluded  word acc  CER  WER  1-NED  alnum  raw"


def row(dataset: str, word_acc: str, cer: str) -> str:
    """One line of a `crnn eval` table, as ship_model.sh's scores.txt holds them."""
    return f"{dataset:<40} 1,000  0  {word_acc}  {cer}  12.60%  0.958  82.30%  72.65%"


def block(title: str, iiit5k: tuple[str, str], lines: tuple[str, str], words: tuple[str, str]) -> str:
    return "\n".join(
        [
            f"== {title}",
            "model: m  protocol: lower-alnum",
            HEADER,
            row("../shared/data/iiit5k_train", *iiit5k),
            "model: m  protocol: raw",
            HEADER,
            row("runs/heldout/lines-document", *lines),
            row("runs/heldout/words", *words),
        ]
    )


SHIPPED = block("shipped model: fp32 (torch)", ("87.40%", "4.17%"), ("74.60%", "2.48%"), ("73.10%", "9.13%"))


def scores(fp32_iiit5k: str, int8_iiit5k: str, lines_cer: str) -> str:
    candidate = block("candidate", (fp32_iiit5k, "4.03%"), ("72.60%", lines_cer), ("74.30%", "9.13%"))
    int8 = block("its int8 graph", (int8_iiit5k, "4.13%"), ("73.40%", lines_cer), ("73.50%", "9.29%"))
    return "\n".join([candidate, "a warning that went through the pipe", int8, SHIPPED]) + "\n"


def run_gate(tmp_path: Path, text: str, *flags: str) -> int:
    path = tmp_path / "scores.txt"
    path.write_text(text, encoding="utf-8")
    return ship_gate.main([str(path), *flags])


def test_a_better_candidate_ships(tmp_path, capsys):
    assert run_gate(tmp_path, scores("87.85%", "87.60%", "2.50%")) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_a_tie_on_iiit5k_ships_only_with_force(tmp_path):
    text = scores("87.40%", "87.15%", "2.40%")
    assert run_gate(tmp_path, text) == 1
    assert run_gate(tmp_path, text, "--force") == 0


def test_an_int8_graph_reading_a_held_out_set_worse_than_its_fp32_blocks(tmp_path, capsys):
    text = scores("87.85%", "87.60%", "2.50%").replace(
        "runs/heldout/words                       1,000  0  73.50%  9.29%",
        "runs/heldout/words                       1,000  0  73.50%  9.40%",
    )
    assert "9.40%" in text
    assert run_gate(tmp_path, text) == 1
    assert "FAIL  runs/heldout/words CER: int8 9.40% vs its fp32 9.13%" in capsys.readouterr().out


def test_an_int8_gap_over_0_3_blocks_even_with_force(tmp_path, capsys):
    """Step 3,000 of the v5 run: 87.85% fp32, 87.50% int8."""
    assert run_gate(tmp_path, scores("87.85%", "87.50%", "2.48%"), "--force") == 1
    assert "FAIL  IIIT5K int8 87.50%" in capsys.readouterr().out


def test_worse_held_out_lines_block(tmp_path, capsys):
    assert run_gate(tmp_path, scores("87.85%", "87.80%", "2.69%")) == 1
    out = capsys.readouterr().out
    assert "FAIL  runs/heldout/lines-document CER: candidate 2.69% vs shipped 2.48%" in out
    assert run_gate(tmp_path, scores("87.85%", "87.80%", "2.69%"), "--max-cer-rise", "0.25") == 0


@pytest.mark.parametrize(
    "text, message",
    [
        (SHIPPED, "expected 3 blocks"),
        (scores("87.85%", "87.60%", "2.50%").replace("heldout/words ", "heldout/other ", 1), "different datasets"),
        ("", "expected 3 blocks"),
    ],
)
def test_scores_it_cannot_read_are_an_error(tmp_path, capsys, text, message):
    assert run_gate(tmp_path, text) == 2
    assert message in capsys.readouterr().err
