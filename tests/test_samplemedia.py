"""The hand-built sample media must be real media: every independent reader accepts it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, Atoms
from PIL import Image
from tinytag import TinyTag

from archiver.samplemedia import cover_image, silent_m4a, silent_mp3

from .clipfactory import decode_errors, ffprobe


@pytest.mark.parametrize("seconds, frames", [(3.0, 125), (1.0, 42), (0.01, 1)])
def test_silent_mp3_is_whole_frames(seconds: float, frames: int) -> None:
    data = silent_mp3(seconds)
    assert len(data) == frames * 96
    assert data[:4] == b"\xff\xfb\x14\xc4" and not data.startswith(b"ID3")
    assert b"TAG" not in data[-128:]


def test_silent_mp3_is_read_and_decoded_by_everyone(tmp_path: Path) -> None:
    path = tmp_path / "silence.mp3"
    path.write_bytes(silent_mp3(3.0))
    assert MP3(path).info.length == pytest.approx(3.0)
    assert MP3(path).tags is None
    found = TinyTag.get(path)
    assert (found.duration, found.samplerate, found.channels) == (pytest.approx(3.0), 48000, 1)
    probed = ffprobe(path)
    [stream] = probed["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("mp3", "48000", 1)
    assert float(probed["format"]["duration"]) == pytest.approx(3.0)
    assert decode_errors(path) == ""


@pytest.mark.parametrize("udta", [False, True], ids=["without-udta", "with-udta"])
def test_silent_m4a_is_read_and_decoded_by_everyone(tmp_path: Path, udta: bool) -> None:
    path = tmp_path / "silence.m4a"
    path.write_bytes(silent_m4a(3.0, udta=udta))
    assert MP4(path).info.length == pytest.approx(3.0, abs=0.05)
    assert MP4(path).info.codec == "mp4a.40.2"  # AAC-LC
    found = TinyTag.get(path)
    assert (found.samplerate, found.channels) == (48000, 1)
    probed = ffprobe(path)
    [stream] = probed["streams"]
    assert (stream["codec_name"], stream["profile"]) == ("aac", "LC")
    assert (stream["sample_rate"], stream["channels"]) == ("48000", 1)
    assert float(probed["format"]["duration"]) == pytest.approx(3.0, abs=0.05)
    assert decode_errors(path) == ""


def test_silent_m4a_layout(tmp_path: Path) -> None:
    plain, tagged = tmp_path / "plain.m4a", tmp_path / "udta.m4a"
    plain.write_bytes(silent_m4a(2.0))
    tagged.write_bytes(silent_m4a(2.0, udta=True))
    with plain.open("rb") as stream:
        atoms = Atoms(stream)
        assert [a.name for a in atoms.atoms] == [b"ftyp", b"moov", b"mdat"]  # moov first
        assert [a.name for a in atoms[b"moov"].children] == [b"mvhd", b"trak"]
    with tagged.open("rb") as stream:
        assert [a.name for a in Atoms(stream)[b"moov"].children] == [b"mvhd", b"trak", b"udta"]
    assert MP4(tagged).tags["\xa9too"] == ["samplemedia"]
    assert ffprobe(tagged)["format"]["tags"]["encoder"] == "samplemedia"


def test_cover_image_is_deterministic() -> None:
    assert cover_image("a") == cover_image("a")
    assert cover_image("a") != cover_image("b")
    first, second = (Image.open(io.BytesIO(cover_image(s))).getpixel((320, 320)) for s in "ab")
    assert first != second  # the seed picks the colours


@pytest.mark.parametrize(
    "fmt, mode",
    [("JPEG", "RGB"), ("JPEG", "CMYK"), ("PNG", "RGBA"), ("PNG", "P"), ("WEBP", "RGBA")],
)
def test_cover_image_formats_and_modes(fmt: str, mode: str) -> None:
    picture = Image.open(io.BytesIO(cover_image("x", (320, 200), fmt, mode=mode)))
    assert (picture.format, picture.size) == (fmt, (320, 200))
    assert picture.mode == mode or (fmt, picture.mode) == ("PNG", "P")


def test_cover_image_progressive_and_orientation() -> None:
    progressive = Image.open(io.BytesIO(cover_image("x", progressive=True)))
    assert progressive.info.get("progressive") == 1
    turned = Image.open(io.BytesIO(cover_image("x", (400, 200), exif_orientation=6)))
    assert turned.getexif()[0x0112] == 6
    assert "progressive" not in Image.open(io.BytesIO(cover_image("x"))).info


def test_cover_image_mode_the_format_cannot_store_raises() -> None:
    with pytest.raises(OSError):
        cover_image("x", fmt="JPEG", mode="RGBA")
