"""benchmarks/model_cost.py: the analytic MAC count against hand-computed numbers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

from crnn_ctc.model import ModelConfig, build_model

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_cost.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("model_cost", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


model_cost = _load_benchmark()


class Tiny(nn.Module):
    """Conv2d (non-square kernel) -> columns as a sequence -> LSTM -> Linear, like a miniature CRNN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel_size=(3, 2), padding=(1, 0))
        self.lstm = nn.LSTM(3 * 4, 5, batch_first=True)
        self.linear = nn.Linear(5, 7)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv(images))  # (N, 3, 4, 5)
        batch, channels, rows, steps = features.shape
        sequences = features.reshape(batch, channels * rows, steps).transpose(1, 2)  # (N, 5, 12)
        states, _ = self.lstm(sequences)
        return self.linear(states)


# Input (N, 2, 4, 6). Conv output 3 x 4 x 5 = 60 elements, each 2 in-channels x 3 x 2 kernel taps.
CONV_MACS = 60 * 2 * 3 * 2  # 720
# 5 steps of an LSTM(12 -> 5): 4 gates x 5 hidden x (12 inputs + 5 recurrent).
LSTM_MACS = 5 * 4 * 5 * (12 + 5)  # 1700
# 5 steps x 7 outputs x 5 inputs.
LINEAR_MACS = 5 * 7 * 5  # 175


@pytest.mark.parametrize("batch", [1, 3])
def test_count_macs_matches_hand_count(batch: int) -> None:
    model = Tiny().eval()
    images = torch.rand(batch, 2, 4, 6)
    assert model_cost.macs_by_module(model, images) == {
        "conv": batch * CONV_MACS,
        "lstm": batch * LSTM_MACS,
        "linear": batch * LINEAR_MACS,
    }
    assert model_cost.count_macs(model, images) == batch * (CONV_MACS + LSTM_MACS + LINEAR_MACS) == batch * 2595


def test_grouped_conv_divides_by_groups() -> None:
    conv = nn.Conv2d(4, 6, kernel_size=3, padding=1, groups=2)
    # 6 x 5 x 5 output elements, each 4 / 2 in-channels x 3 x 3 taps.
    assert model_cost.count_macs(conv, torch.rand(1, 4, 5, 5)) == 150 * 2 * 9


def test_vgg_has_the_papers_parameter_count() -> None:
    model = build_model(ModelConfig.for_arch("vgg", 37))
    assert 8_200_000 < sum(p.numel() for p in model.parameters()) < 8_400_000
