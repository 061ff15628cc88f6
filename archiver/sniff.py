"""What a file really is, by its first bytes (servers and extensions both lie)."""

from __future__ import annotations

import enum

from .models import AssetKind

__all__ = ["ACCEPTED", "SNIFF_BYTES", "MediaType", "describe", "sniff"]


class MediaType(enum.Enum):
    MP3 = "mp3"
    MP4 = "mp4"
    JPEG = "jpg"
    PNG = "png"
    WEBP = "webp"
    HTML = "html"  # an error page: never media
    UNKNOWN = "unknown"

    @property
    def ext(self) -> str:
        return self.value


ACCEPTED: dict[AssetKind, frozenset[MediaType]] = {
    AssetKind.AUDIO: frozenset({MediaType.MP3}),
    AssetKind.VIDEO: frozenset({MediaType.MP4}),
    AssetKind.IMAGE: frozenset({MediaType.JPEG, MediaType.PNG, MediaType.WEBP}),
}

SNIFF_BYTES = 64


def sniff(head: bytes) -> MediaType:
    """Classify a file from (at least) its first 64 bytes."""
    if _id3(head) or _mpeg_sync(head):
        return MediaType.MP3
    if head[4:8] == b"ftyp":
        return MediaType.MP4
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType.PNG
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return MediaType.WEBP
    if _markup(head):
        return MediaType.HTML
    return MediaType.UNKNOWN


def _id3(head: bytes) -> bool:
    # "ID3", a major version that exists (2.2, 2.3, 2.4), a revision byte that is not 0xFF.
    return head.startswith(b"ID3") and len(head) >= 5 and head[3] in (2, 3, 4) and head[4] != 0xFF


def _mpeg_sync(head: bytes) -> bool:
    # 11 set sync bits, a valid version (not 01), Layer III (01: a Layer I/II stream is not an
    # mp3, and FF FF ... filler would pass as Layer I), a bitrate index that is not 1111 and
    # a sample rate index that is not the reserved 11.
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, sample_rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate != 0xF and sample_rate != 3


def _markup(head: bytes) -> bool:
    # No media format starts with "<" or "{": any markup (HTML, an S3 XML <Error>, a <title>
    # without a doctype) or a JSON object is a server talking about the file, not the file.
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return text.startswith((b"<", b"{"))


def describe(head: bytes) -> str:
    """A short, safe rendering of a file's first bytes for an error message."""
    return head[:16].hex(" ") if head else "empty"
