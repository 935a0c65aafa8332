"""TFRecord framing and tf.train.Example coding, checked against the published formats byte by byte."""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
from pathlib import Path

import google_crc32c
import numpy as np
import pytest
from PIL import Image

from crnn_ctc.data.tfrecord import (
    FeatureValue,
    TFRecordReader,
    TFRecordWriter,
    decode_example,
    encode_example,
    frame_record,
    masked_crc32c,
)
from crnn_ctc.errors import DatasetError

# --- an independent reference: bitwise CRC-32C and protobuf wire-format helpers ------------------


def crc32c_reference(data: bytes) -> int:
    """CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = b""
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            return out + bytes([low])
        out += bytes([low | 0x80])


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return tag(number, 2) + varint(len(payload)) + payload


def example(*entries: tuple[bytes, bytes]) -> bytes:
    """Example{features: Features{feature: [entries]}} from (key, Feature bytes) pairs."""
    return ld(1, b"".join(ld(1, ld(1, key) + ld(2, feature)) for key, feature in entries))


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (24, 8), 128).save(buffer, "JPEG")
    return buffer.getvalue()


# Example{features{feature{"a": bytes_list[b"xy"]}, {"b": int64_list[1, 300]}, {"c": float_list[0.5]}}}
HAND_EXAMPLE = bytes.fromhex(
    "0a2a"  # Example.features: field 1, wire type 2, 42 bytes
    "0a0b"
    "0a0161"
    "1206"
    "0a04"
    "0a027879"  # entry: key "a", value Feature.bytes_list{value: "xy"}
    "0a0c"
    "0a0162"
    "1207"
    "1a05"
    "0a0301ac02"  # entry: key "b", Feature.int64_list{packed [1, 300]}
    "0a0d"
    "0a0163"
    "1208"
    "1206"
    "0a040000003f"  # entry: key "c", Feature.float_list{packed [0.5f]}
)
HAND_DICT: dict[str, FeatureValue] = {"a": [b"xy"], "b": [1, 300], "c": [0.5]}


# --- framing ---------------------------------------------------------------------------------------


def test_crc32c_check_value() -> None:
    assert crc32c_reference(b"123456789") == 0xE3069283
    assert google_crc32c.value(b"123456789") == 0xE3069283
    assert masked_crc32c(b"") == 0xA282EAD8  # CRC of nothing is 0: only the mask's offset is left


def test_frame_record_matches_published_format() -> None:
    payload = b"crnn-ctc \x00\xff tfrecord payload"
    length = struct.pack("<Q", len(payload))
    expected = (
        length
        + struct.pack("<I", mask(crc32c_reference(length)))
        + payload
        + struct.pack("<I", mask(crc32c_reference(payload)))
    )
    assert frame_record(payload) == expected
    assert frame_record(b"") == bytes(8) + struct.pack("<II", mask(crc32c_reference(bytes(8))), 0xA282EAD8)


def test_writer_writes_framed_records_and_flushes_on_close(tmp_path: Path) -> None:
    payloads = [b"one", b"", b"three" * 30000]
    path = tmp_path / "out.tfrecord"
    with TFRecordWriter(path) as writer:
        for payload in payloads:
            writer.write(payload)
    assert writer.records == 3
    assert path.read_bytes() == b"".join(frame_record(p) for p in payloads)
    with pytest.raises(DatasetError, match="closed"):
        writer.write(b"late")
    with pytest.raises(TypeError, match="bytes"):
        frame_record("text")  # type: ignore[arg-type]


# --- tf.train.Example ------------------------------------------------------------------------------


def test_hand_assembled_example_decodes_and_encodes_to_the_same_bytes() -> None:
    assert decode_example(HAND_EXAMPLE) == HAND_DICT
    assert encode_example(HAND_DICT) == HAND_EXAMPLE
    assert encode_example({"c": [0.5], "b": [1, 300], "a": [b"xy"]}) == HAND_EXAMPLE  # sorted keys


def test_seed_schema_round_trip_through_a_file(tmp_path: Path) -> None:
    jpeg = jpeg_bytes()
    record: dict[str, FeatureValue] = {"images": [jpeg], "labels": [0, 35, 2], "imagenames": [b"a.jpg"]}
    path = tmp_path / "train.tfrecord"
    with TFRecordWriter(path) as writer:
        writer.write(encode_example(record))
        writer.write(encode_example({"images": jpeg, "labels": [7], "imagenames": "b.jpg"}))
    examples = [decode_example(data) for data in TFRecordReader(path)]
    assert examples == [record, {"images": [jpeg], "labels": [7], "imagenames": [b"b.jpg"]}]
    assert Image.open(io.BytesIO(examples[0]["images"][0])).size == (24, 8)  # type: ignore[arg-type]


def test_scalars_strings_numpy_and_empty_lists() -> None:
    data = encode_example({"s": "é", "i": 3, "f": 0.25, "b": b"x", "empty": [], "np": np.array([0, 35, 2])})  # type: ignore[dict-item]
    assert decode_example(data) == {
        "b": [b"x"],
        "empty": [],
        "f": [0.25],
        "i": [3],
        "np": [0, 35, 2],
        "s": ["é".encode()],
    }
    assert decode_example(encode_example({"mixed": [1, 2.5]})) == {"mixed": [1.0, 2.5]}
    assert decode_example(encode_example({})) == {}


def test_negative_and_extreme_int64() -> None:
    values = [-1, 0, 127, 128, -(1 << 63), (1 << 63) - 1, -300]
    data = encode_example({"n": values})
    assert decode_example(data) == {"n": values}
    assert encode_example({"n": [-1]}) == example((b"n", ld(3, ld(1, b"\xff" * 9 + b"\x01"))))  # 10-byte varint


def test_floats_are_float32() -> None:
    values = [0.5, -1.25, 3.0, math.inf, -math.inf, 0.1]
    decoded = decode_example(encode_example({"f": values}))["f"]
    assert decoded[:5] == values[:5]
    assert decoded[5] == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert math.isnan(decode_example(encode_example({"f": math.nan}))["f"][0])  # type: ignore[arg-type]


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    junk = (
        tag(9, 0)
        + varint(-5)  # varint
        + tag(10, 1)
        + bytes(8)  # 64-bit
        + ld(11, b"\xff\xff not a message")  # length-delimited
        + tag(12, 3)
        + tag(1, 0)
        + b"\x01"
        + tag(13, 3)
        + tag(13, 4)
        + tag(12, 4)  # nested groups
        + tag(14, 5)
        + bytes(4)  # 32-bit
    )
    int64_list = ld(1, varint(1) + varint(-2)) + tag(2, 1) + bytes(8)
    bytes_list = ld(1, b"xy") + junk + ld(1, b"z")
    entry_a = ld(1, b"a") + junk + ld(2, ld(1, bytes_list) + junk)
    entry_b = ld(1, b"b") + ld(2, junk + ld(3, int64_list))
    features = ld(1, entry_a) + junk + ld(1, entry_b) + ld(2, b"?")
    data = junk + ld(1, features) + junk
    assert decode_example(data) == {"a": [b"xy", b"z"], "b": [1, -2]}


def test_unpacked_repeated_scalars_are_accepted() -> None:
    unpacked = tag(1, 0) + varint(1) + tag(1, 0) + varint(300) + ld(1, varint(5) + varint(-7)) + tag(1, 0) + varint(9)
    floats = tag(1, 5) + struct.pack("<f", 0.5) + ld(1, struct.pack("<2f", 1.0, 2.0))
    data = example((b"i", ld(3, unpacked)), (b"f", ld(2, floats)))
    assert decode_example(data) == {"i": [1, 300, 5, -7, 9], "f": [0.5, 1.0, 2.0]}


def test_repeated_messages_merge_and_the_last_key_wins() -> None:
    split = ld(1, ld(1, b"p")) + ld(1, ld(1, b"q"))  # a bytes_list given in two parts
    data = example((b"k", ld(3, ld(1, b"\x01"))), (b"k", split), (b"x", b""))
    assert decode_example(data) == {"k": [b"p", b"q"], "x": []}


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a",  # length missing
        b"\x0a\x05\x00",  # a field running past the end
        b"\x0f",  # wire type 7
        b"\x0c",  # end-group with no group
        b"\x1b\x08\x01",  # group never closed
        b"\x00",  # field number 0
        b"\x08" + b"\xff" * 10 + b"\x01",  # 11-byte varint
        b"\x80\x80\x80\x80\x10\x00",  # a tag beyond 32 bits
        ld(1, tag(13, 5) + b"\x00\x00") + ld(1, b"\x00\x00"),  # a field split across two occurrences
        example((b"\xff", ld(1, ld(1, b"x")))),  # key not UTF-8
        example((b"f", ld(2, ld(1, b"\x00\x00\x00")))),  # packed floats not a multiple of 4 bytes
    ],
)
def test_malformed_examples_raise_dataset_error(data: bytes) -> None:
    with pytest.raises(DatasetError, match=r"malformed tf\.train\.Example"):
        decode_example(data)


@pytest.mark.parametrize(
    ("value", "error"),
    [(True, TypeError), ([1, b"x"], TypeError), ([object()], TypeError), (1 << 63, ValueError), (None, TypeError)],
)
def test_encode_rejects_unstorable_values(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="feature 'k'"):
        encode_example({"k": value})  # type: ignore[dict-item]


# --- reading files ---------------------------------------------------------------------------------

PAYLOADS = [b"r" * 10, b"s" * 20, b"t" * 30]  # records at bytes 0, 26 and 62; the file ends at 108
OFFSETS = [0, 26, 62]


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    path = tmp_path / "data.tfrecord"
    path.write_bytes(b"".join(frame_record(p) for p in PAYLOADS))
    return path


def damaged(path: Path, position: int) -> Path:
    content = bytearray(path.read_bytes())
    content[position] ^= 0x01
    path.write_bytes(bytes(content))
    return path


def read_until_error(reader: TFRecordReader) -> tuple[list[bytes], DatasetError]:
    got = []
    with pytest.raises(DatasetError) as caught:
        for data in reader:
            got.append(data)
    return got, caught.value


def test_iteration_index_and_random_access_agree(records: Path) -> None:
    reader = TFRecordReader(records)
    assert list(reader) == PAYLOADS
    assert reader.index() == OFFSETS
    assert len(reader) == 3
    assert [reader.read_at(offset) for offset in reversed(reader.index())] == PAYLOADS[::-1]
    with pytest.raises(DatasetError, match="no record starts at byte 5"):
        reader.read_at(5)
    clone = pickle.loads(pickle.dumps(reader))  # a DataLoader worker gets a copy
    assert clone.read_at(26) == PAYLOADS[1]


def test_random_access_without_index(records: Path) -> None:
    reader = TFRecordReader(records)
    assert reader.read_at(62) == PAYLOADS[2]
    with pytest.raises(DatasetError, match="end of the file"):
        reader.read_at(108)


def test_empty_file_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    reader = TFRecordReader(path)
    assert (list(reader), reader.index(), len(reader)) == ([], [], 0)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.tfrecord: cannot open"):
        TFRecordReader(tmp_path / "nope.tfrecord")


def test_flipped_payload_byte_is_a_data_crc_error(records: Path) -> None:
    damaged(records, 26 + 12 + 3)
    got, error = read_until_error(TFRecordReader(records))
    assert got == PAYLOADS[:1]
    assert str(error) == f"{records}: record 1 at byte 26: data CRC mismatch (file damaged?)"
    reader = TFRecordReader(records)
    reader.index()  # headers are fine
    with pytest.raises(DatasetError, match="record 1 at byte 26: data CRC mismatch"):
        reader.read_at(26)
    unchecked = list(TFRecordReader(records, verify=False))
    assert unchecked[1] == b"s" * 3 + b"r" + b"s" * 16


@pytest.mark.parametrize("position", [26, 26 + 7, 26 + 8, 26 + 11])  # the length, and its CRC
def test_flipped_length_byte_is_a_length_crc_error(records: Path, position: int) -> None:
    damaged(records, position)
    for reader in (TFRecordReader(records), TFRecordReader(records, verify=False)):
        got, error = read_until_error(reader)
        assert got == PAYLOADS[:1]
        assert f"{records}: record 1 at byte 26: length CRC mismatch" in str(error)
        with pytest.raises(DatasetError, match="record 1 at byte 26: length CRC mismatch"):
            reader.index()


def test_damaged_first_header_hints_at_the_format(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"not a record file at all")
    with pytest.raises(DatasetError, match=r"record 0 at byte 0: length CRC mismatch \(not a TFRecord file"):
        list(TFRecordReader(path))


@pytest.mark.parametrize("cut", [62 + 5, 62 + 12, 62 + 12 + 5, 62 + 12 + 30, 62 + 12 + 30 + 2])
def test_truncated_file(records: Path, cut: int) -> None:
    records.write_bytes(records.read_bytes()[:cut])
    got, error = read_until_error(TFRecordReader(records))
    assert got == PAYLOADS[:2]
    assert str(error).startswith(f"{records}: record 2 at byte 62: truncated")
    with pytest.raises(DatasetError, match="record 2 at byte 62: truncated"):
        TFRecordReader(records).index()
    with pytest.raises(DatasetError, match="record at byte 62: truncated"):
        TFRecordReader(records).read_at(62)


def test_file_ending_at_a_record_boundary_is_complete(records: Path) -> None:
    records.write_bytes(records.read_bytes()[:62])
    assert list(TFRecordReader(records)) == PAYLOADS[:2]
    assert TFRecordReader(records).index() == OFFSETS[:2]


def test_gzip_file_reads_by_iteration_only(records: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.tfrecord.gz"
    path.write_bytes(gzip.compress(records.read_bytes()))
    reader = TFRecordReader(path)
    assert reader.compressed
    assert list(reader) == PAYLOADS
    for random_access in (reader.index, lambda: len(reader), lambda: reader.read_at(0)):
        with pytest.raises(DatasetError, match="decompress it"):
            random_access()
    path.write_bytes(path.read_bytes()[:-12])
    got, error = read_until_error(TFRecordReader(path))
    assert got == PAYLOADS[:2]
    assert str(error).startswith(f"{path}: record 2 at byte 62 (uncompressed): ")
    assert "truncated" in str(error)


def test_plain_file_starting_like_gzip_is_not_taken_for_gzip(tmp_path: Path) -> None:
    payload = bytes(0x8B1F)  # its length field starts 1f 8b, the gzip magic
    path = tmp_path / "big.tfrecord"
    path.write_bytes(frame_record(payload))
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    reader = TFRecordReader(path)
    assert not reader.compressed
    assert list(reader) == [payload]
    assert reader.index() == [0]
