"""The cover thumbnail: baseline RGB JPEG, at most 1000 px, no metadata, from any input."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageFile
from PIL.JpegImagePlugin import JpegImageFile
from PIL.PngImagePlugin import PngImageFile

from archiver.errors import CoverError
from archiver.samplemedia import cover_image
from archiver.tagging import make_cover
from archiver.tagging.cover import MAX_PIXELS, make_covers

SOF_BASELINE = (0xC0, 0xC1)
APP1_EXIF_XMP, APP2_ICC, COMMENT = 0xE1, 0xE2, 0xFE


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the scan data."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments, offset = [], 2
    while True:
        assert data[offset] == 0xFF
        marker = data[offset + 1]
        (length,) = struct.unpack_from(">H", data, offset + 2)
        segments.append((marker, data[offset + 4 : offset + 2 + length]))
        if marker == 0xDA:  # start of scan
            return segments
        offset += 2 + length


def assert_embeddable(data: bytes) -> Image.Image:
    """The checks TAGGING.md asks of every embedded cover; returns the decoded thumbnail."""
    segments = jpeg_segments(data)
    markers = [marker for marker, _ in segments]
    first_sof = next(m for m in markers if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC))
    assert first_sof in SOF_BASELINE, f"SOF marker FF{first_sof:02X} is not baseline"
    sof = dict(segments)[first_sof]
    assert sof[5] == 3, "not a 3-component (RGB) JPEG"
    assert not {APP1_EXIF_XMP, APP2_ICC, COMMENT} & set(markers)
    thumbnail = Image.open(io.BytesIO(data))
    assert (thumbnail.format, thumbnail.mode) == ("JPEG", "RGB")
    assert max(thumbnail.size) <= 1000
    assert "progressive" not in thumbnail.info and "exif" not in thumbnail.info
    return thumbnail


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` but holds no pixel data: what a bomb looks like
    before decoding."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    no_pixels = zlib.compress(b"")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", no_pixels)
        + chunk(b"IEND", b"")
    )


def test_big_progressive_jpeg_becomes_a_baseline_thumbnail() -> None:
    source = cover_image("big", (2000, 1500), progressive=True)
    assert any(m == 0xC2 for m, _ in jpeg_segments(source))  # the input is progressive
    assert assert_embeddable(make_cover(source)).size == (1000, 750)


def test_typical_cover_is_small_enough() -> None:
    assert 5_000 < len(make_cover(cover_image("typical", (1024, 1024)))) < 200_000


@pytest.mark.parametrize(
    "fmt, mode",
    [
        ("JPEG", "RGB"),
        ("JPEG", "CMYK"),
        ("JPEG", "L"),
        ("PNG", "RGB"),
        ("PNG", "RGBA"),
        ("PNG", "P"),
        ("PNG", "LA"),
        ("PNG", "L"),
        ("PNG", "1"),
        ("PNG", "I;16"),
        ("WEBP", "RGB"),
        ("WEBP", "RGBA"),
        ("GIF", "P"),
        ("BMP", "RGB"),
    ],
)
def test_any_input_mode_and_format(fmt: str, mode: str) -> None:
    source = cover_image(f"{fmt}-{mode}", (600, 400), fmt, mode=mode)
    opened = Image.open(io.BytesIO(source))
    assert opened.format == fmt
    thumbnail = assert_embeddable(make_cover(source))
    assert thumbnail.size == (600, 400)  # never upscaled
    assert thumbnail.getpixel((5, 5)) > (230, 230, 230)  # the white marker survives every mode
    assert thumbnail.getpixel((300, 200)) != (255, 255, 255)  # and the picture is not blank


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white() -> None:
    grey = Image.new("I;16", (64, 64), 0x8000)
    out = io.BytesIO()
    grey.save(out, "PNG")
    pixel = assert_embeddable(make_cover(out.getvalue())).getpixel((32, 32))
    assert all(120 <= channel <= 136 for channel in pixel)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_flattened_onto_white(mode: str) -> None:
    clear = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    source = clear.convert(mode) if mode != "P" else clear.convert("P")
    out = io.BytesIO()
    if mode == "P":
        source.putpalette([0, 0, 0] * 256)
        source.save(out, "PNG", transparency=0)
    else:
        source.save(out, "PNG")
    pixel = assert_embeddable(make_cover(out.getvalue())).getpixel((25, 25))
    assert pixel > (250, 250, 250), f"transparent black became {pixel}, not white"


def test_half_transparent_pixels_are_blended() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (40, 40), (0, 0, 0, 128)).save(out, "PNG")
    pixel = assert_embeddable(make_cover(out.getvalue())).getpixel((20, 20))
    assert all(120 <= channel <= 135 for channel in pixel)


def test_exif_orientation_6_rotates_the_picture() -> None:
    source = cover_image("turned", (400, 200), exif_orientation=6)
    thumbnail = assert_embeddable(make_cover(source))
    assert thumbnail.size == (200, 400)
    # the white marker is top-left as stored; orientation 6 shows it turned 90° clockwise
    assert thumbnail.getpixel((200 - 5, 5)) > (230, 230, 230)
    assert thumbnail.getpixel((5, 5)) < (230, 230, 230)


def test_exif_icc_and_comment_are_dropped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 1
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 40, 40)).save(
        out, "JPEG", exif=exif.tobytes(), icc_profile=srgb, comment=b"made with care"
    )
    markers = {m for m, _ in jpeg_segments(out.getvalue())}
    assert {APP1_EXIF_XMP, APP2_ICC, COMMENT} <= markers
    assert_embeddable(make_cover(out.getvalue()))


def test_big_jpeg_is_decoded_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    drafts: list[tuple[str | None, tuple[int, int] | None]] = []
    real_draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> object:
        drafts.append((mode, size))
        result = real_draft(self, mode, size)
        drafts.append(("decoded at", self.size))
        return result

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    thumbnail = assert_embeddable(make_cover(cover_image("huge", (4000, 3000))))
    # (Image.thumbnail() asks again once the pixels are in: a no-op that decodes nothing)
    assert drafts[:2] == [("RGB", (1000, 1000)), ("decoded at", (2000, 1500))]
    assert all(size == (2000, 1500) for mode, size in drafts[3::2])
    assert thumbnail.size == (1000, 750)


def test_make_covers_makes_every_size_from_one_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real_load = JpegImageFile.load

    def spy(self: JpegImageFile) -> object:
        if self.tile:
            loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(JpegImageFile, "load", spy)
    source = cover_image("two sizes", (1500, 1500))
    embedded, thumbnail = (assert_embeddable(data) for data in make_covers(source, (1000, 300)))
    assert loads == [(750, 750)]  # decoded once, at half scale
    assert (embedded.size, thumbnail.size) == ((750, 750), (300, 300))
    assert make_covers(source, (1000,))[0] == make_cover(source)
    with pytest.raises(ValueError, match="largest first"):
        make_covers(source, (300, 1000))


def test_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: PngImageFile) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(PngImageFile, "load", no_decoding)
    side = int(MAX_PIXELS**0.5) + 100  # over our limit, under Pillow's own warning
    assert side * side < Image.MAX_IMAGE_PIXELS
    with pytest.raises(CoverError, match="pixels"):
        make_cover(png_header(side, side))


def test_giant_bomb_pillow_refuses_is_a_cover_error() -> None:
    with pytest.raises(CoverError, match="too many pixels"):
        make_cover(png_header(30_000, 30_000))


def test_pillow_global_settings_are_left_alone() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    with pytest.raises(CoverError):
        make_cover(png_header(9_000, 9_000))
    with pytest.raises(CoverError):
        make_cover(cover_image("cut")[:3000])
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before == (89478485, False)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_picture_is_a_cover_error(fmt: str) -> None:
    whole = cover_image("cut", (640, 640), fmt)
    with pytest.raises(CoverError, match="truncated or corrupt"):
        make_cover(whole[: len(whole) // 2])


@pytest.mark.parametrize(
    "data",
    [b"", b"<!DOCTYPE html><html>403 Forbidden</html>", bytes(range(256)) * 4],
    ids=["empty", "html", "noise"],
)
def test_not_a_picture_is_a_cover_error(data: bytes) -> None:
    with pytest.raises(CoverError, match="not a picture"):
        make_cover(data)


@pytest.mark.parametrize("fmt", ["TIFF", "EPS", "PPM"])
def test_formats_a_cover_never_comes_in_are_refused(fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(out, fmt)
    with pytest.raises(CoverError, match="not a picture"):
        make_cover(out.getvalue())


_SOURCES = [cover_image("fuzz", (96, 64), fmt) for fmt in ("JPEG", "PNG", "WEBP", "GIF")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(_SOURCES),
    cut=st.integers(min_value=0, max_value=4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=4),
)
def test_damaged_pictures_give_a_thumbnail_or_a_cover_error(
    source: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    damaged = bytearray(source[: len(source) - cut % len(source)])
    for position, value in flips:
        if damaged:
            damaged[position % len(damaged)] = value
    try:
        thumbnail = make_cover(bytes(damaged))
    except CoverError:
        return
    assert_embeddable(thumbnail)


@pytest.mark.parametrize(("size", "fmt", "side"), [((1500, 1500), "JPEG", 750),
                                                   ((1024, 1024), "JPEG", 1000),
                                                   ((3000, 2000), "JPEG", 750),
                                                   ((1500, 1500), "PNG", 1000)])
def test_big_jpegs_are_decoded_at_a_fraction_of_their_size(
    size: tuple[int, int], fmt: str, side: int
) -> None:
    from io import BytesIO

    from PIL import Image

    from archiver.samplemedia import cover_image
    from archiver.tagging.cover import make_cover

    with Image.open(BytesIO(make_cover(cover_image("x", size, fmt)))) as made:
        assert max(made.size) == side
