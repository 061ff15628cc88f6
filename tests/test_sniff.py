"""sniff(): what a file is by its first bytes, on real files and on what servers send instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.models import AssetKind
from archiver.samplemedia import cover_image, silent_m4a, silent_mp3
from archiver.sniff import ACCEPTED, SNIFF_BYTES, MediaType, describe, sniff

DEMO_MP4 = (Path(__file__).parents[1] / "sample_tasks" / "media" / "demo.mp4").read_bytes()
ID3V23_HEADER = b"ID3\x03\x00\x00\x00\x00\x02\x01"  # v2.3, no flags, 257-byte tag


@pytest.mark.parametrize(("head", "media"), [
    pytest.param(ID3V23_HEADER + bytes(257) + silent_mp3(1), MediaType.MP3, id="mp3-id3v2.3"),
    pytest.param(b"ID3\x04\x00\x00" + bytes(60), MediaType.MP3, id="mp3-id3v2.4"),
    pytest.param(b"ID3\x02\x00\x00" + bytes(60), MediaType.MP3, id="mp3-id3v2.2"),
    pytest.param(silent_mp3(1), MediaType.MP3, id="mpeg1-layer3-sync"),
    pytest.param(b"\xff\xf3\x14\xc4" + bytes(60), MediaType.MP3, id="mpeg2-layer3-sync"),
    pytest.param(b"\xff\xe3\x14\xc4" + bytes(60), MediaType.MP3, id="mpeg2.5-layer3-sync"),
    pytest.param(b"\xff\xfb\x04\xc4" + bytes(60), MediaType.MP3, id="free-bitrate"),
    pytest.param(DEMO_MP4, MediaType.MP4, id="mp4-ftyp-isom"),
    pytest.param(silent_m4a(1), MediaType.MP4, id="m4a-ftyp"),
    pytest.param(cover_image("sniff", (32, 32)), MediaType.JPEG, id="jpeg"),
    pytest.param(cover_image("sniff", (32, 32), progressive=True), MediaType.JPEG,
                 id="jpeg-progressive"),
    pytest.param(cover_image("sniff", (32, 32), "PNG"), MediaType.PNG, id="png"),
    pytest.param(cover_image("sniff", (32, 32), "WEBP"), MediaType.WEBP, id="webp"),
])
def test_real_media_is_recognised(head: bytes, media: MediaType) -> None:
    assert sniff(head[:SNIFF_BYTES]) is media


@pytest.mark.parametrize("head", [
    pytest.param(b"\xff\xff\xff\xff" + bytes(60), id="ff-filler"),
    pytest.param(b"\xff" * 64, id="all-ff"),
    pytest.param(b"\xff\xfb\xf4\xc4" + bytes(60), id="bad-bitrate-1111"),
    pytest.param(b"\xff\xfb\x1c\xc4" + bytes(60), id="reserved-sample-rate"),
    pytest.param(b"\xff\xeb\x14\xc4" + bytes(60), id="reserved-version-01"),
    pytest.param(b"\xff\xf9\x14\xc4" + bytes(60), id="reserved-layer-00"),
    pytest.param(b"\xff\xfd\x14\xc4" + bytes(60), id="layer-2-is-not-mp3"),
    pytest.param(b"\xff\xfb\x14", id="sync-cut-short"),
    pytest.param(b"ID3\xff\xff" + bytes(59), id="id3-impossible-version"),
    pytest.param(b"ID3", id="id3-cut-short"),
    pytest.param(b"\x00" * 64, id="zeros"),
    pytest.param(b"Not Found", id="plain-text"),
    pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(44), id="wav-is-not-webp"),
])
def test_invalid_or_foreign_bytes_are_unknown(head: bytes) -> None:
    assert sniff(head) is MediaType.UNKNOWN


@pytest.mark.parametrize("head", [
    pytest.param(b"<!DOCTYPE html><html><head><title>403</title>", id="doctype"),
    pytest.param(b"<!doctype html>", id="doctype-lower"),
    pytest.param(b"<HTML><BODY>Forbidden</BODY></HTML>", id="html-upper"),
    pytest.param(b"\xef\xbb\xbf<!DOCTYPE html>", id="utf8-bom"),
    pytest.param(b"\xef\xbb\xbf \r\n\t <html>", id="bom-and-whitespace"),
    pytest.param(b"\n\n\n    <html lang=en>", id="leading-blank-lines"),
    pytest.param(b"<title>Error</title>", id="title-without-doctype"),
    pytest.param(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>',
                 id="s3-xml-error"),
    pytest.param(b"<Error><Code>NoSuchKey</Code></Error>", id="xml-without-declaration"),
    pytest.param(b'{"code": 404, "message": "not found"}', id="json-error"),
    pytest.param(b' \n{"error":"expired signature"}', id="json-after-whitespace"),
])
def test_error_bodies_are_markup(head: bytes) -> None:
    assert sniff(head) is MediaType.HTML


def test_empty_is_unknown_and_described_as_empty() -> None:
    assert sniff(b"") is MediaType.UNKNOWN
    assert describe(b"") == "empty"


def test_describe_shows_at_most_16_bytes_in_hex() -> None:
    assert describe(DEMO_MP4) == DEMO_MP4[:16].hex(" ")
    assert describe(b"\x01\x02") == "01 02"


def test_every_kind_accepts_its_own_media_and_never_markup() -> None:
    assert ACCEPTED[AssetKind.AUDIO] == {MediaType.MP3}
    assert ACCEPTED[AssetKind.VIDEO] == {MediaType.MP4}
    assert ACCEPTED[AssetKind.IMAGE] == {MediaType.JPEG, MediaType.PNG, MediaType.WEBP}
    for accepted in ACCEPTED.values():
        assert MediaType.HTML not in accepted
        assert MediaType.UNKNOWN not in accepted


@pytest.mark.parametrize("media", list(MediaType))
def test_extension_is_the_value(media: MediaType) -> None:
    assert media.ext == media.value
