import io

import numpy as np
import pytest
import torch

from conftest import render_word
from crnn_ctc.charset import Charset
from crnn_ctc.data.create import CreateConfig, create_dataset
from crnn_ctc.data.lmdb_store import LmdbDataset, LmdbWriter
from crnn_ctc.data.readers import (
    FolderSource,
    LmdbShards,
    RecognitionDataset,
    collate_samples,
    find_split,
    open_source,
)
from crnn_ctc.data.sampler import WidthBucketSampler
from crnn_ctc.errors import DatasetError
from crnn_ctc.preprocess import PreprocessConfig

WORDS = ["tree", "house", "a", "butterfly", "sky", "rain", "sun", "moonlight"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    lines = []
    for index, word in enumerate(WORDS):
        render_word(word).save(root / f"{index}.png")
        lines.append(f"{index}.png\t{word}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_folder_lmdb_and_tfrecord_sources_agree(folder, tmp_path) -> None:
    direct = open_source(folder)  # a folder holding labels.tsv
    assert isinstance(direct, FolderSource) and len(direct) == len(WORDS)
    expected = sorted(direct[i][1] for i in range(len(direct)))
    for store in ("lmdb", "tfrecord"):
        out = tmp_path / store
        create_dataset(CreateConfig(folder, folder / "labels.tsv", out, 0.25, store_format=store, workers=1), False)
        train, validation = open_source(find_split(out, "train")), open_source(find_split(out, "validation"))
        assert (len(train), len(validation)) == (6, 2)
        labels = sorted([train[i][1] for i in range(6)] + [validation[i][1] for i in range(2)])
        assert labels == expected, store
        assert all(w > 0 and h > 0 for w, h in train.sizes())


def test_recognition_dataset_preprocesses_and_collates(folder) -> None:
    dataset = RecognitionDataset(open_source(folder), Charset.preset("lower-alnum"), PreprocessConfig())
    samples = [dataset[i] for i in range(len(dataset))]
    assert [s.label for s in samples] == WORDS
    assert dataset.widths() == [s.image.shape[2] for s in samples]
    batch = collate_samples(samples)
    assert batch.images.shape[:3] == (len(WORDS), 1, 32)
    assert batch.widths.tolist() == dataset.widths()
    assert batch.target_lengths.tolist() == [len(w) for w in WORDS]
    assert batch.targets.tolist() == [i for w in WORDS for i in Charset.preset("lower-alnum").encode(w)]


def test_unusable_samples_are_skipped_and_counted(folder, tmp_path) -> None:
    (tmp_path / "bad.png").write_bytes(b"junk")
    (tmp_path / "good.png").write_bytes((folder / "0.png").read_bytes())
    (tmp_path / "labels.tsv").write_text("bad.png\tword\ngood.png\ttree\ncaps.png\tTREE\n", encoding="utf-8")
    (tmp_path / "caps.png").write_bytes((folder / "0.png").read_bytes())
    dataset = RecognitionDataset(open_source(tmp_path), Charset.preset("lower-alnum"), PreprocessConfig())
    batch = collate_samples([dataset[i] for i in range(3)])
    assert batch.labels == ["tree"] and batch.skipped == 2
    with pytest.raises(DatasetError, match="every sample"):
        collate_samples([dataset[0]])


def test_open_source_errors(tmp_path) -> None:
    with pytest.raises(DatasetError, match="no such dataset"):
        open_source(tmp_path / "missing")
    with pytest.raises(DatasetError, match="not a dataset folder"):
        open_source(tmp_path)
    with pytest.raises(DatasetError, match="no 'train' dataset"):
        find_split(tmp_path, "train")


def _write_shard(path, words) -> None:
    writer = LmdbWriter(path)
    for word in words:
        image = render_word(word)
        writer.add(_png(image), word, image.size)
    writer.close()


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_folder_of_lmdb_shards_is_one_source(tmp_path) -> None:
    shards = tmp_path / "shards"
    _write_shard(shards / "001", WORDS[5:])
    _write_shard(shards / "000", WORDS[:5])
    _write_shard(shards / ".002.partial-123", ["unfinished"])  # a shard still being written is not read
    (shards / "notes").mkdir()
    source = open_source(shards)
    assert isinstance(source, LmdbShards) and len(source) == len(WORDS)
    assert [source[i][1] for i in range(len(WORDS))] == WORDS == source.labels()  # in the shards' name order
    assert source.sizes() == LmdbDataset(shards / "000").sizes() + LmdbDataset(shards / "001").sizes()
    with pytest.raises(IndexError):
        source[len(WORDS)]
    assert isinstance(open_source(shards / "000"), LmdbDataset)  # one LMDB is read as before
    _write_shard(tmp_path / "data" / "train", WORDS[:2])
    _write_shard(tmp_path / "data" / "validation", WORDS[2:])
    with pytest.raises(DatasetError, match=r"splits of a dataset \(train, validation\).*data/train"):
        open_source(tmp_path / "data")


def test_torch_dataloader_with_worker_processes(folder, tmp_path) -> None:
    out = tmp_path / "lmdb"
    create_dataset(CreateConfig(folder, folder / "labels.tsv", out, 0.0, workers=1), False)
    dataset = RecognitionDataset(open_source(out / "train"), Charset.preset("lower-alnum"), PreprocessConfig())
    sampler = WidthBucketSampler(dataset.widths(), batch_size=3, seed=1)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=2, collate_fn=collate_samples)
    labels = sorted(label for batch in loader for label in batch.labels)
    assert labels == sorted(WORDS)


def test_bucketing_groups_similar_widths_and_covers_every_sample_once() -> None:
    rng = np.random.default_rng(0)
    widths = rng.integers(16, 800, size=1000).tolist()
    sampler = WidthBucketSampler(widths, batch_size=32, seed=3, pool_batches=10)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padding = sum(max(widths[i] for i in b) * len(b) - sum(widths[i] for i in b) for b in batches)
    random_batches = [list(range(s, min(s + 32, 1000))) for s in range(0, 1000, 32)]
    random_padding = sum(max(widths[i] for i in b) * len(b) - sum(widths[i] for i in b) for b in random_batches)
    assert padding < random_padding / 5
    sampler.set_epoch(1)
    assert list(sampler) != batches  # a new order each epoch
    sampler.set_epoch(0)
    assert list(sampler) == batches  # deterministic per epoch


def test_bucketing_shards_evenly_across_ranks() -> None:
    widths = list(range(100))
    shards = [list(WidthBucketSampler(widths, 8, num_replicas=3, rank=r, seed=1)) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    covered = {i for s in shards for b in s for i in b}
    assert covered == set(range(100))
    with pytest.raises(ValueError, match="rank"):
        WidthBucketSampler(widths, 8, num_replicas=2, rank=2)
