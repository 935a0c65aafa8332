"""Training end to end on tiny generated data: learning, exact resume, DDP, the NaN guard, the CLI."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import render_word
from crnn_ctc import Recognizer
from crnn_ctc.bundle import file_sha256, load_bundle, new_bundle, save_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.cli import main
from crnn_ctc.errors import ConfigError
from crnn_ctc.training import TrainConfig, TrainingError, train
from crnn_ctc.training.loop import ONEDNN_CACHE_CAPACITY, Trainer
from crnn_ctc.training.precision import cpu_has_native_bf16
from crnn_ctc.training.sources import PlannedKey

DOUBLES = ["coffee", "0011", "book", "street", "apple", "llama", "bottle", "moon", "hello", "success"]


def _make_folder(root: Path, count: int, seed: int = 0) -> Path:
    """``count`` rendered samples in ``root`` with a labels.tsv: the double-letter words, then random strings."""
    root.mkdir(parents=True, exist_ok=True)
    generator = random.Random(seed)
    lines = []
    for index in range(count):
        if index < len(DOUBLES):
            word = DOUBLES[index]
        else:
            word = "".join(
                generator.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(generator.randint(2, 8))
            )
        render_word(word, scale=1 + index % 2).save(root / f"{index}.png")
        lines.append(f"{index}.png\t{word}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def samples64(tmp_path_factory) -> Path:
    return _make_folder(tmp_path_factory.mktemp("train64"), 64)


@pytest.mark.slow
def test_tiny_model_overfits_64_samples_with_double_letters(samples64, tmp_path) -> None:
    """Loss, CTC lengths and decoding agree: 100% word accuracy on what it trained on, within a minute."""
    config = TrainConfig(
        model_dir=str(tmp_path / "run"), train=[str(samples64)], val=[str(samples64)], arch="tiny", batch_size=64,
        max_steps=350, lr=6e-3, schedule="constant", warmup_steps=20, val_every=50, workers=0, amp="off",
    )  # fmt: skip
    # A fixed budget of 350 steps (about 50 s on one quiet core; timing itself is for benchmarks). fp32, so
    # that it asserts the same on every CPU; the bf16 path is compared with it below.
    result = train(config, progress=False)
    assert result.best_accuracy == 1.0
    # Targets are never collapsed: the exported model reads repeated letters.
    recognizer = Recognizer.load(result.model_path, device="cpu")
    texts = [p.text for p in recognizer.recognize([samples64 / f"{i}.png" for i in range(len(DOUBLES))])]
    assert texts == DOUBLES
    for name in (
        "model.safetensors",
        "best.safetensors",
        "config.json",
        "log.csv",
        "curves.png",
        "checkpoints/last.pt",
    ):
        assert (tmp_path / "run" / name).exists(), name
    assert list((tmp_path / "run" / "tensorboard").iterdir())


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="bf16 is emulated on this CPU: --amp auto trains in fp32 here")
def test_bf16_learns_like_fp32_on_a_small_overfit_task(samples64, tmp_path) -> None:
    """Where --amp auto picks bf16, the fp32 overfit task above (all 64 read after 350 steps) is learnt
    too: same data, budget and seed. bf16's 8-bit mantissa may leave a word or two of 64."""
    config = TrainConfig(
        model_dir=str(tmp_path / "run"), train=[str(samples64)], val=[str(samples64)], arch="tiny", batch_size=64,
        max_steps=350, lr=6e-3, schedule="constant", warmup_steps=20, val_every=50, workers=0, amp="auto",
    )  # fmt: skip
    result = train(config, progress=False)
    assert json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))["resolved"]["precision"] == "bf16"
    assert result.best_accuracy is not None and result.best_accuracy >= 0.95


def _train_command(model_dir: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "crnn_ctc", "train", "--train", str(data), "--model_dir", str(model_dir),
            "--arch", "tiny", "--batch_size", "8", "--max-steps", "60", "--save-every", "5", "--workers", "0",
            "--seed", "3", "--no-progress", *extra]  # fmt: skip


