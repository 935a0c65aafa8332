import json

import pytest

from crnn_ctc.charset import BLANK, PRESETS, Charset
from crnn_ctc.errors import CharsetError


@pytest.mark.parametrize(
    ("name", "size"), [("lower-alnum", 36), ("alnum", 62), ("printable", 94), ("printable+space", 95)]
)
def test_presets_have_documented_sizes(name: str, size: int) -> None:
    charset = Charset.preset(name)
    assert len(charset) == size
    assert charset.num_classes == size + 1


def test_encode_decode_round_trip_keeps_blank_at_zero() -> None:
    charset = Charset.preset("lower-alnum")
    indices = charset.encode("coffee42")
    assert BLANK not in indices
    assert indices[0] == charset.symbols.index("c") + 1
    assert charset.decode(indices) == "coffee42"
    assert charset.decode([BLANK, *indices, BLANK]) == "coffee42"


def test_unknown_symbol_names_symbol_and_label() -> None:
    charset = Charset.preset("lower-alnum")
    with pytest.raises(CharsetError, match=r"'Hello'.*'H'"):
        charset.encode("Hello")
    assert charset.unknown_symbols("Hé!lo!") == ["H", "é", "!"]


def test_composed_and_decomposed_accents_are_one_symbol() -> None:
    charset = Charset.from_string("cafe\u00e9")
    assert charset.encode("cafe\u0301") == charset.encode("caf\u00e9")


def test_malformed_charsets_are_refused() -> None:
    with pytest.raises(CharsetError, match="twice"):
        Charset.from_string("abca")
    with pytest.raises(CharsetError, match="at least one"):
        Charset([])
    with pytest.raises(CharsetError, match="exactly one character"):
        Charset(["a", "ch"])
    with pytest.raises(CharsetError, match="unknown charset preset"):
        Charset.preset("klingon")


def test_text_file_one_symbol_per_line_with_space(tmp_path) -> None:
    path = tmp_path / "chars.txt"
    path.write_text("a\nb\n \n\n7\n", encoding="utf-8")
    charset = Charset.from_text_file(path)
    assert charset.symbols == ("a", "b", " ", "7")
    bad = tmp_path / "bad.txt"
    bad.write_text("a\nbc\n", encoding="utf-8")
    with pytest.raises(CharsetError, match=r"bad.txt:2"):
        Charset.from_text_file(bad)


def test_seed_char_map_round_trip(tmp_path) -> None:
    seed_map = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789")}
    path = tmp_path / "char_map.json"
    path.write_text(json.dumps(seed_map), encoding="utf-8")
    charset = Charset.resolve(path)
    assert charset == Charset.preset("lower-alnum")
    written = tmp_path / "out.json"
    charset.write_char_map(written)
    assert json.loads(written.read_text(encoding="utf-8")) == seed_map


def test_char_map_with_gaps_is_refused(tmp_path) -> None:
    path = tmp_path / "char_map.json"
    path.write_text(json.dumps({"a": 0, "b": 2}), encoding="utf-8")
    with pytest.raises(CharsetError, match=r"0\.\.1"):
        Charset.from_char_map(path)


def test_resolve_accepts_preset_text_file_and_refuses_nonsense(tmp_path) -> None:
    assert Charset.resolve("alnum") == Charset.from_string(PRESETS["alnum"])
    path = tmp_path / "c.txt"
    path.write_text("x\ny\n", encoding="utf-8")
    assert Charset.resolve(str(path)).symbols == ("x", "y")
    with pytest.raises(CharsetError, match="neither a preset"):
        Charset.resolve("no-such-thing")
