"""Page files in, 8-bit pages out: PNG, JPEG (EXIF orientation), 1-bit and multi-page TIFF, PDF; the page
limits checked before decoding; unreadable files named with their page."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from crnn_ctc.errors import CrnnError, ImageError, PageError
from crnn_ctc.page.load import PageImage, iter_page_images, iter_pages


def _drawing(size: tuple[int, int] = (120, 60), mode: str = "L") -> Image.Image:
    image = Image.new(mode, size, "white")
    ImageDraw.Draw(image).rectangle((10, 10, size[0] // 2, size[1] // 2), fill="black")
    return image


def _pdf_bytes(objects: list[str], trailer: str = "") -> bytes:
    """A minimal PDF of ``objects`` (numbered from 1, the first the catalog) with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R {trailer}>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but which holds a few bytes of pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))


def _pages(path: Path, **kwargs: object) -> list[PageImage]:
    return list(iter_page_images(path, **kwargs))  # type: ignore[arg-type]


def test_png_and_jpeg_pages_become_gray_or_rgb(tmp_path: Path) -> None:
    _drawing(mode="RGB").save(tmp_path / "color.png")
    _drawing(mode="LA").save(tmp_path / "alpha.png")
    Image.fromarray(np.full((30, 40), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")
    _drawing(mode="RGB").save(tmp_path / "photo.jpg", quality=90)
    modes = {
        name: _pages(tmp_path / name)[0].image.mode for name in ("color.png", "alpha.png", "deep.png", "photo.jpg")
    }
    assert modes == {"color.png": "RGB", "alpha.png": "RGB", "deep.png": "L", "photo.jpg": "RGB"}
    (page,) = _pages(tmp_path / "color.png")
    assert (page.source, page.page_number, page.image.size) == (str(tmp_path / "color.png"), 1, (120, 60))
    assert np.asarray(_pages(tmp_path / "deep.png")[0].image).max() == 255


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to view
    _drawing((120, 60), "RGB").save(tmp_path / "phone.jpg", exif=exif.tobytes())
    (page,) = _pages(tmp_path / "phone.jpg")
    assert page.image.size == (60, 120)


def test_one_bit_and_multi_page_tiff(tmp_path: Path) -> None:
    _drawing().convert("1").save(tmp_path / "fax.tif", compression="group4")
    (page,) = _pages(tmp_path / "fax.tif")
    assert page.image.mode == "L"
    assert set(np.unique(np.asarray(page.image))) == {0, 255}

    first, second, third = _drawing((100, 50)), _drawing((50, 100), "RGB"), _drawing((80, 40)).convert("1")
    first.save(tmp_path / "book.tiff", save_all=True, append_images=[second, third])
    pages = _pages(tmp_path / "book.tiff")
    assert [(p.page_number, p.image.size, p.image.mode) for p in pages] == [
        (1, (100, 50), "L"), (2, (50, 100), "RGB"), (3, (80, 40), "L"),
    ]  # fmt: skip
    assert np.array_equal(np.asarray(pages[1].image), np.asarray(second))
    assert {p.page_count for p in iter_pages(tmp_path / "book.tiff")} == {3}


def test_pdf_pages_render_at_the_asked_resolution(tmp_path: Path) -> None:
    # Pillow writes each image as a page of its size at `resolution` dpi: 144 x 72 px at 72 dpi = 2 x 1 inch.
    _drawing((144, 72), "RGB").save(tmp_path / "doc.pdf", save_all=True, resolution=72.0,
                                    append_images=[_drawing((72, 144), "RGB")])  # fmt: skip
    pages = _pages(tmp_path / "doc.pdf", dpi=150)
    assert [(p.page_number, p.image.size, p.image.mode) for p in pages] == [
        (1, (300, 150), "RGB"),
        (2, (150, 300), "RGB"),
    ]
    assert _pages(tmp_path / "doc.pdf", dpi=72)[0].image.size == (144, 72)
    ink = np.asarray(pages[0].image.convert("L"))
    assert ink.min() < 50 and ink.max() > 200  # the drawing, not a blank page
    # The type of a file is its content, not its name.
    (tmp_path / "doc.pdf").rename(tmp_path / "renamed.png")
    assert len(_pages(tmp_path / "renamed.png")) == 2


def test_a_page_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    # 12000 x 12000 claimed, no data: decoding would fail as truncated, the size check says why first.
    (tmp_path / "huge.png").write_bytes(_png_header_only(12_000, 12_000))
    with pytest.raises(PageError) as caught:
        _pages(tmp_path / "huge.png")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'huge.png'} page 1: page is 12000x12000 = 144,000,000 pixels")
    assert "over the limit of 80,000,000" in message and "--max-page-pixels" in message
    assert caught.value.page_number == 1 and isinstance(caught.value, ImageError)


def test_a_pdf_page_over_the_limit_is_refused_before_rendering(tmp_path: Path, monkeypatch) -> None:
    import pypdfium2

    _drawing((144, 72), "RGB").save(tmp_path / "doc.pdf", resolution=72.0)

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered a page over the limit")

    monkeypatch.setattr(pypdfium2.PdfPage, "render", no_render)
    with pytest.raises(PageError, match=r"doc.pdf page 1: page is 600x300 = 180,000 pixels, over the limit of "
                       r"100,000; raise it with --max-page-pixels or lower --dpi \(now 300\)"):  # fmt: skip
        _pages(tmp_path / "doc.pdf", max_pixels=100_000)


def test_one_bad_page_leaves_the_others_readable(tmp_path: Path) -> None:
    _drawing((100, 50)).save(tmp_path / "mixed.tif", save_all=True, append_images=[_drawing((400, 400)), _drawing()])
    results = []
    for pending in iter_pages(tmp_path / "mixed.tif", max_pixels=20_000):
        try:
            results.append(pending.load().size)
        except PageError as error:
            results.append(str(error))
    assert results[0] == (100, 50) and results[2] == (120, 60)
    assert results[1].startswith(f"{tmp_path / 'mixed.tif'} page 2: page is 400x400 = 160,000 pixels")


def test_page_count_limit(tmp_path: Path) -> None:
    _drawing().save(tmp_path / "three.tif", save_all=True, append_images=[_drawing(), _drawing()])
    _drawing(mode="RGB").save(tmp_path / "two.pdf", save_all=True, append_images=[_drawing(mode="RGB")])
    assert len(_pages(tmp_path / "three.tif", max_pages=3)) == 3
    with pytest.raises(PageError, match=r"three.tif: has 3 pages, over the limit of 2; raise it with --max-pages"):
        next(iter_pages(tmp_path / "three.tif", max_pages=2))
    with pytest.raises(PageError, match=r"two.pdf: has 2 pages, over the limit of 1; raise it with --max-pages"):
        next(iter_pages(tmp_path / "two.pdf", max_pages=1))


def test_an_encrypted_pdf_is_named_as_such(tmp_path: Path) -> None:
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
        f"<< /Filter /Standard /V 1 /R 2 /O <{'ab' * 32}> /U <{'cd' * 32}> /P -44 >>",  # a user password is set
    ]
    file_id = "01" * 16
    (tmp_path / "plain.pdf").write_bytes(_pdf_bytes(objects[:3]))
    (tmp_path / "locked.pdf").write_bytes(_pdf_bytes(objects, f"/Encrypt 4 0 R /ID [<{file_id}> <{file_id}>] "))
    assert [p.image.size for p in _pages(tmp_path / "plain.pdf")] == [(417, 417)]
    with pytest.raises(PageError, match=r"locked.pdf: the PDF is encrypted with a password"):
        _pages(tmp_path / "locked.pdf")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.png", None, "no such file"),
        ("empty.png", b"", "empty file (0 bytes)"),
        ("notes.txt", b"just some words\n", "not a page image or PDF that can be read"),
        ("broken.pdf", b"%PDF-1.7\nnot really a pdf", "not a PDF that can be read"),
        ("folder", "dir", "is a folder"),
    ],
)
def test_unreadable_files_raise_page_errors_naming_them(tmp_path: Path, name, content, reason) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(PageError) as caught:
        _pages(path)
    assert str(caught.value).startswith(f"{path}: {reason}")
    assert isinstance(caught.value, CrnnError) and caught.value.page_number is None


def test_truncated_image_data_names_the_page(tmp_path: Path) -> None:
    _drawing((300, 300), "RGB").save(tmp_path / "cut.png")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(PageError, match=r"cut.png page 1: "):
        _pages(tmp_path / "cut.png")


def test_bad_arguments_are_value_errors(tmp_path: Path) -> None:
    _drawing().save(tmp_path / "a.png")
    for kwargs in ({"dpi": 0}, {"max_pages": 0}, {"max_pixels": 0}):
        with pytest.raises(ValueError):
            _pages(tmp_path / "a.png", **kwargs)