def test_resume_after_sigkill_ends_with_the_same_weights(samples64, tmp_path) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_train_command(tmp_path / "whole", samples64), check=True, env=environment, timeout=300)
    process = subprocess.Popen(_train_command(tmp_path / "killed", samples64), env=environment)
    checkpoint = tmp_path / "killed" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    subprocess.run([*_train_command(tmp_path / "killed", samples64), "--resume"], check=True, env=environment,
                   timeout=300)  # fmt: skip
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "model.safetensors")
    assert whole.keys() == resumed.keys()
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=0, atol=1e-6, msg=name)


def test_ddp_with_gloo_on_two_processes(samples64, tmp_path) -> None:
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "crnn_ctc", "train",
               "--train", str(samples64), "--val", str(samples64), "--model_dir", str(tmp_path / "ddp"),
               "--arch", "tiny", "--batch_size", "8", "--max-steps", "8", "--val-every", "4", "--workers", "0",
               "--no-progress"]  # fmt: skip
    result = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x2" in result.stderr  # two processes trained together
    assert result.stderr.count("validation word accuracy") == 2  # rank 0 only, at steps 4 and 8
    load_bundle(tmp_path / "ddp" / "model.safetensors")


def test_non_finite_losses_are_skipped_counted_and_stop_training_if_persistent(
    samples64, tmp_path, monkeypatch
) -> None:
    config = TrainConfig(model_dir=str(tmp_path / "nan"), train=[str(samples64)], arch="tiny", batch_size=16,
                         max_steps=8, workers=0, max_bad_steps=3)  # fmt: skip
    original = Trainer._forward_loss
    calls = {"n": 0}

    def sometimes_nan(self, batch):
        calls["n"] += 1
        loss = original(self, batch)
        return loss * float("nan") if calls["n"] in (2, 3) else loss

    monkeypatch.setattr(Trainer, "_forward_loss", sometimes_nan)
    result = train(config, progress=False)
    assert result.skipped_steps == 2 and result.steps == 8
    monkeypatch.setattr(Trainer, "_forward_loss", lambda self, batch: original(self, batch) * float("inf"))
    with pytest.raises(TrainingError, match="NaN/inf for 3 steps in a row"):
        train(TrainConfig(**{**config.to_dict(), "model_dir": str(tmp_path / "inf")}), progress=False)


def test_labels_that_cannot_fit_are_dropped_up_front(tmp_path) -> None:
    root = _make_folder(tmp_path / "data", 12)
    render_word("x").crop((0, 0, 12, 32)).save(root / "narrow.png")
    with (root / "labels.tsv").open("a", encoding="utf-8") as file:
        file.write("narrow.png\taaaaaaaaaaaa\n0.png\tCAPS\n")
    lines = []
    config = TrainConfig(model_dir=str(tmp_path / "run"), train=[str(root)], arch="tiny", batch_size=4, max_steps=2,
                         workers=0)  # fmt: skip
    result = train(config, progress=False, report=lines.append)
    assert result.dropped == {"label too long for its image": 1, "symbols outside the charset": 1}
    assert any("12 usable samples" in line for line in lines)


