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


def test_augmentation_is_on_when_fine_tuning_and_off_from_scratch_unless_asked() -> None:
    assert not TrainConfig(train=["d"]).augments
    assert TrainConfig(train=["d"], init_from="m.safetensors").augments
    assert TrainConfig(train=["d"], augment="on").augments
    assert not TrainConfig(train=["d"], init_from="m.safetensors", augment="off").augments
    # YAML reads a bare on/off as a boolean
    assert TrainConfig.from_dict({"train": ["d"], "augment": True}).augment == "on"
    assert TrainConfig.from_dict({"train": ["d"], "augment": False}).augment == "off"
    with pytest.raises(ConfigError, match="--augment must be one of auto, on, off"):
        TrainConfig(train=["d"], augment="yes")


def test_batch_norm_statistics_are_kept_when_fine_tuning_and_learned_from_scratch_unless_asked() -> None:
    assert not TrainConfig(train=["d"]).freezes_batch_norm
    assert TrainConfig(train=["d"], init_from="m.safetensors").freezes_batch_norm
    assert TrainConfig(train=["d"], freeze_bn="on").freezes_batch_norm
    assert not TrainConfig(train=["d"], init_from="m.safetensors", freeze_bn="off").freezes_batch_norm
    assert TrainConfig.from_dict({"train": ["d"], "freeze-bn": False}).freeze_bn == "off"
    with pytest.raises(ConfigError, match="--freeze-bn must be one of auto, on, off"):
        TrainConfig(train=["d"], freeze_bn="yes")
