import pytest

from crnn_ctc.inputs import InputListError, collect_images, read_image_list


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folders_give_image_files_sorted_and_recursive_on_request(tmp_path) -> None:
    for name in ("b.png", "a.JPG", "notes.txt", "sub/c.webp"):
        _touch(tmp_path / name)
    assert [r.path.name for r in collect_images([tmp_path])] == ["a.JPG", "b.png"]
    assert [r.path.name for r in collect_images([tmp_path], recursive=True)] == ["a.JPG", "b.png", "c.webp"]
    # A file named and also inside a named folder is read once, where it first came.
    assert [r.name for r in collect_images([tmp_path / "b.png", tmp_path])] == [
        str(tmp_path / "b.png"),
        str(tmp_path / "a.JPG"),
    ]
    # A file named explicitly is taken whatever its suffix (and reported later if it is no image).
    assert [r.name for r in collect_images([tmp_path / "notes.txt"])] == [str(tmp_path / "notes.txt")]


def test_seed_image_list_relative_to_image_dir(tmp_path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("word_1.png coffee\n\n  sub/word 2.jpg\tlabel with spaces  \nword_3.png\n", encoding="utf-8")
    refs = read_image_list(listing, tmp_path / "images")
    assert [r.name for r in refs] == ["word_1.png", "sub/word 2.jpg", "word_3.png"]
    assert refs[0].path == tmp_path / "images" / "word_1.png"
    # Without --image_dir, names are relative to the list's own folder.
    assert read_image_list(listing, None)[0].path == tmp_path / "word_1.png"


def test_image_dir_alone_and_errors(tmp_path) -> None:
    _touch(tmp_path / "x.png")
    assert [r.path.name for r in collect_images(image_dir=tmp_path)] == ["x.png"]
    with pytest.raises(InputListError, match="no such image directory"):
        collect_images(image_dir=tmp_path / "missing")
    with pytest.raises(InputListError, match="cannot read image list"):
        collect_images(image_list=tmp_path / "missing.txt")
