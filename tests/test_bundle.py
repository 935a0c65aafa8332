import json
import os
import pickle
import time

import pytest
import torch
from safetensors.torch import save_file

from crnn_ctc.bundle import (
    BUNDLED_MODEL,
    METADATA_KEY,
    find_model_file,
    load_bundle,
    new_bundle,
    read_description,
    resolve_model_path,
    save_bundle,
)
from crnn_ctc.charset import Charset
from crnn_ctc.errors import ModelFileError
from crnn_ctc.preprocess import PreprocessConfig


def _bundle(arch: str = "small", charset: str = "lower-alnum"):
    return new_bundle(arch, Charset.preset(charset), PreprocessConfig(max_width=640), seed=7)


def test_round_trip_restores_network_charset_and_preprocessing(tmp_path) -> None:
    original = _bundle(charset="alnum")
    original.provenance["note"] = "test"
    path = save_bundle(original, tmp_path / "m.safetensors")
    loaded = load_bundle(path)
    assert loaded.charset == original.charset
    assert loaded.preprocess == original.preprocess
    assert loaded.config == original.config
    assert loaded.provenance["note"] == "test"
    assert loaded.path == path
    images = torch.randn(2, 1, 32, 80)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), original.model(images))
    description = read_description(path)
    assert description["format_version"] == 1
    assert description["charset"] == list(original.charset.symbols)


def test_save_is_atomic_and_replaces(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_bundle(_bundle(), path)
    save_bundle(_bundle("vgg"), path)
    assert load_bundle(path).config.arch == "vgg"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left behind


def _good_file(tmp_path):
    return save_bundle(_bundle(), tmp_path / "good.safetensors")


def test_missing_empty_and_directory_are_refused(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="no such model file"):
        load_bundle(tmp_path / "nope.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_bundle(tmp_path / "empty.safetensors")
    with pytest.raises(ModelFileError, match="not a file"):
        load_bundle(tmp_path)


def test_damaged_files_are_refused(tmp_path) -> None:
    data = _good_file(tmp_path).read_bytes()
    (tmp_path / "noise.safetensors").write_bytes(os.urandom(4096))
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    for name in ("noise.safetensors", "cut.safetensors"):
        with pytest.raises(ModelFileError, match=r"damaged|truncated"):
            load_bundle(tmp_path / name)


def test_foreign_safetensors_and_bad_metadata_are_refused(tmp_path) -> None:
    tensors = {"w": torch.zeros(2)}
    save_file(tensors, tmp_path / "plain.safetensors")
    with pytest.raises(ModelFileError, match="not a crnn-ctc model"):
        load_bundle(tmp_path / "plain.safetensors")
    save_file(tensors, tmp_path / "json.safetensors", metadata={METADATA_KEY: "{not json"})
    with pytest.raises(ModelFileError, match="malformed"):
        load_bundle(tmp_path / "json.safetensors")


def _rewrite(tmp_path, name, change):
    """Save a good model whose JSON config was edited by ``change``."""
    bundle = _bundle()
    description = bundle.describe()
    change(description)
    tensors = {k: v.contiguous() for k, v in bundle.model.state_dict().items()}
    path = tmp_path / name
    save_file(tensors, path, metadata={METADATA_KEY: json.dumps(description)})
    return path


def test_newer_format_and_inconsistent_config_are_refused(tmp_path) -> None:
    newer = _rewrite(tmp_path, "newer.safetensors", lambda d: d.update(format_version=99))
    with pytest.raises(ModelFileError, match="upgrade crnn-ctc"):
        load_bundle(newer)
    fewer = _rewrite(tmp_path, "charset.safetensors", lambda d: d.update(charset=list("abc")))
    with pytest.raises(ModelFileError, match="classes"):
        load_bundle(fewer)
    other_arch = _rewrite(tmp_path, "arch.safetensors", lambda d: d["model"].update(hidden_size=64))
    with pytest.raises(ModelFileError, match="do not fit"):
        load_bundle(other_arch)
    no_charset = _rewrite(tmp_path, "lacks.safetensors", lambda d: d.pop("charset"))
    with pytest.raises(ModelFileError, match="lacks 'charset'"):
        load_bundle(no_charset)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_loading_never_unpickles(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(_Payload()))
    torch.save({"x": _Payload()}, tmp_path / "evil.pt")
    for candidate in (path, tmp_path / "evil.pt"):
        with pytest.raises(ModelFileError):
            load_bundle(candidate)
    assert not (tmp_path / "PWNED").exists()


def test_model_dir_finds_the_newest_file(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="empty"):
        find_model_file(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelFileError, match=r"notes\.txt"):
        find_model_file(tmp_path)
    older = save_bundle(_bundle(), tmp_path / "older.safetensors")
    newer = save_bundle(_bundle(), tmp_path / "newer.safetensors")
    now = time.time()
    os.utime(older, (now - 100, now - 100))
    os.utime(newer, (now, now))
    assert find_model_file(tmp_path) == newer
    assert resolve_model_path(None, tmp_path) == newer
    with pytest.raises(ModelFileError, match="no such model directory"):
        find_model_file(tmp_path / "missing")


def test_no_model_and_no_bundled_model_says_what_to_pass(tmp_path, monkeypatch) -> None:
    import crnn_ctc.bundle

    assert resolve_model_path() == BUNDLED_MODEL  # the shipped model is the default
    monkeypatch.setattr(crnn_ctc.bundle, "BUNDLED_MODEL", tmp_path / "absent.safetensors")
    with pytest.raises(ModelFileError, match="--model"):
        resolve_model_path()


def test_saved_files_are_ordinary_files_not_private_ones(tmp_path) -> None:
    path = save_bundle(_bundle(), tmp_path / "shared.safetensors")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("max_width", 10**9, "1..16384"),
        ("fixed_width", 10**9, "1..16384"),
        ("min_width", 10**6, "1..16384"),
        ("height", 10**5, "8..512"),
        ("max_width", 1280.5, "1..16384"),
    ],
)
def test_a_crafted_model_file_with_huge_inputs_is_refused_when_it_loads(tmp_path, capsys, field, value, allowed):
    from PIL import Image

    from crnn_ctc.cli import main

    crafted = _rewrite(tmp_path, "crafted.safetensors", lambda d: d["preprocess"].update({field: value}))
    with pytest.raises(ModelFileError, match=f"preprocess {field} must be a whole number in {allowed}"):
        load_bundle(crafted)
    image = tmp_path / "word.png"
    Image.new("L", (300, 32), 255).save(image)
    assert main(["predict", "--model", str(crafted), "--backend", "torch", str(image)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"crnn: error: {crafted}: invalid model config: preprocess {field} ") and allowed in err
