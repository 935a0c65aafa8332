"""End to end through the ``crnn`` command, on a random model and generated images."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crnn_ctc.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_predict_files_and_folders_in_batches_and_one_by_one(capsys, model_path, word_images) -> None:
    folder = word_images[0].parent
    code, batched, err = _run(capsys, "predict", "--model", model_path, "--batch-size", 4, folder)
    assert code == 0, err
    code, single, _ = _run(capsys, "predict", "--model", model_path, "--batch_size", 1, *word_images)
    assert code == 0
    rows = _rows(batched)
    assert [row[0] for row in rows] == [str(p) for p in word_images]
    assert all(len(row) == 3 and 0.0 <= float(row[2]) <= 1.0 for row in rows)
    assert [row[:2] for row in rows] == [row[:2] for row in _rows(single)]
    for a, b in zip(rows, _rows(single), strict=True):
        assert float(a[2]) == pytest.approx(float(b[2]), abs=2e-4)


def test_bad_files_are_reported_and_the_rest_still_read(capsys, model_path, word_images, tmp_path) -> None:
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    inputs = [
        word_images[0],
        tmp_path / "corrupt.png",
        tmp_path / "missing.png",
        tmp_path / "empty.jpg",
        tmp_path / "notes.txt",
        word_images[1],
    ]
    code, out, err = _run(capsys, "predict", "--model", model_path, *inputs)
    assert code == 1
    assert [row[0] for row in _rows(out)] == [str(word_images[0]), str(word_images[1])]
    assert f"{tmp_path / 'corrupt.png'}: " in err
    assert f"{tmp_path / 'missing.png'}: no such file" in err
    assert f"{tmp_path / 'empty.jpg'}: empty file" in err
    assert f"{tmp_path / 'notes.txt'}: not an image" in err
    assert "4 of 6 images could not be read" in err


def test_seed_form_with_image_list_and_model_dir(capsys, model_path, word_images, tmp_path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(model_path, model_dir / "crnn.safetensors")
    image_dir = word_images[0].parent
    image_list = tmp_path / "list.txt"
    image_list.write_text("".join(f"{p.name} label\n" for p in word_images[:3]) + "\n")
    code, out, err = _run(
        capsys,
        "predict",
        "--image_dir",
        image_dir,
        "--image_list",
        image_list,
        "--model_dir",
        model_dir,
        "--format",
        "seed",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"Predict {word_images[0].name} image as: ")
    # The hyphenated spelling is the same option.
    code, hyphenated, _ = _run(
        capsys,
        "predict",
        "--image-dir",
        image_dir,
        "--image-list",
        image_list,
        "--model-dir",
        model_dir,
        "--format",
        "seed",
    )
    assert (code, hyphenated) == (0, out)


def test_json_lines(capsys, model_path, word_images) -> None:
    code, out, _ = _run(capsys, "predict", "--model", model_path, "--format", "json", *word_images[:2])
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in word_images[:2]]
    assert all(set(r) == {"path", "text", "confidence", "char_probs"} for r in records)


def test_nothing_to_run_exits_2_with_a_reason(capsys, model_path, word_images, tmp_path) -> None:
    code, _, err = _run(capsys, "predict", "--model", model_path)
    assert code == 2 and "no images" in err
    (tmp_path / "bad.safetensors").write_bytes(b"garbage" * 20)
    code, _, err = _run(capsys, "predict", "--model", tmp_path / "bad.safetensors", word_images[0])
    assert code == 2 and "bad.safetensors" in err
    code, _, err = _run(capsys, "predict", "--model", model_path, "--batch-size", 0, word_images[0])
    assert code == 2 and "batch-size" in err


def test_info_describes_the_model(capsys, model_path) -> None:
    code, out, _ = _run(capsys, "info", "--model", model_path)
    assert code == 0
    assert "small" in out and "36 symbols" in out
    code, out, _ = _run(capsys, "info", "--model", model_path, "--json")
    assert json.loads(out)["model"]["arch"] == "small"


def test_info_reads_old_records_against_what_is_there(capsys, tmp_path) -> None:
    """A training config said to lie beside the file but gone (as for the bundled model), and the "random"
    initialisation that continued runs recorded before --init-from was noted, are not shown as facts."""
    from crnn_ctc.bundle import new_bundle, save_bundle
    from crnn_ctc.charset import Charset

    bundle = new_bundle("tiny", Charset.preset("lower-alnum"), seed=0)
    bundle.provenance.update(init_from="start.safetensors", initialisation="random",
                             training_config="config.json beside this file")  # fmt: skip
    path = save_bundle(bundle, tmp_path / "m.safetensors")
    out = _run(capsys, "info", "--model", path)[1]
    assert "config.json beside this file when it was saved (not beside it now)" in out
    assert "did not note --init-from: it started from init_from" in out
    (tmp_path / "config.json").write_text("{}")
    out = _run(capsys, "info", "--model", path)[1]
    assert "training_config: config.json beside this file\n" in out


def test_console_script_and_module_entry_points(model_path, word_images) -> None:
    script = Path(sys.executable).parent / "crnn"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith("crnn-ctc ")
    result = subprocess.run(
        [sys.executable, "-m", "crnn_ctc", "predict", "--model", str(model_path), str(word_images[0])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(word_images[0]) + "\t")


def test_random_model_saved_reloaded_and_run_batched_and_one_by_one(capsys, tmp_path, word_images) -> None:
    """The foundation's end-to-end check: an untrained model through save, load and the CLI."""
    from crnn_ctc.bundle import new_bundle, save_bundle
    from crnn_ctc.charset import Charset

    path = save_bundle(new_bundle("vgg", Charset.preset("alnum"), seed=3), tmp_path / "random.safetensors")
    outputs = []
    for batch_size in (1, 5):
        code, out, err = _run(
            capsys, "predict", "--model", path, "--batch-size", batch_size, "--format", "json", *word_images
        )
        assert code == 0, err
        outputs.append([json.loads(line) for line in out.splitlines()])
    assert [r["text"] for r in outputs[0]] == [r["text"] for r in outputs[1]]
    for one, many in zip(*outputs, strict=True):
        assert one["char_probs"] == pytest.approx(many["char_probs"], rel=1e-3)


