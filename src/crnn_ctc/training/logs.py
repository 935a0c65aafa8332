"""What a run leaves for a person: a CSV log, TensorBoard events and a PNG of the curves."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..evaluate import Report

FIELDS = ("step", "epoch", "loss", "lr", "samples_per_s", "skipped_steps", "val_word_accuracy", "val_cer", "val_1_ned")


class TrainingLog:
    def __init__(self, model_dir: Path, *, enabled: bool = True, resume_step: int | None = None) -> None:
        """``resume_step``: keep the rows of an earlier run up to this step (a killed run may have logged
        past its last checkpoint, or left a half-written line)."""
        self.enabled = enabled
        self.path = model_dir / "log.csv"
        self._writer: Any = None
        self._file: Any = None
        self._tensorboard: Any = None
        if not enabled:
            return
        model_dir.mkdir(parents=True, exist_ok=True)
        kept = self._rows_up_to(resume_step) if resume_step is not None else []
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, FIELDS)
        self._writer.writeheader()
        self._writer.writerows(kept)
        self._file.flush()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(model_dir / "tensorboard"))
        except ImportError:  # tensorboard is a dependency, but a trimmed install should still train
            self._tensorboard = None

    def _rows_up_to(self, step: int) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
        return [r for r in rows if set(FIELDS) <= set(r) and r["step"].isdigit() and int(r["step"]) <= step]

    def _row(self, **values: Any) -> None:
        if self.enabled:
            self._writer.writerow({key: values.get(key, "") for key in FIELDS})
            self._file.flush()

    def train(self, step: int, epoch: int, loss: float, lr: float, rate: float, skipped: int) -> None:
        self._row(step=step, epoch=epoch, loss=f"{loss:.5f}", lr=f"{lr:.3e}", samples_per_s=f"{rate:.1f}",
                  skipped_steps=skipped)  # fmt: skip
        if self._tensorboard is not None:
            self._tensorboard.add_scalar("train/loss", loss, step)
            self._tensorboard.add_scalar("train/lr", lr, step)
            self._tensorboard.add_scalar("train/samples_per_s", rate, step)

    def validation(self, step: int, report: Report) -> None:
        self._row(step=step, val_word_accuracy=f"{report.word_accuracy:.5f}", val_cer=f"{report.cer:.5f}",
                  val_1_ned=f"{report.one_minus_ned:.5f}")  # fmt: skip
        if self._tensorboard is not None:
            self._tensorboard.add_scalar("val/word_accuracy", report.word_accuracy, step)
            self._tensorboard.add_scalar("val/cer", report.cer, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None

    def plot(self, out: Path) -> Path | None:
        """Loss and validation accuracy against steps, from the CSV (so a resumed run plots whole)."""
        if not self.enabled or not self.path.is_file():
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        with self.path.open(encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        train = [(int(r["step"]), float(r["loss"])) for r in rows if r["loss"]]
        val = [(int(r["step"]), float(r["val_word_accuracy"])) for r in rows if r["val_word_accuracy"]]
        figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
        if train:
            loss_axis.plot(*zip(*train, strict=True), color="tab:blue")
        loss_axis.set(title="training CTC loss", xlabel="step", yscale="log")
        if val:
            accuracy_axis.plot(*zip(*val, strict=True), marker="o", color="tab:green")
        accuracy_axis.set(title="validation word accuracy", xlabel="step", ylim=(0, 1))
        figure.tight_layout()
        figure.savefig(out, dpi=100)
        plt.close(figure)
        return out