def test_seed_cli_form_config_file_and_eval(tmp_path, capsys) -> None:
    root = _make_folder(tmp_path / "images", 24)
    create = ["dataset", "create", "--image_dir", str(root), "--anno_file", str(root / "labels.tsv")]
    assert main([*create, "--data_dir", str(tmp_path / "data"), "--validation_split_fraction", "0.25"]) == 0
    options = tmp_path / "options.yaml"
    options.write_text(yaml.safe_dump({"arch": "tiny", "max-steps": 50, "lr": 0.002, "workers": 0, "val_every": 3}))
    code = main(["train", "--config", str(options), "--data_dir", str(tmp_path / "data"), "--model_dir",
                 str(tmp_path / "model"), "--batch_size", "6", "--max-steps", "6", "--no-progress"])  # fmt: skip
    assert code == 0
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (saved["max_steps"], saved["lr"], saved["batch_size"], saved["arch"]) == (6, 0.002, 6, "tiny")
    assert saved["train"][0].endswith("train") and saved["val"][0].endswith("validation")
    capsys.readouterr()
    code = main(["eval", "--model_dir", str(tmp_path / "model"), "--data_dir", str(tmp_path / "data"),
                 "--predictions", str(tmp_path / "predictions.tsv"), "--worst", "2"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "word acc" in out and "validation" in out
    rows = (tmp_path / "predictions.tsv").read_text().splitlines()
    assert rows[0].startswith("sample\tlabel\tprediction") and len(rows) == 1 + 6


def test_init_from_a_model_with_another_charset_keeps_shared_rows(tmp_path) -> None:
    root = _make_folder(tmp_path / "data", 8)
    source = new_bundle("tiny", Charset.preset("lower-alnum"), seed=1)
    save_bundle(source, tmp_path / "source.safetensors")
    config = TrainConfig(model_dir=str(tmp_path / "run"), train=[str(root)], arch="tiny", charset="alnum",
                         init_from=str(tmp_path / "source.safetensors"), max_steps=1, lr=1e-12, workers=0)  # fmt: skip
    result = train(config, progress=False)
    tuned = load_bundle(result.model_path)
    assert len(tuned.charset) == 62
    # Its provenance says where it started, by path and by content (not "random").
    assert tuned.provenance["init_from"] == str(tmp_path / "source.safetensors")
    assert tuned.provenance["init_from_sha256"] == file_sha256(tmp_path / "source.safetensors")
    assert "copied from init_from" in tuned.provenance["initialisation"]
    assert "rows of 36 shared symbols" in tuned.provenance["initialisation"]
    # A resume keeps that record, though the path now holds another file.
    started_from = file_sha256(tmp_path / "source.safetensors")
    save_bundle(new_bundle("tiny", Charset.preset("lower-alnum"), seed=2), tmp_path / "source.safetensors")
    resumed = train(TrainConfig(**{**config.to_dict(), "max_steps": 2}), resume=True, progress=False)
    assert load_bundle(resumed.model_path).provenance["init_from_sha256"] == started_from
    old = source.model.state_dict()["rnn.1.projection.weight"]
    new = tuned.model.state_dict()["rnn.1.projection.weight"]
    for symbol in "a7z":
        torch.testing.assert_close(new[tuned.charset.symbols.index(symbol) + 1],
                                   old[source.charset.symbols.index(symbol) + 1], atol=1e-6, rtol=0)  # fmt: skip
    with pytest.raises(ConfigError, match="--arch tiny"):
        train(TrainConfig(**{**config.to_dict(), "arch": "small", "model_dir": str(tmp_path / "x")}), progress=False)


def test_the_charset_is_the_one_the_data_states_unless_named(tmp_path, capsys) -> None:
    """`crnn dataset create --charset alnum` then `crnn train --data_dir` trains the capitals (it used to
    fall back to lower-alnum and drop every capitalised label); --init-from keeps the model's alphabet and
    adds what the data holds beyond it; a validation source with nothing usable is an error, not 0.00%."""
    root = _make_folder(tmp_path / "images", 16)
    lines = (root / "labels.tsv").read_text(encoding="utf-8").splitlines()
    for index in range(4):  # four capitalised words
        render_word(f"Word{index}").save(root / f"cap{index}.png")
        lines.append(f"cap{index}.png\tWord{index}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    create = ["dataset", "create", "--image_dir", str(root), "--anno_file", str(root / "labels.tsv"), "--no-progress"]
    assert main([*create, "--data_dir", str(tmp_path / "alnum"), "--charset", "alnum"]) == 0
    assert main([*create, "--data_dir", str(tmp_path / "no-val"), "--charset", "alnum",
                 "--validation_split_fraction", "0"]) == 0  # fmt: skip
    common = ["--arch", "tiny", "--max-steps", "1", "--workers", "0", "--batch_size", "4", "--no-progress"]
    capsys.readouterr()

    assert main(["train", "--data_dir", str(tmp_path / "alnum"), "--model_dir", str(tmp_path / "a"), *common]) == 0
    out = capsys.readouterr().err
    assert load_bundle(tmp_path / "a" / "model.safetensors").charset == Charset.preset("alnum")
    assert "charset: 62 symbols" in out and "as the training data states" in out
    assert "dropped" not in out
    resolved = json.loads((tmp_path / "a" / "config.json").read_text())["resolved"]
    assert resolved["charset"] == "".join(Charset.preset("alnum").symbols)
    # Named, it wins: lower-alnum drops the capitalised words and says how to keep them.
    assert main(["train", "--data_dir", str(tmp_path / "alnum"), "--model_dir", str(tmp_path / "b"),
                 "--charset", "lower-alnum", *common]) == 0  # fmt: skip
    out = capsys.readouterr().err
    assert "symbols outside the charset" in out and "--charset names the alphabet" in out
    # From a model: its alphabet first, then the data's symbols it lacks.
    save_bundle(new_bundle("tiny", Charset.preset("lower-alnum"), seed=1), tmp_path / "start.safetensors")
    assert main(["train", "--data_dir", str(tmp_path / "alnum"), "--model_dir", str(tmp_path / "c"),
                 "--init-from", str(tmp_path / "start.safetensors"), *common]) == 0  # fmt: skip
    tuned = load_bundle(tmp_path / "c" / "model.safetensors").charset
    assert tuned.symbols[:36] == Charset.preset("lower-alnum").symbols and len(tuned) == 62
    assert "26 symbols the --init-from model lacks" in capsys.readouterr().err
    # An annotation folder states nothing: lower-alnum, as the seed's.
    assert main(["train", "--train", str(root), "--model_dir", str(tmp_path / "d"), *common]) == 0
    assert load_bundle(tmp_path / "d" / "model.safetensors").charset == Charset.preset("lower-alnum")
    # A validation source where nothing is usable stops the run before it trains.
    capitals = tmp_path / "capitals"
    capitals.mkdir()
    for index in range(2):
        shutil.copy(root / f"cap{index}.png", capitals / f"{index}.png")
    (capitals / "labels.tsv").write_text("0.png\tWord0\n1.png\tWord1\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["train", "--train", str(root), "--val", str(capitals), "--model_dir", str(tmp_path / "e"), *common])
    assert code == 2
    assert "no usable sample" in capsys.readouterr().err
    assert not (tmp_path / "e" / "model.safetensors").exists()
    # An empty validation split found in --data_dir is only left out.
    assert main(["train", "--data_dir", str(tmp_path / "no-val"), "--model_dir", str(tmp_path / "f"), *common]) == 0
    assert "not validated" in capsys.readouterr().out
    assert json.loads((tmp_path / "f" / "config.json").read_text())["val"] == []


def test_a_tfrecord_keeps_its_own_numbering_and_a_resume_its_alphabet(tmp_path) -> None:
    """A TFRecord's label numbers mean what its char_map.json says, whatever alphabet the run trains (the
    bundled model's puts the digits first); a resumed run keeps the alphabet it began with though its data
    now states more; a --data_dir whose validation split is an annotation folder still validates."""
    root = _make_folder(tmp_path / "images", 12)
    words = sorted(line.split("\t")[1] for line in (root / "labels.tsv").read_text().splitlines())
    create = ["dataset", "create", "--image_dir", str(root), "--anno_file", str(root / "labels.tsv"), "--no-progress"]
    assert main([*create, "--data_dir", str(tmp_path / "tf"), "--format", "tfrecord"]) == 0  # lower-alnum: a..z0..9
    start = tmp_path / "start.safetensors"
    save_bundle(new_bundle("tiny", Charset.preset("alnum"), seed=1), start)  # 0..9a..zA..Z
    trainer = Trainer(TrainConfig(model_dir=str(tmp_path / "a"), data_dir=str(tmp_path / "tf"), arch="tiny",
                                  init_from=str(start), max_steps=1, workers=0))  # fmt: skip
    assert trainer.bundle.charset == Charset.preset("alnum")
    read = [source.dataset.source for source in (*trainer.train_sources, *trainer.val_sources)]
    assert sorted(sample[1] for records in read for sample in (records[i] for i in range(len(records)))) == words

    shards = tmp_path / "shards"
    assert main([*create, "--data_dir", str(tmp_path / "one"), "--validation_split_fraction", "0"]) == 0
    shards.mkdir()
    (tmp_path / "one" / "train").rename(shards / "000")
    config = TrainConfig(model_dir=str(tmp_path / "run"), train=[str(shards)], arch="tiny", max_steps=1, workers=0)
    train(config, progress=False)
    assert main([*create, "--data_dir", str(tmp_path / "two"), "--charset", "alnum"]) == 0
    (tmp_path / "two" / "train").rename(shards / "001")  # the folder now states alnum
    resumed = train(TrainConfig(**{**config.to_dict(), "max_steps": 2}), resume=True, progress=False)
    assert resumed.steps == 2 and load_bundle(resumed.model_path).charset == Charset.preset("lower-alnum")

    shutil.rmtree(tmp_path / "one" / "validation")
    shutil.copytree(root, tmp_path / "one" / "validation")  # an annotation folder as the validation split
    shutil.copytree(shards / "000", tmp_path / "one" / "train")
    assert TrainConfig(data_dir=str(tmp_path / "one")).with_sources().val == [str(tmp_path / "one" / "validation")]


def test_fine_tuning_keeps_batch_norm_statistics_and_still_trains_their_scale(tmp_path) -> None:
    """With --init-from, batch norm's running statistics stay as loaded (auto) while every weight, batch
    norm's scale and shift among them, still learns; --freeze-bn off lets the statistics move again."""
    root = _make_folder(tmp_path / "data", 16)
    save_bundle(new_bundle("tiny", Charset.preset("lower-alnum"), seed=1), tmp_path / "source.safetensors")
    source = load_file(tmp_path / "source.safetensors")

    def tuned(name: str, *extra: str) -> dict[str, torch.Tensor]:
        main(["train", "--train", str(root), "--arch", "tiny", "--model_dir", str(tmp_path / name), "--max-steps", "3",
              "--init-from", str(tmp_path / "source.safetensors"), "--workers", "0", "--batch_size", "8",
              "--lr", "1e-2", "--warmup-steps", "1", "--no-progress", *extra])  # fmt: skip
        return load_file(tmp_path / name / "model.safetensors")

    kept, learned = tuned("kept"), tuned("learned", "--freeze-bn", "off")
    statistics = [name for name in source if name.endswith(("running_mean", "running_var"))]
    assert statistics
    for name in statistics:
        torch.testing.assert_close(kept[name], source[name], atol=0, rtol=0)
    assert all(not torch.equal(learned[name], source[name]) for name in statistics)
    assert not torch.equal(kept["cnn.layers.0.1.weight"], source["cnn.layers.0.1.weight"])  # BN's scale learns
    assert not torch.equal(kept["cnn.layers.0.0.weight"], source["cnn.layers.0.0.weight"])
    assert json.loads((tmp_path / "kept" / "config.json").read_text())["resolved"]["freeze_bn"] == "on"


def test_bad_options_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ConfigError, match="unknown training options: colour"):
        TrainConfig.from_dict({"colour": "red"})
    assert main(["train", "--model_dir", str(tmp_path / "m")]) == 2
    assert main(["train", "--resume", "--model_dir", str(tmp_path / "none")]) == 2
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_sigterm_to_the_whole_process_group_checkpoints_and_stops_cleanly(samples64, tmp_path) -> None:
    """A kill of the run and its data workers (pkill, a job scheduler) still saves where it was."""
    command = [*_train_command(tmp_path / "term", samples64), "--workers", "1", "--max-steps", "100000"]
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    checkpoint = tmp_path / "term" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    assert "interrupted (resume with --resume)" in stdout
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert step > 5
    load_bundle(tmp_path / "term" / "model.safetensors")


def test_one_data_loader_spans_the_epochs_and_a_resume_across_their_boundary_is_exact(
    samples64, tmp_path, monkeypatch
) -> None:
    """3 batches an epoch, 10 steps: one loader (one worker start) per run, each epoch planned once,
    and a run stopped twice (before an epoch's last batch, then right after it) sees the same batches
    and ends with the same weights as one never stopped. Stored images are augmented here, so their
    perturbations must repeat exactly after a resume too."""
    from crnn_ctc.training import loop
    from crnn_ctc.training.sources import EpochPlan

    loaders, planned_epochs, worker_starts = [], [], tmp_path / "worker-starts"
    worker_starts.mkdir()

    class CountedLoader(loop.DataLoader):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            loaders.append(self)

    def counted_worker_start(worker_id: int) -> None:
        (worker_starts / str(os.getpid())).touch()
        original_worker_start(worker_id)

    original_worker_start, original_draw, original_step = loop._ignore_interrupts, EpochPlan._draw, Trainer._train_step
    monkeypatch.setattr(loop, "DataLoader", CountedLoader)
    monkeypatch.setattr(loop, "_ignore_interrupts", counted_worker_start)
    monkeypatch.setattr(
        EpochPlan, "_draw", lambda plan, epoch: planned_epochs.append(epoch) or original_draw(plan, epoch)
    )
    labels: list[list[str]] = []
    stop_at = {"call": 0, "calls": 0}

    def recorded_step(self, batch):
        stop_at["calls"] += 1
        if stop_at["calls"] == stop_at["call"]:
            raise KeyboardInterrupt  # Ctrl-C before this batch's step
        labels.append(batch.labels)
        return original_step(self, batch)

    monkeypatch.setattr(Trainer, "_train_step", recorded_step)
    config = TrainConfig(model_dir=str(tmp_path / "whole"), train=[str(samples64)], arch="tiny", batch_size=8,
                         epoch_size=24, max_steps=10, workers=1, seed=5, augment="on")  # fmt: skip
    whole = train(config, progress=False)
    assert whole.steps == 10 and whole.stopped == "finished"
    assert len(loaders) == 1 and len(list(worker_starts.iterdir())) == 1
    assert sorted(set(planned_epochs)) == planned_epochs and planned_epochs[:4] == [0, 1, 2, 3]
    whole_labels, labels[:] = list(labels), []

    stopped = TrainConfig(**{**config.to_dict(), "model_dir": str(tmp_path / "stopped")})
    checkpoint = tmp_path / "stopped" / "checkpoints" / "last.pt"
    positions = []
    for call, resume in ((3, False), (2, True), (0, True)):  # stop at steps 2 and 3, then finish
        loaders.clear()
        stop_at.update(call=call, calls=0)
        result = train(stopped, resume=resume, progress=False)
        state = torch.load(checkpoint, weights_only=True)
        positions.append((state["step"], state["epoch"], state["batch_in_epoch"]))
        assert len(loaders) == 1
    assert positions == [(2, 0, 2), (3, 1, 0), (10, 3, 1)]
    assert result.stopped == "finished" and labels == whole_labels
    expected, resumed = load_file(whole.model_path), load_file(result.model_path)
    for name in expected:
        torch.testing.assert_close(resumed[name], expected[name], rtol=0, atol=1e-6, msg=name)


def test_training_over_a_folder_of_shards_rendered_by_crnn_synth(tmp_path, capsys) -> None:
    """Shards that `crnn synth` renders into one folder train as one source of their summed count,
    and rendering another shard into it grows the next run's data."""
    from crnn_ctc.synth import FontError, find_fonts
    from crnn_ctc.training.sources import parse_source, prepare_source

    try:
        faces = [face for face in find_fonts() if face.family in ("DejaVu Sans", "DejaVu Serif", "Liberation Mono")]
    except FontError as error:
        pytest.skip(f"no fonts installed ({error}); run `make fonts`")
    if not faces:
        pytest.skip("none of DejaVu Sans, DejaVu Serif, Liberation Mono is installed; run `make fonts`")
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for face in faces[:3]:
        (fonts / Path(face.path).name).symlink_to(face.path)
    words = tmp_path / "words.txt"
    words.write_text("alpha\nbeta\ngamma\ndelta\n", encoding="utf-8")
    shards = tmp_path / "shards"

    def render(shard: str, count: int, seed: int) -> None:
        command = ["synth", "--count", str(count), "--out", str(shards / shard), "--fonts", str(fonts), "--words",
                   str(words), "--workers", "1", "--seed", str(seed), "--no-progress"]  # fmt: skip
        assert main(command) == 0

    def train_over_shards(model_dir: str, *extra: str) -> str:
        capsys.readouterr()
        command = ["train", "--train", f"{shards}@2", "--model_dir", str(tmp_path / model_dir), "--arch", "tiny",
                   "--batch_size", "8", "--max-steps", "3", "--workers", "0", "--no-progress", *extra]  # fmt: skip
        assert main(command) == 0
        return capsys.readouterr().err

    charset = Charset.preset("lower-alnum")
    tiny = new_bundle("tiny", charset)

    def prepared():
        return prepare_source(parse_source(f"{shards}@2"), charset, tiny.preprocess, tiny.config)

    render("000", 12, seed=0)
    first = prepared()
    assert len(first.dataset) == 12 and first.weight == 2.0
    assert f"train source {shards}: {len(first.usable)} usable samples" in train_over_shards("first")
    render("001", 20, seed=1)
    second = prepared()
    assert len(second.dataset) == 32 and len(second.usable) + sum(second.dropped.values()) == 32
    report = train_over_shards("second", "--init-from", str(tmp_path / "first" / "model.safetensors"))
    assert f"train source {shards}: {len(second.usable)} usable samples" in report
    load_bundle(tmp_path / "second" / "model.safetensors")


def test_epoch_plan_counts_batches_without_drawing_and_draws_each_epoch_once(monkeypatch) -> None:
    from crnn_ctc.training import sources
    from crnn_ctc.training.sources import EpochPlan, PreparedSource, RunPools

    monkeypatch.setattr(sources, "POOL_BATCHES", 2)  # pools of 16 samples at batch 8
    draws = []
    original_draw = EpochPlan._draw
    monkeypatch.setattr(EpochPlan, "_draw", lambda plan, epoch: draws.append(epoch) or original_draw(plan, epoch))
    real = PreparedSource("real", None, list(range(0, 90, 2)), [16 + i for i in range(90)], 1.0)
    rendered = PreparedSource("synth:", None, [], [], 3.0, infinite=True)
    for replicas in (1, 3):
        plans = [EpochPlan([real, rendered], 8, epoch_size=170, seed=4, num_replicas=replicas, rank=rank)
                 for rank in range(replicas)]  # fmt: skip
        counts = [plan.batches_per_epoch() for plan in plans]
        assert not draws and len(set(counts)) == 1  # counted without drawing; every rank steps equally often
        plan, count = plans[-1], counts[-1]
        for epoch in range(3):
            assert sum(-(-len(pool) // 8) for pool in plan.pools(epoch)) == count
        first = plan.pools(2)
        assert plan.pools(2) is first and draws == [0, 1, 2]  # the last epoch is kept
        covered = {key for rank_plan in plans for pool in rank_plan.pools(1) for key in pool}
        assert covered == set(original_draw(plan, 1))  # the ranks share out the whole epoch
        draws.clear()
        pools = iter(RunPools(plan, epoch=1, batch=count - 1))  # a resume at epoch 1's last batch
        assert {(key.epoch, key.pool, key.last) for key in next(pools)} == {(1, len(plan.pools(1)) - 1, True)}
        assert [(key.epoch, key.pool, key.last, key.source, key.index) for key in next(pools)] == [
            (2, 0, False, source, index) for source, index in plan.pools(2)[0]
        ]  # fmt: skip
        draws.clear()
    with pytest.raises(ConfigError, match="--epoch-size 1 draws no sample"):
        EpochPlan([real, PreparedSource("other", None, [0], [16], 1.0)], 8, epoch_size=1)


def test_the_data_workers_stop_at_once_when_the_run_ends(samples64, tmp_path, monkeypatch) -> None:
    """A worker loading a pool the run will never use passes over the rest of it once the run ends,
    so training returns with no worker left behind (one loading a whole pool that nobody would read
    held the loader's shutdown, and once a process's exit, for seconds to minutes)."""
    import multiprocessing

    from crnn_ctc.data.readers import RecognitionDataset
    from crnn_ctc.training.sources import POOL_BATCHES, RunSamples

    loads = tmp_path / "loads"
    original = RecognitionDataset.__getitem__

    def slow(self, index):
        with loads.open("a") as file:  # counted across the worker process
            file.write(".")
        time.sleep(0.02)
        return original(self, index)

    monkeypatch.setattr(RecognitionDataset, "__getitem__", slow)
    config = TrainConfig(model_dir=str(tmp_path / "run"), train=[str(samples64)], arch="tiny", batch_size=8,
                         epoch_size=1024, max_steps=2, workers=1, augment="off")  # fmt: skip
    assert train(config, progress=False).steps == 2
    assert multiprocessing.active_children() == []
    pool = 8 * POOL_BATCHES
    assert pool <= len(loads.read_text()) < 2 * pool  # the second pool, being loaded, was left unfinished

    stopped = RunSamples([], stopping=multiprocessing.Event())  # no sources: reading one would fail
    stopped.stop()
    key, sample = stopped[PlannedKey(0, 0, False, 0, 5)]
    assert sample.image is None and key.index == 5


def test_a_pool_is_cut_by_real_width_and_unusable_samples_are_dealt_out() -> None:
    import random

    from crnn_ctc.data.readers import Sample
    from crnn_ctc.training.sources import POOL_BATCHES, PoolCollator, batches_by_width

    widths = [40, 8, 100, None, 16, 64, None, 24, 90, None, 32]
    batches = batches_by_width(widths, 4, random.Random(0))
    assert sorted(p for batch in batches for p in batch) == list(range(len(widths)))
    assert len(batches) == 3 and all(sum(widths[p] is not None for p in batch) >= 2 for batch in batches)
    by_width = sorted(([widths[p] for p in batch if widths[p] is not None] for batch in batches), key=min)
    assert [w for batch in by_width for w in batch] == sorted(w for w in widths if w is not None)

    def sample(width: int | None, label: str) -> Sample:
        image = None if width is None else np.zeros((1, 32, width), dtype=np.float32)
        return Sample(image, [1], label, None if width is not None else "damaged")

    items = [(PlannedKey(3, 1, True, 0, i), sample(w, str(i))) for i, w in enumerate(widths)]
    planned = PoolCollator(4, seed=7)(items)
    assert [b.batch for b in planned] == [POOL_BATCHES + n for n in range(3)]
    assert [b.last for b in planned] == [False, False, True] and {b.epoch for b in planned} == {3}
    assert sum(b.samples.skipped for b in planned) == 3
    for b in planned:  # padded only to its own widest image
        assert b.samples.images.shape[-1] == max(b.samples.widths)
    again = PoolCollator(4, seed=7)(items)
    assert [b.samples.labels for b in again] == [b.samples.labels for b in planned]  # fixed by (seed, epoch, pool)


def test_an_interrupt_while_a_checkpoint_is_written_comes_after_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Ctrl-C in the middle of ``torch.save`` is delivered once the checkpoint is complete, whichever
    thread the kernel hands it to (here a thread started before the save, as the DataLoader's are)."""
    import threading

    from crnn_ctc.training import checkpoint

    # As an interactive run has it, whatever this process inherited: a job started in the background
    # by a shell without job control inherits SIGINT ignored, and Python then leaves it ignored.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, inherited))
    writing = threading.Event()

    def interrupt_when_writing() -> None:
        writing.wait(10)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt_when_writing)
    sender.start()
    real_save = torch.save

    def slow_save(obj: object, file: object) -> None:
        writing.set()
        sender.join()
        time.sleep(0.2)  # the handler would run here, inside torch.save, were it not held
        real_save(obj, file)

    monkeypatch.setattr(torch, "save", slow_save)
    path = tmp_path / "last.pt"
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint({"step": 3, "weights": torch.zeros(4)}, path)
    assert torch.load(path)["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_best_model_is_the_most_accurate_and_of_equals_the_one_with_fewer_character_errors() -> None:
    from crnn_ctc.training.loop import improves

    assert improves(0.5, 0.2, None, None)  # the first validation
    assert improves(0.9030, 0.04, 0.8995, 0.03)  # more words read beats a lower CER
    assert not improves(0.8990, 0.01, 0.8995, 0.03)
    assert improves(0.8995, 0.0338, 0.8995, 0.0344)  # a tie goes to fewer character errors
    assert not improves(0.8995, 0.0344, 0.8995, 0.0344) and not improves(0.8995, 0.035, 0.8995, 0.0344)
    assert not improves(0.8995, 0.01, 0.8995, None)  # resumed from a checkpoint that kept no CER


def test_a_run_caps_onednn_primitive_cache_unless_the_user_set_it(samples64, tmp_path, monkeypatch) -> None:
    """Nearly every batch width is a new shape for oneDNN; its uncapped cache held a gigabyte of primitives
    used once (benchmarks/train_memory.py). oneDNN reads the capacity at its first use, so ``train`` sets
    it before the first step; a capacity the user chose stays."""

    def run(name: str) -> None:
        config = TrainConfig(model_dir=str(tmp_path / name), train=[str(samples64)], arch="tiny", batch_size=16,
                             max_steps=2, workers=0, amp="off")  # fmt: skip
        train(config, progress=False)

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    run("default")
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(ONEDNN_CACHE_CAPACITY)
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "7")
    run("chosen")
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "7"
