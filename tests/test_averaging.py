"""Weight averaging (`crnn average`): the arithmetic, what the result carries, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crnn_ctc.averaging import average_files, ingredients
from crnn_ctc.bundle import file_sha256, load_bundle, new_bundle, read_description, save_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.cli import main
from crnn_ctc.errors import ConfigError, OutputError
from crnn_ctc.preprocess import PreprocessConfig


def _random_model(
    path: Path, seed: int, charset: Charset | None = None, batches: int = 0, preprocess: PreprocessConfig | None = None
) -> Path:
    bundle = new_bundle("small", charset or Charset.preset("lower-alnum"), preprocess, seed=seed)
    for module in bundle.model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics that differ between the two files
            assert module.running_mean is not None and module.num_batches_tracked is not None
            module.running_mean.normal_(generator=torch.Generator().manual_seed(seed))
            module.num_batches_tracked.fill_(batches)
    bundle.calibration = {"temperature": 1.7}
    bundle.provenance.update(trained_steps=500, init_from="start.safetensors")
    return save_bundle(bundle, path)


def test_the_average_is_the_weighted_mean_of_every_tensor_and_says_where_it_came_from(tmp_path: Path) -> None:
    first = _random_model(tmp_path / "a.safetensors", seed=1, batches=30)
    second = _random_model(tmp_path / "b.safetensors", seed=2, batches=10)
    out = tmp_path / "avg.safetensors"
    parts = average_files([first, second], out, weights=[1, 3])
    assert [part.weight for part in parts] == [0.25, 0.75]
    a, b = load_bundle(first).model.state_dict(), load_bundle(second).model.state_dict()
    averaged = load_bundle(out).model.state_dict()
    for name, tensor in averaged.items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, 0.25 * a[name] + 0.75 * b[name], rtol=1e-6, atol=1e-6)
        else:
            assert int(tensor) == 30, name  # batch norm's counter: the larger (the first, lighter model's)
    description = read_description(out)
    assert "calibration" not in description  # the temperature was fitted to another network
    sources = description["provenance"]["averaged_from"]
    assert [(s["file"], s["weight"], s["sha256"]) for s in sources] == [
        (str(first), 0.25, file_sha256(first)),
        (str(second), 0.75, file_sha256(second)),
    ]


def test_models_of_another_kind_or_bad_weights_are_refused(tmp_path: Path) -> None:
    first = _random_model(tmp_path / "a.safetensors", seed=1)
    other_charset = _random_model(tmp_path / "printable.safetensors", seed=2, charset=Charset.preset("printable"))
    with pytest.raises(
        ConfigError, match=r"printable\.safetensors cannot be averaged with .*a\.safetensors.*charset of"
    ):
        average_files([first, other_charset], tmp_path / "out.safetensors")
    lower_alnum = Charset.preset("lower-alnum").symbols
    reordered = Charset([lower_alnum[1], lower_alnum[0], *lower_alnum[2:]])  # as many symbols, two swapped
    swapped = _random_model(tmp_path / "swapped.safetensors", seed=3, charset=reordered)
    with pytest.raises(ConfigError, match=r"charset symbol 0 is 'b' against 'a'"):
        average_files([first, swapped], tmp_path / "out.safetensors")
    wider = _random_model(tmp_path / "wider.safetensors", seed=4, preprocess=PreprocessConfig(min_width=32))
    with pytest.raises(ConfigError, match=r"preprocessing min_width 32 against 16"):
        average_files([first, wider], tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
    with pytest.raises(OutputError, match="destroy that input"):
        average_files([first, first], first)
    with pytest.raises(ConfigError, match="at least two"):
        ingredients([first])
    with pytest.raises(ConfigError, match="2 weights for 3"):
        ingredients([first, first, first], [1, 2])
    with pytest.raises(ConfigError, match="not negative"):
        ingredients([first, first], [1, -1])
    with pytest.raises(ConfigError, match="sum to 0"):
        ingredients([first, first], [0, 0])


def test_crnn_average_writes_the_average_and_never_writes_over_an_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _random_model(tmp_path / "a.safetensors", seed=1)
    second = _random_model(tmp_path / "b.safetensors", seed=2)
    before = first.read_bytes()
    assert main(["average", str(first), str(second), "--out", str(first)]) == 2
    assert "destroy that input" in capsys.readouterr().err
    assert first.read_bytes() == before
    out = tmp_path / "soup.safetensors"
    assert main(["average", str(first), str(second), "--weights", "2", "1", "--out", str(out)]) == 0
    assert f"{first} 0.667, {second} 0.333" in capsys.readouterr().out
    assert [s["weight"] for s in read_description(out)["provenance"]["averaged_from"]] == [0.666667, 0.333333]
    assert main(["info", "--model", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "averaged_from:  2 models" in shown
    assert f"0.666667  {first} (SHA-256 {file_sha256(first)[:12]}…, 500 steps from start.safetensors)" in shown
    assert "calibration:" not in shown  # the ingredients' temperature is not the average's
    assert main(["info", "--model", str(first)]) == 0
    assert "calibration:    temperature 1.7" in capsys.readouterr().out
