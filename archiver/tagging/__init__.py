"""Tagging of downloaded files: ID3 for MPEG audio, MP4 atoms for mp4/m4a, a cover thumbnail.

The mapping is the table in fields.py (the contract is TAGGING.md). The functions here are
synchronous and do blocking file I/O: the pipeline calls them with `asyncio.to_thread`. They
are pointed at the `.part` file, so the format comes from the content, never from the name.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import StorageError, TaggingError
from archiver.models import AssetKind, Clip
from archiver.sniff import SNIFF_BYTES, MediaType, sniff
from archiver.tagging.cover import make_cover, picture_problem
from archiver.tagging.id3 import tag_mp3
from archiver.tagging.mp4 import tag_mp4

__all__ = ["TagOptions", "TagResult", "make_cover", "picture_problem", "tag_file"]

_STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM})


@dataclass(frozen=True, slots=True)
class TagOptions:
    album: str = "Suno"
    id3_version: int = 3  # 3 or 4

    def __post_init__(self) -> None:
        if self.id3_version not in (3, 4):
            raise ValueError(f"id3_version must be 3 or 4, not {self.id3_version!r}")


@dataclass(frozen=True, slots=True)
class TagResult:
    duration: float | None  # measured from the file, seconds


def tag_file(
    path: Path, kind: AssetKind, clip: Clip, options: TagOptions, cover: bytes | None
) -> TagResult:
    """Tag `path` in place for `clip`; `cover` is a JPEG from `make_cover`, or None.

    With `cover=None` no picture is written and the archiver's own earlier picture is removed.
    `kind` says what the file was fetched as; the tag format follows its content (an MP3 as
    ID3, an MP4/M4A as atoms), so an m4a served as "audio" is still tagged correctly.
    """
    if kind is AssetKind.IMAGE:
        raise TaggingError(f"{path.name}: pictures are not tagged")
    try:
        container = _sniff(path)
        if container == "mp3":
            duration = tag_mp3(path, clip, options.album, options.id3_version, cover)
        elif container == "mp4":
            duration = tag_mp4(path, clip, options.album, cover)
        else:
            raise TaggingError(f"{path.name}: not MPEG audio or MP4 ({kind.value} expected)")
    except TaggingError as exc:
        cause = _storage_cause(exc)
        if cause is not None:  # the disk failed, not the file: no reason to call it unplayable
            raise StorageError.from_os(path, cause) from None
        raise
    return TagResult(duration=duration)


def _storage_cause(exc: BaseException) -> OSError | None:
    """The OSError behind a tagging error when it is the disk's fault (mutagen rewraps it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return current
        current = current.__cause__ or current.__context__
    return None


def _sniff(path: Path) -> str | None:
    """The container in `path`, by content (archiver.sniff): "mp3", "mp4" or None."""
    try:
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError as exc:
        raise TaggingError(f"{path.name}: cannot read: {exc}") from exc
    return {MediaType.MP3: "mp3", MediaType.MP4: "mp4"}.get(sniff(head))
