"""The weight average: its arithmetic, its place in checkpoints, and that a run saves it."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conftest import render_word
from crnn_ctc.errors import ConfigError
from crnn_ctc.training import TrainConfig, train
from crnn_ctc.training.ema import WeightAverage


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def test_the_average_starts_at_the_weights_then_moves_by_one_minus_decay() -> None:
    net = _net()
    average = WeightAverage(net, decay=0.9)
    first = {name: value.detach().clone() for name, value in net.state_dict().items()}
    average.update(net)  # the first update copies
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].running_mean.add_(2.0)  # buffers (batch norm's statistics) are averaged too
    average.update(net)
    averaged = average.model.state_dict()
    torch.testing.assert_close(averaged["0.weight"], first["0.weight"] + 0.1)
    torch.testing.assert_close(averaged["1.running_mean"], first["1.running_mean"] + 0.2)
    torch.testing.assert_close(net[0].weight, first["0.weight"] + 1.0)  # the model itself is left alone

    restored = WeightAverage(_net(), decay=0.9)
    restored.load_state_dict(average.state_dict())
    restored.update(net)  # a restored average goes on from where it was, not from a fresh copy
    torch.testing.assert_close(restored.model.state_dict()["0.weight"], first["0.weight"] + 0.19)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2.0])
def test_a_decay_outside_zero_to_one_is_refused(decay: float) -> None:
    with pytest.raises(ConfigError, match="--ema-decay"):
        TrainConfig(ema_decay=decay)


def _words(root: Path) -> Path:
    root.mkdir()
    words = ["coffee", "book", "street", "apple", "moon", "hello", "bottle", "tea"]
    for index, word in enumerate(words):
        render_word(word).save(root / f"{index}.png")
    (root / "labels.tsv").write_text("".join(f"{i}.png\t{w}\n" for i, w in enumerate(words)), encoding="utf-8")
    return root


def test_a_run_saves_the_average_and_resumes_it_exactly(tmp_path: Path) -> None:
    data = _words(tmp_path / "data")

    def config(name: str, steps: int) -> TrainConfig:
        return TrainConfig(
            model_dir=str(tmp_path / name), train=[str(data)], arch="tiny", batch_size=4, max_steps=steps,
            lr=3e-3, schedule="constant", warmup_steps=0, workers=0, amp="off", save_every=3, seed=2,
            ema_decay=0.8,
        )  # fmt: skip

    whole = train(config("whole", 12), progress=False)
    train(config("halves", 6), progress=False)
    resumed = train(config("halves", 12), resume=True, progress=False)
    assert whole.steps == resumed.steps == 12
    saved, again = load_file(whole.model_path), load_file(resumed.model_path)
    for name in saved:
        torch.testing.assert_close(again[name], saved[name], rtol=0, atol=1e-6, msg=name)

    checkpoint = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)
    averaged = {name.removeprefix("module."): value for name, value in checkpoint["ema"]["averaged"].items()}
    last_step = checkpoint["model"]
    weights = [name for name in saved if name in last_step and saved[name].is_floating_point()]
    assert weights
    # The file holds the average, which is not the last step's weights.
    assert all(torch.equal(saved[name], averaged[name].to(saved[name].dtype)) for name in weights)
    assert not all(torch.equal(saved[name], last_step[name]) for name in weights)
