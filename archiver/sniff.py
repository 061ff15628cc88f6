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
    if head.startswith(b"ID3") or _mpeg_sync(head):
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


def _mpeg_sync(head: bytes) -> bool:
    # 11 set sync bits, a valid version (not 01) and layer (not 00), bitrate index not 1111.
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer, bitrate = (head[1] >> 3) & 3, (head[1] >> 1) & 3, head[2] >> 4
    return version != 1 and layer != 0 and bitrate != 0xF


def _markup(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<error", b"{"))


def describe(head: bytes) -> str:
    """A short, safe rendering of a file's first bytes for an error message."""
    return head[:16].hex(" ") if head else "empty"
