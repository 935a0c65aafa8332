"""Every configuration dataclass shares ``ConfigBase``: the same round trip, the same errors for
unknown keys, and files in JSON, TOML or YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crnn_ctc.config_base import ConfigBase, read_config_file
from crnn_ctc.errors import ConfigError
from crnn_ctc.model.config import ModelConfig
from crnn_ctc.preprocess import PreprocessConfig
from crnn_ctc.serve.config import ServeConfig
from crnn_ctc.synth.config import SynthConfig, preset
from crnn_ctc.synth.page_config import PageSynthConfig
from crnn_ctc.training.config import TrainConfig

CONFIGS: list[ConfigBase] = [
    PreprocessConfig(),
    SynthConfig(),
    PageSynthConfig(),
    ServeConfig(),
    TrainConfig(train=["a", "b@2"]),
]


def _model_config() -> ModelConfig:
    from crnn_ctc.bundle import new_bundle
    from crnn_ctc.charset import Charset

    return new_bundle("small", Charset.preset("lower-alnum"), seed=0).model.config


@pytest.mark.parametrize("config", CONFIGS, ids=lambda config: type(config).__name__)
def test_a_config_survives_json_and_refuses_unknown_keys(config: ConfigBase) -> None:
    kind = type(config)
    through_json = json.loads(json.dumps(config.to_dict()))
    assert kind.from_dict(through_json) == config  # lists back to tuples where the field holds one
    with pytest.raises(ConfigError, match=rf"unknown {kind.config_kind}: colour; known: .*") as caught:
        kind.from_dict({**through_json, "colour": "red"})
    assert all(name in str(caught.value) for name in list(through_json)[:3])


def test_the_model_config_round_trips_its_layers() -> None:
    config = _model_config()
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="unknown model parameters: depth"):
        ModelConfig.from_dict({**config.to_dict(), "depth": 3})


@pytest.mark.parametrize("suffix", [".json", ".toml", ".yaml"])
def test_files_in_json_toml_or_yaml_change_the_defaults_or_a_preset(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"synth{suffix}"
    text = {
        ".json": '{"preset": "document", "height": 48, "line_words_range": [3, 5]}',
        ".toml": 'preset = "document"\nheight = 48\nline_words_range = [3, 5]\n',
        ".yaml": "preset: document\nheight: 48\nline_words_range: [3, 5]\n",
    }[suffix]
    path.write_text(text, encoding="utf-8")
    expected = preset("document").with_changes(height=48, line_words_range=(3, 5))
    assert SynthConfig.from_file(path) == expected
    page = tmp_path / f"page{suffix}"
    page.write_text({".json": '{"columns_range": [2, 2]}', ".toml": "columns_range = [2, 2]\n",
                     ".yaml": "columns_range: [2, 2]\n"}[suffix], encoding="utf-8")  # fmt: skip
    assert PageSynthConfig.from_file(page) == PageSynthConfig(columns_range=(2, 2))
    path.write_text(text.replace("preset", "colour"), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}: unknown synth config fields: colour"):
        SynthConfig.from_file(path)


def test_unreadable_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_config_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{bad}: cannot parse the config file"):
        SynthConfig.from_file(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        TrainConfig.from_file(listed)
