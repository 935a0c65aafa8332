"""``crnn dataset create`` end to end: formats, every rejection reason, the split, atomicity."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import render_word
from crnn_ctc.charset import required_steps
from crnn_ctc.cli import main
from crnn_ctc.data.create import CreateConfig, create_dataset
from crnn_ctc.data.lmdb_store import LmdbDataset
from crnn_ctc.data.readers import open_source
from crnn_ctc.data.splits import SplitAssigner
from crnn_ctc.errors import DatasetError

WORDS = ["apple", "berry", "cherry", "coffee", "date", "elder", "fig", "grape", "kiwi", "lemon", "mango", "melon"]


@pytest.fixture()
def word_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    for index, word in enumerate(WORDS):
        render_word(word).save(folder / "sub" / f"{index}.png")
    return folder


def _anno(tmp_path, lines: list[str], name: str = "anno.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config(tmp_path, folder, anno, **changes) -> CreateConfig:
    return CreateConfig(image_dir=folder, anno_file=anno, data_dir=tmp_path / "out", workers=1, **changes)


def test_required_steps_count_blanks_between_repeats() -> None:
    assert required_steps([1, 2, 3]) == 3
    assert required_steps([1, 1, 2, 2, 2]) == 8


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_split_is_exact_for_every_size(fraction: float) -> None:
    for total in range(0, 40):
        assigner = SplitAssigner(fraction)
        splits = [assigner.next() for _ in range(total)]
        expected = int(total * fraction + 0.5 + 1e-9)  # round half up
        assert splits.count("validation") == expected
        assert len(splits) == total  # none dropped


def test_seed_format_to_lmdb_with_exact_deterministic_split(tmp_path, word_folder) -> None:
    anno = _anno(tmp_path, [f"sub/{i}.png {w}" for i, w in enumerate(WORDS)])
    summary = create_dataset(_config(tmp_path, word_folder, anno, validation_split_fraction=0.25), progress=False)
    assert (summary.train, summary.validation, summary.rejected) == (9, 3, {})
    train, validation = LmdbDataset(tmp_path / "out/train"), LmdbDataset(tmp_path / "out/validation")
    labels = sorted([train.label(i) for i in range(9)] + [validation.label(i) for i in range(3)])
    assert labels == sorted(WORDS)
    assert train.sizes()[0][1] == 32 or train.sizes()[0][1] > 0
    # Same seed, same split; another seed, another split.
    again = tmp_path / "again"
    create_dataset(CreateConfig(word_folder, anno, again, 0.25, workers=1), progress=False)
    assert [LmdbDataset(again / "validation").label(i) for i in range(3)] == [validation.label(i) for i in range(3)]
    other = tmp_path / "other"
    create_dataset(CreateConfig(word_folder, anno, other, 0.25, workers=1, seed=5), progress=False)
    assert [LmdbDataset(other / "validation").label(i) for i in range(3)] != [validation.label(i) for i in range(3)]
    assert json.loads((tmp_path / "out/summary.json").read_text())["train"] == 9
    assert json.loads((tmp_path / "out/char_map.json").read_text())["a"] == 0


def test_every_rejection_reason_is_counted_and_listed(tmp_path, word_folder) -> None:
    (word_folder / "empty.png").write_bytes(b"")
    (word_folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    render_word("x").crop((0, 0, 12, 32)).save(word_folder / "narrow.png")
    lines = [
        "sub/0.png apple",
        "sub/1.png",  # unparseable: no label
        "missing.png ghost",
        "empty.png nothing",
        "corrupt.png broken",
        "narrow.png aaaaaaaaaa",  # 12 px wide gives 4 steps; 10 repeated letters need 19
        "sub/0.png apple",  # duplicate path
        "sub/2.png Cherry!",  # unknown characters (skipped)
        "sub/3.png !!!",  # only unknown characters -> with drop: empty label
        "sub/4.png date",
    ]
    anno = _anno(tmp_path, lines)
    summary = create_dataset(_config(tmp_path, word_folder, anno, unknown_chars="skip"), progress=False)
    assert summary.written == 2
    assert summary.rejected == {
        "duplicate path": 1,
        "empty image": 1,
        "label too long": 1,
        "missing image": 1,
        "unknown characters C!": 1,
        "unknown characters !": 1,
        "unparseable line": 1,
        "unreadable image": 1,
    }
    rows = (tmp_path / "out/rejected.tsv").read_text().splitlines()
    assert rows[0] == "path\tline\treason"
    by_line = {int(row.split("\t")[1]): row for row in rows[1:]}
    assert (
        "no space" in by_line[2] and "missing image" in by_line[3] and "duplicate path (first at line 1)" in by_line[7]
    )


def test_unknown_characters_error_names_the_line_and_drop_deletes_them(tmp_path, word_folder) -> None:
    anno = _anno(tmp_path, ["sub/0.png apple", "sub/1.png Berry!"])
    with pytest.raises(DatasetError, match=r"anno\.txt:2: label 'Berry!' holds 'B', '!'"):
        create_dataset(_config(tmp_path, word_folder, anno), progress=False)
    assert not (tmp_path / "out").exists()
    create_dataset(_config(tmp_path, word_folder, anno, unknown_chars="drop", validation_split_fraction=0), False)
    assert LmdbDataset(tmp_path / "out/train").label(1) == "erry"
    create_dataset(
        _config(tmp_path, word_folder, anno, lowercase=True, unknown_chars="drop", overwrite=True,
                validation_split_fraction=0), False,
    )  # fmt: skip
    assert LmdbDataset(tmp_path / "out/train").label(1) == "berry"


def test_tsv_and_synth90k_formats_and_prescaled_height(tmp_path, word_folder) -> None:
    render_word("New York", scale=3).save(word_folder / "ny.png")
    anno = _anno(tmp_path, ["ny.png\tNew York"], "tsv.txt")
    create_dataset(_config(tmp_path, word_folder, anno, charset="printable+space", validation_split_fraction=0,
                           height=32), False)  # fmt: skip
    stored = LmdbDataset(tmp_path / "out/train")
    assert stored.label(0) == "New York"
    assert stored.sizes()[0][1] == 32
    synth = word_folder / "1" / "1"
    synth.mkdir(parents=True)
    render_word("coley").save(synth / "373_coley_14845.jpg")
    anno = _anno(tmp_path, ["./1/1/373_coley_14845.jpg 14845"], "synth.txt")
    summary = create_dataset(CreateConfig(word_folder, anno, tmp_path / "s", 0.0, workers=1), progress=False)
    assert summary.anno_format == "synth90k"
    assert LmdbDataset(tmp_path / "s/train").label(0) == "coley"


def test_existing_output_needs_overwrite(tmp_path, word_folder) -> None:
    anno = _anno(tmp_path, ["sub/0.png apple"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out/keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="--overwrite"):
        create_dataset(_config(tmp_path, word_folder, anno), False)
    assert (tmp_path / "out/keep.txt").exists()
    create_dataset(_config(tmp_path, word_folder, anno, overwrite=True), False)
    assert not (tmp_path / "out/keep.txt").exists()


def test_parallel_workers_give_the_same_dataset(tmp_path, word_folder) -> None:
    anno = _anno(tmp_path, [f"sub/{i % 12}.png {WORDS[i % 12]}" for i in range(12)])
    # More than 64 tasks use the process pool: repeat images under distinct (hard-linked) names.
    lines = []
    for copy in range(8):
        for index, word in enumerate(WORDS):
            os.link(word_folder / "sub" / f"{index}.png", word_folder / f"{copy}_{index}.png")
            lines.append(f"{copy}_{index}.png {word}")
    anno = _anno(tmp_path, lines)
    create_dataset(CreateConfig(word_folder, anno, tmp_path / "one", workers=1), False)
    create_dataset(CreateConfig(word_folder, anno, tmp_path / "two", workers=2), False)
    for split in ("train", "validation"):
        one, two = LmdbDataset(tmp_path / "one" / split), LmdbDataset(tmp_path / "two" / split)
        assert len(one) == len(two) > 0
        assert [one[i] for i in range(len(one))] == [two[i] for i in range(len(two))]


def test_cli_seed_flags_and_summary(tmp_path, word_folder, capsys, monkeypatch) -> None:
    anno = _anno(tmp_path, [f"sub/{i}.png {w}" for i, w in enumerate(WORDS)])
    code = main(
        [
            "dataset",
            "create",
            "--image_dir",
            str(word_folder),
            "--anno_file",
            str(anno),
            "--data_dir",
            str(tmp_path / "cli"),
            "--validation_split_fraction",
            "0.5",
            "--workers",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "wrote 6 train + 6 validation samples" in out
    code = main(["dataset", "inspect", str(tmp_path / "cli/train"), "--grid", str(tmp_path / "grid.png")])
    out = capsys.readouterr().out
    assert code == 0 and "samples:          6" in out
    assert Image.open(tmp_path / "grid.png").size[0] > 0
    # Without --grid, the grid goes to the current folder, named after the dataset: never beside the data.
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "inspect", "cli/train/"]) == 0
    assert "train-samples.png" in capsys.readouterr().out
    assert Image.open(tmp_path / "train-samples.png").size[0] > 0
    assert not list((tmp_path / "cli").rglob("*.png"))


def _slow_conversion(tmp_path) -> tuple[list[str], Path]:
    """A conversion that takes seconds: 3,000 hard links to one large image, re-encoded at height 64."""
    folder = tmp_path / "many"
    folder.mkdir()
    Image.effect_noise((1600, 400), 64).save(folder / "base.png")
    lines = []
    for index in range(3000):
        os.link(folder / "base.png", folder / f"{index}.png")
        lines.append(f"{index}.png noise")
    anno = _anno(tmp_path, lines)
    command = [sys.executable, "-m", "crnn_ctc", "dataset", "create", "--image_dir", str(folder),
               "--anno_file", str(anno), "--data_dir", str(tmp_path / "killed"), "--height", "64",
               "--workers", "1", "--no-progress"]  # fmt: skip
    return command, tmp_path / "killed"


@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM])
def test_an_interrupted_conversion_leaves_no_dataset(tmp_path, kill_signal) -> None:
    command, data_dir = _slow_conversion(tmp_path)
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    partial = None
    while time.monotonic() < deadline and partial is None:
        found = [p for p in tmp_path.glob(".killed.partial-*") if (p / "train" / "data.mdb").exists()]
        partial = found[0] if found else None
        time.sleep(0.05)
    assert partial is not None, "the conversion never started writing"
    time.sleep(0.3)
    process.send_signal(kill_signal)
    process.wait(timeout=30)
    assert not data_dir.exists()  # no dataset that looks complete
    if kill_signal == signal.SIGTERM:
        assert not partial.exists()  # cleaned up on the way out
    else:
        with pytest.raises(DatasetError, match="incomplete"):
            open_source(partial / "train")
    # A rerun (on the first 100 lines, to be quick) succeeds and sweeps away what the killed run left.
    anno = Path(command[command.index("--anno_file") + 1])
    short = _anno(tmp_path, anno.read_text().splitlines()[:100], "short.txt")
    rerun = [short if part == str(anno) else part for part in command]
    subprocess.run([str(part) for part in rerun], check=True, timeout=120)
    assert len(LmdbDataset(data_dir / "train")) == 90
    assert not list(tmp_path.glob(".killed.partial-*"))


def _folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _create(*options: str | Path) -> int:
    return main(["dataset", "create", *map(str, options), "--workers", "1", "--no-progress"])


def test_an_output_folder_that_is_holds_or_lies_in_an_input_is_refused(tmp_path, capsys) -> None:
    work = tmp_path / "work"
    (work / "imgs").mkdir(parents=True)
    for index, word in enumerate(WORDS[:4]):
        render_word(word).save(work / "imgs" / f"{index}.png")
    (work / "labels.tsv").write_text("".join(f"{i}.png\t{w}\n" for i, w in enumerate(WORDS[:4])))
    before = _folder_bytes(tmp_path)
    inputs = ("--image-dir", work / "imgs", "--anno-file", work / "labels.tsv")
    cases = [
        (work / "imgs", f"--data-dir {work / 'imgs'} is the input {work / 'imgs'}"),
        (work, f"--data-dir {work} contains the input {work / 'imgs'}"),
        (work / "imgs" / "out", f"--data-dir {work / 'imgs' / 'out'} is inside the input {work / 'imgs'}"),
        (tmp_path / "work" / ".." / "work", "contains the input"),
    ]
    for data_dir, message in cases:
        assert _create(*inputs, "--data-dir", data_dir, "--overwrite") == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
        assert _folder_bytes(tmp_path) == before
    assert _create(*inputs, "--data-dir", tmp_path / "data") == 0  # beside the inputs is fine


def test_a_failed_overwrite_leaves_the_existing_dataset_byte_identical(tmp_path, word_folder, capsys) -> None:
    good = _anno(tmp_path, [f"sub/{i}.png {w}" for i, w in enumerate(WORDS)])
    assert _create("--image_dir", word_folder, "--anno_file", good, "--data_dir", tmp_path / "data") == 0
    before = _folder_bytes(tmp_path / "data")
    missing = _anno(tmp_path, [f"gone/{i}.png {w}" for i, w in enumerate(WORDS)], "missing.txt")
    capsys.readouterr()
    code = _create("--image_dir", word_folder, "--anno_file", missing, "--data_dir", tmp_path / "data", "--overwrite")
    out, err = capsys.readouterr()
    assert code == 2  # no sample kept: not "some failed"
    assert "rejected 12 of 12 lines (missing image: 12)" in out
    assert f"{tmp_path / 'data'} keeps the dataset it held" in err
    assert _folder_bytes(tmp_path / "data") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anno.txt", "data", "images", "missing.txt"]
    # Into a new folder, an empty result is still written (its rejected.tsv says why), as before.
    code = _create("--image_dir", word_folder, "--anno_file", missing, "--data_dir", tmp_path / "new")
    assert code == 2 and len((tmp_path / "new" / "rejected.tsv").read_text().splitlines()) == 13


def test_rejection_reasons_hold_no_raw_tabs_or_line_breaks(tmp_path, word_folder) -> None:
    anno = _anno(tmp_path, ["sub/0.png\tapple", "sub/1.png\tber\try", "sub/2.png\tche\rrry"], "anno.tsv")
    code = _create("--image_dir", word_folder, "--anno_file", anno, "--data_dir", tmp_path / "out",
                   "--unknown-chars", "skip")  # fmt: skip
    assert code == 0
    rows = (tmp_path / "out" / "rejected.tsv").read_text(encoding="utf-8").split("\n")
    assert rows[-1] == "" and all(len(row.split("\t")) == 3 for row in rows[:-1]), rows
    assert [row.split("\t")[1] for row in rows[1:-1]] == ["2", "3"]


def test_a_dataset_states_its_charset_and_an_empty_split_is_seen(tmp_path, word_folder) -> None:
    """What `crnn train` reads to choose its alphabet: an LMDB's metadata, a TFRecord's char_map.json, the
    union over a folder of shards; an annotation folder states none."""
    from crnn_ctc.charset import Charset
    from crnn_ctc.data.readers import is_empty_split, stated_charset

    anno = _anno(tmp_path, [f"sub/{i}.png {w.title()}" for i, w in enumerate(WORDS)])
    create_dataset(_config(tmp_path, word_folder, anno, charset="alnum"), progress=False)
    lmdb = tmp_path / "out"
    assert stated_charset(lmdb / "train") == Charset.preset("alnum")
    record = CreateConfig(word_folder, anno, tmp_path / "tf", 0.0, store_format="tfrecord", charset="alnum", workers=1)
    create_dataset(record, progress=False)
    assert stated_charset(tmp_path / "tf" / "train.tfrecord") == Charset.preset("alnum")
    assert is_empty_split(tmp_path / "tf" / "validation.tfrecord") and not is_empty_split(lmdb / "validation")
    # Two shards written for different alphabets: the first's symbols, then the second's new ones.
    shards = tmp_path / "shards"
    shards.mkdir()
    first = _anno(tmp_path, [f"sub/{i}.png {w}" for i, w in enumerate(WORDS)], "lower.txt")
    create_dataset(CreateConfig(word_folder, first, shards / "x", workers=1), progress=False)
    create_dataset(CreateConfig(word_folder, anno, shards / "y", charset="alnum", workers=1), progress=False)
    (shards / "x" / "train").rename(shards / "000")
    (shards / "y" / "train").rename(shards / "001")
    stated = stated_charset(shards)
    assert stated is not None and stated.symbols[:36] == Charset.preset("lower-alnum").symbols
    assert set(stated.symbols) == set(Charset.preset("alnum").symbols)
    assert stated_charset(word_folder.parent / "anno.txt") is None