def _folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_output_that_is_an_input_is_refused_and_the_input_kept(capsys, model_path, word_images, tmp_path,
                                                                monkeypatch) -> None:  # fmt: skip
    shutil.copy(word_images[0], tmp_path / "good.png")
    before = (tmp_path / "good.png").read_bytes()
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "predict", "--model", model_path, "--output", "good.png", tmp_path / "good.png")
    assert code == 2 and out == ""
    assert "--output good.png is the input" in err and str(tmp_path / "good.png") in err
    assert len(err.strip().splitlines()) == 1
    assert (tmp_path / "good.png").read_bytes() == before
    # The same through a folder, and an image list that would be overwritten by the results.
    code, _, err = _run(capsys, "predict", "--model", model_path, "-o", tmp_path / "good.png", tmp_path)
    assert code == 2 and "is the input" in err
    (tmp_path / "list.txt").write_text("good.png\n")
    code, _, err = _run(capsys, "predict", "--model", model_path, "--image-list", "list.txt", "-o", "list.txt")
    assert code == 2 and "is the input list.txt" in err
    assert (tmp_path / "good.png").read_bytes() == before and (tmp_path / "list.txt").read_text() == "good.png\n"


def test_an_interrupted_predict_leaves_the_old_output_whole(capsys, model_path, word_images, tmp_path,
                                                            monkeypatch) -> None:  # fmt: skip
    from crnn_ctc.api import Prediction, Recognizer

    def interrupted(self, paths, **options):
        yield Prediction("hello", 0.9, source=str(paths[0]))
        raise KeyboardInterrupt

    output = tmp_path / "results.tsv"
    output.write_text("an earlier run's results\n")
    monkeypatch.setattr(Recognizer, "iter_recognize", interrupted)
    code, _, err = _run(capsys, "predict", "--model", model_path, "--output", output, *word_images[:2])
    assert code == 130 and "interrupted" in err
    assert output.read_text() == "an earlier run's results\n"
    assert _folder_bytes(tmp_path) == {"results.tsv": b"an earlier run's results\n"}  # no temporary file left
    monkeypatch.undo()
    code, _, _ = _run(capsys, "predict", "--model", model_path, "--output", output, *word_images[:2])
    assert code == 0
    assert [row[0] for row in _rows(output.read_text())] == [str(p) for p in word_images[:2]]


def test_unwritable_outputs_are_one_line_errors(capsys, model_path, word_images, tmp_path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("keep")
    for output in (tmp_path / "folder", tmp_path / "file.txt" / "out.tsv"):
        code, out, err = _run(capsys, "predict", "--model", model_path, "--output", output, word_images[0])
        assert (code, out) == (2, ""), err
        assert err.startswith(f"crnn: error: {output}: ") and len(err.strip().splitlines()) == 1
        code, out, err = _run(capsys, "export", "--model", model_path, "--out", output)
        assert (code, out) == (2, ""), err
        assert err.startswith(f"crnn: error: {output}: ") and len(err.strip().splitlines()) == 1
    assert "is a folder" in _run(capsys, "export", "--model", model_path, "--out", tmp_path / "folder")[2]
    # Exporting over the model it reads would lose that model, even with --overwrite.
    code, _, err = _run(capsys, "export", "--model", model_path, "--out", model_path)
    assert code == 2 and "is not a .onnx file" in err
    code, _, err = _run(capsys, "export", "--model", model_path, "--out", model_path, "--overwrite")
    assert code == 2 and "is the input" in err
    # Nor does a typo that names an existing file of another kind replace it.
    code, _, err = _run(capsys, "export", "--model", model_path, "--out", tmp_path / "file.txt")
    assert code == 2 and "--overwrite" in err
    assert (tmp_path / "file.txt").read_text() == "keep" and not any((tmp_path / "folder").iterdir())


def test_info_describes_an_onnx_model(capsys) -> None:
    from crnn_ctc.bundle import ASSETS_DIR

    graph = ASSETS_DIR / "crnn-ctc-default.int8.onnx"
    code, out, err = _run(capsys, "info", "--model", graph)
    assert code == 0, err
    assert "ONNX, static" in out and "small" in out and "symbols" in out and "damaged" not in out + err
    code, out, _ = _run(capsys, "info", "--model", graph, "--json")
    description = json.loads(out)
    assert description["model"]["arch"] == "small" and description["onnx"]["quantization"] == "static"


def test_nothing_read_is_exit_2_and_names_what(capsys, model_path, tmp_path) -> None:
    """Exit 1 means "the others were printed"; when no input at all could be read, that is exit 2, and a
    table of 0.00% scores for images never read is not printed as if it were a result."""
    code, out, err = _run(capsys, "predict", "--model", model_path, tmp_path / "nosuchdir")
    assert code == 2 and out == ""
    assert f"{tmp_path / 'nosuchdir'}: no such file" in err and "none of the 1 images could be read" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "predict", "--model", model_path, tmp_path / "empty")
    assert code == 2 and f"no images to read in {tmp_path / 'empty'}" in err
    data = tmp_path / "data"
    data.mkdir()
    (data / "labels.tsv").write_text("gone1.png\tone\ngone2.png\ttwo\n", encoding="utf-8")
    code, out, err = _run(capsys, "eval", "--model", model_path, "--data", data)
    assert code == 2
    assert "none of its samples could be read" in out and "0.00%" not in out
    assert f"crnn: error: {data / 'gone1.png'}: " in err and "none of the 2 samples could be read" in err


