"""The library owns training's configuration: ``train()`` from Python takes what ``crnn train`` takes,
the seed's ``data_dir`` layout included."""

import json

import pytest

from conftest import render_word
from crnn_ctc.cli import main
from crnn_ctc.errors import ConfigError, DatasetError
from crnn_ctc.training import TrainConfig, train

WORDS = ["coffee", "book", "street", "apple", "moon", "hello", "bottle", "llama", "0011", "success", "tree", "road"]


@pytest.mark.slow
def test_train_from_python_takes_the_seed_data_dir_layout(tmp_path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for index, word in enumerate(WORDS):
        render_word(word).save(images / f"{index}.png")
    labels = "".join(f"{index}.png {word}\n" for index, word in enumerate(WORDS))  # the seed's annotation form
    (images / "labels.txt").write_text(labels, encoding="utf-8")
    data = tmp_path / "data"
    create = ["dataset", "create", "--image_dir", str(images), "--anno_file", str(images / "labels.txt")]
    assert main([*create, "--data_dir", str(data), "--validation_split_fraction", "0.25", "--workers", "1"]) == 0

    config = TrainConfig(data_dir=str(data), model_dir=str(tmp_path / "model"), arch="tiny", batch_size=4,
                         max_steps=2, val_every=2, workers=0, amp="off")  # fmt: skip
    result = train(config, progress=False)
    assert result.steps == 2 and result.model_path.is_file()
    assert result.best_accuracy is not None  # validated on DATA_DIR/validation
    saved = json.loads((tmp_path / "model" / "config.json").read_text(encoding="utf-8"))
    assert saved["data_dir"] == str(data)
    assert saved["train"] == [str(data / "train")] and saved["val"] == [str(data / "validation")]


def test_sources_resolve_as_the_command_resolves_them(tmp_path) -> None:
    (tmp_path / "data" / "train").mkdir(parents=True)
    resolved = TrainConfig(data_dir=str(tmp_path / "data")).with_sources()
    assert resolved.train == [str(tmp_path / "data" / "train")] and resolved.val == []  # no validation split
    given = TrainConfig(data_dir=str(tmp_path / "data"), train=["a"], val=["b"])
    assert given.with_sources() == given  # explicit sources win, as with --train / --val
    with pytest.raises(DatasetError, match="no 'train' dataset"):
        TrainConfig(data_dir=str(tmp_path)).with_sources()
    with pytest.raises(ConfigError, match="no training data"):
        train(TrainConfig(model_dir=str(tmp_path / "run")), progress=False)


@pytest.mark.parametrize(
    ("option", "flag", "resolved"),
    [("augment", "--augment", "augments"), ("freeze_bn", "--freeze-bn", "freezes_batch_norm")],
)
def test_fine_tuning_defaults_are_on_with_init_from_and_off_from_scratch_unless_asked(
    option: str, flag: str, resolved: str
) -> None:
    """Augmentation of stored images and batch norm's statistics kept: `auto` means on with --init-from."""
    assert not getattr(TrainConfig(train=["d"]), resolved)
    assert getattr(TrainConfig(train=["d"], init_from="m.safetensors"), resolved)
    assert getattr(TrainConfig(train=["d"], **{option: "on"}), resolved)
    assert not getattr(TrainConfig(train=["d"], init_from="m.safetensors", **{option: "off"}), resolved)
    # YAML reads a bare on/off as a boolean, under either spelling of the name
    assert getattr(TrainConfig.from_dict({"train": ["d"], option: True}), option) == "on"
    assert getattr(TrainConfig.from_dict({"train": ["d"], flag.removeprefix("--"): False}), option) == "off"
    with pytest.raises(ConfigError, match=f"{flag} must be one of auto, on, off"):
        TrainConfig(train=["d"], **{option: "yes"})


def test_the_default_learning_rate_is_higher_from_scratch_and_lower_from_a_trained_model() -> None:
    """3e-3 from scratch, 2e-4 with --init-from (docs/training_recipes.md); --lr and Adadelta's own win."""
    assert TrainConfig(train=["d"]).learning_rate == 3e-3
    assert TrainConfig(train=["d"], optimizer="adamw").learning_rate == 3e-3
    assert TrainConfig(train=["d"], init_from="m.safetensors").learning_rate == 2e-4
    assert TrainConfig(train=["d"], optimizer="adadelta", init_from="m.safetensors").learning_rate == 1.0
    assert TrainConfig(train=["d"], init_from="m.safetensors", lr=5e-5).learning_rate == 5e-5
    assert TrainConfig(train=["d"], lr=1e-3).learning_rate_origin == "--lr"
    assert TrainConfig(train=["d"]).learning_rate_origin == "the default from scratch"
