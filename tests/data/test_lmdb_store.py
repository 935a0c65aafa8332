"""Our LMDBs against the field's public layout, written and read with plain lmdb calls."""

import io

import lmdb
import pytest
from PIL import Image

from crnn_ctc.data.lmdb_store import LmdbDataset, LmdbWriter
from crnn_ctc.errors import DatasetError


def _png(width: int, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 200).save(buffer, format="PNG")
    return buffer.getvalue()


def test_outside_tool_lmdb_reads_with_ours(tmp_path) -> None:
    # As the field's create_lmdb_dataset scripts write it: keys from 1, no sizes.
    env = lmdb.open(str(tmp_path / "public"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for index, (width, label) in enumerate([(50, "one"), (80, "Two words")], start=1):
            txn.put(b"image-%09d" % index, _png(width))
            txn.put(b"label-%09d" % index, label.encode())
        txn.put(b"num-samples", b"2")
    env.close()
    dataset = LmdbDataset(tmp_path / "public")
    assert len(dataset) == 2
    assert dataset.label(1) == "Two words"
    assert dataset.sizes() == [(50, 32), (80, 32)]  # from the image headers
    with pytest.raises(IndexError):
        dataset.image(2)


def test_ours_reads_with_plain_lmdb(tmp_path) -> None:
    writer = LmdbWriter(tmp_path / "ours", commit_every=1)
    for width in (30, 60, 90):
        writer.add(_png(width), f"w{width}", (width, 32))
    assert writer.close({"charset": ["a"]}) == 3
    env = lmdb.open(str(tmp_path / "ours"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"num-samples") == b"3"
        assert txn.get(b"label-000000001") == b"w30"
        assert Image.open(io.BytesIO(txn.get(b"image-000000003"))).size == (90, 32)
        assert txn.get(b"image-000000000") is None  # counted from 1
    env.close()
    ours = LmdbDataset(tmp_path / "ours")
    assert ours.sizes() == [(30, 32), (60, 32), (90, 32)]
    assert ours.meta == {"charset": ["a"]}


def test_incomplete_lmdb_is_refused(tmp_path) -> None:
    writer = LmdbWriter(tmp_path / "cut", commit_every=1)
    writer.add(_png(20), "x")
    writer.add(_png(20), "y")
    writer.abort()  # as if killed: samples written, num-samples never
    with pytest.raises(DatasetError, match="incomplete"):
        LmdbDataset(tmp_path / "cut")
    with pytest.raises(DatasetError, match="no such"):
        LmdbDataset(tmp_path / "nothing")


def test_dataset_survives_pickling_for_worker_processes(tmp_path) -> None:
    import pickle

    writer = LmdbWriter(tmp_path / "p")
    writer.add(_png(20), "x")
    writer.close()
    dataset = LmdbDataset(tmp_path / "p")
    assert dataset.label(0) == "x"
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone[0] == dataset[0]


def test_a_dataset_replaced_at_the_same_path_is_read_afresh_and_the_old_environment_closed(tmp_path) -> None:
    import shutil

    from crnn_ctc.data import lmdb_store

    def write(count: int) -> None:
        writer = LmdbWriter(tmp_path / "train")
        for index in range(count):
            writer.add(b"image", f"word{index}")
        writer.close()

    write(3)
    assert len(LmdbDataset(tmp_path / "train")) == 3
    status = (tmp_path / "train" / "data.mdb").stat()
    old_key = (status.st_dev, status.st_ino)
    assert old_key in lmdb_store._READ_ENVIRONMENTS
    shutil.rmtree(tmp_path / "train")  # as a rerun of an interrupted conversion sweeps its partial output
    write(5)
    assert len(LmdbDataset(tmp_path / "train")) == 5
    assert old_key not in lmdb_store._READ_ENVIRONMENTS  # the deleted file's environment was closed


def test_a_terminated_data_worker_counts_as_an_interruption() -> None:
    from crnn_ctc.training.loop import _worker_was_terminated

    assert _worker_was_terminated(RuntimeError("DataLoader worker (pid 18773) is killed by signal: Terminated. "))
    assert not _worker_was_terminated(RuntimeError("DataLoader worker (pid 1) is killed by signal: Killed. "))
    assert not _worker_was_terminated(RuntimeError("CUDA out of memory"))
