"""The training-only CTC head on the CNN's features: on from scratch, off when fine-tuning, never saved."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import render_word
from crnn_ctc.errors import ConfigError
from crnn_ctc.model import ModelConfig, build_model
from crnn_ctc.training import TrainConfig, train
from crnn_ctc.training.cnn_head import WithCnnHead

WORDS = ["coffee", "street", "moon", "apple", "0011", "tree", "road", "hello"]


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    folder = tmp_path_factory.mktemp("words")
    for number, word in enumerate(WORDS):
        render_word(word).save(folder / f"{number}.png")
    (folder / "labels.tsv").write_text("".join(f"{n}.png\t{w}\n" for n, w in enumerate(WORDS)), encoding="utf-8")
    return folder


def test_the_weight_resolves_to_half_from_scratch_and_zero_when_fine_tuning() -> None:
    assert TrainConfig(train=["d"]).cnn_ctc_weight == 0.5
    assert TrainConfig(train=["d"], init_from="m.safetensors").cnn_ctc_weight == 0.0
    assert TrainConfig(train=["d"], init_from="m.safetensors", cnn_ctc=0.3).cnn_ctc_weight == 0.3
    assert TrainConfig(train=["d"], cnn_ctc=0).cnn_ctc_weight == 0.0
    with pytest.raises(ConfigError, match="--cnn-ctc must be a weight >= 0"):
        TrainConfig(train=["d"], cnn_ctc=-1)


def test_the_head_reads_the_models_own_features_and_leaves_its_output_unchanged() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_arch("tiny", 37)).eval()
    images, widths = torch.randn(2, 1, 32, 64), torch.tensor([64, 40])
    log_probs, cnn_log_probs = WithCnnHead(model).eval()(images, widths)
    torch.testing.assert_close(log_probs, model(images, widths))
    assert cnn_log_probs.shape == log_probs.shape
    torch.testing.assert_close(cnn_log_probs.exp().sum(dim=2), torch.ones(2, log_probs.shape[1]))


def test_a_run_from_scratch_trains_the_head_and_saves_only_the_model(words, tmp_path) -> None:
    config = TrainConfig(model_dir=str(tmp_path / "run"), train=[str(words)], arch="tiny", batch_size=4,
                         max_steps=3, save_every=1, workers=0, amp="off")  # fmt: skip
    result = train(config, progress=False)
    saved = load_file(result.model_path)
    assert set(saved) == set(build_model(ModelConfig.for_arch("tiny", 37)).state_dict())
    resolved = json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]
    assert resolved["cnn_ctc"] == 0.5
    on_cpu = not torch.cuda.is_available()  # the run's device is auto
    assert resolved["layout"] == ("channels_last" if on_cpu else "nchw")  # on a CPU whatever the precision
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert set(state["cnn_head"]) == {"weight", "bias"}


def test_a_run_started_without_the_head_resumes_without_it(words, tmp_path) -> None:
    first = TrainConfig(model_dir=str(tmp_path / "run"), train=[str(words)], arch="tiny", batch_size=4,
                        max_steps=2, save_every=1, workers=0, amp="off", cnn_ctc=0)  # fmt: skip
    train(first, progress=False)
    later = TrainConfig(**{**first.to_dict(), "max_steps": 4, "cnn_ctc": None})  # as an older config.json reads
    result = train(later, resume=True, progress=False)
    assert result.steps == 4
    assert json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]["cnn_ctc"] == 0.0