def test_a_symlink_loop_is_reported_as_one(capsys, model_path, word_images, tmp_path) -> None:
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    code, out, err = _run(capsys, "predict", "--model", model_path, tmp_path / "a.png", word_images[0])
    assert code == 1 and len(_rows(out)) == 1
    assert f"{tmp_path / 'a.png'}: symbolic link loop" in err and "no such file" not in err


def test_eval_predictions_never_overwrite_an_input_and_keep_one_row_per_sample(capsys, model_path, word_images,
                                                                               tmp_path) -> None:  # fmt: skip
    from crnn_ctc.data.lmdb_store import LmdbWriter

    folder = tmp_path / "words"
    folder.mkdir()
    for path in word_images[:3]:
        shutil.copy(path, folder / path.name)
    labels = "".join(f"{p.name}\t{p.stem.split('_', 1)[1]}\n" for p in word_images[:3])
    (folder / "labels.tsv").write_text(labels, encoding="utf-8")
    code, out, err = _run(capsys, "eval", "--model", model_path, "--data", folder,
                          "--predictions", folder / "labels.tsv")  # fmt: skip
    assert code == 2 and out == "" and "--predictions" in err and "is the input" in err
    assert (folder / "labels.tsv").read_text(encoding="utf-8") == labels
    code, _, err = _run(capsys, "eval", "--data", folder, "--predictions", model_path, "--model", model_path)
    assert code == 2 and "is the input" in err
    image = folder / word_images[0].name
    image_bytes = image.read_bytes()
    code, _, err = _run(capsys, "eval", "--data", folder, "--predictions", image, "--model", model_path)
    assert code == 2 and "is the input" in err and image.read_bytes() == image_bytes
    # Annotations under another name: a labels.tsv beside them would be read as the annotations next time.
    (folder / "labels.tsv").rename(folder / "gt.txt")
    code, _, err = _run(capsys, "eval", "--data", folder / "gt.txt", "--predictions", folder / "labels.tsv",
                        "--model", model_path)  # fmt: skip
    assert code == 2 and "take it for the annotations" in err and not (folder / "labels.tsv").exists()
    (folder / "gt.txt").rename(folder / "labels.tsv")
    # An LMDB folder's files are its data: an output inside it is refused, the database left whole.
    lmdb = tmp_path / "lmdb"
    writer = LmdbWriter(lmdb)
    writer.add(word_images[0].read_bytes(), "a\tlabel\nwith breaks")
    writer.close()
    before = _folder_bytes(lmdb)
    code, _, err = _run(capsys, "eval", "--model", model_path, "--data", lmdb, "--predictions", lmdb / "data.mdb")
    assert code == 2 and "inside the dataset" in err
    assert _folder_bytes(lmdb) == before
    # Written: one line per sample whatever its label holds, atomically (no temporary file left).
    output = tmp_path / "out" / "predictions.tsv"
    code, _, err = _run(capsys, "eval", "--model", model_path, "--protocol", "raw", "--data", lmdb, folder,
                        "--predictions", output)  # fmt: skip
    assert code == 0, err
    rows = _rows(output.read_text(encoding="utf-8"))
    assert rows[0] == ["sample", "label", "prediction", "confidence", "error"]
    assert [len(row) for row in rows] == [5] * 5
    assert rows[1][1] == "a label with breaks"
    assert [row[1] for row in rows[2:]] == [p.stem.split("_", 1)[1] for p in word_images[:3]]
    assert sorted(p.name for p in output.parent.iterdir()) == ["predictions.tsv"]
