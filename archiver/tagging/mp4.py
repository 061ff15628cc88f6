"""MP4 atoms for mp4/m4a files, written in place with mutagen from the table in fields.py.

mutagen puts a new `moov.udta` *before* `mvhd` and the tracks, and ffmpeg (so ffprobe, mpv,
Jellyfin...) ignores every `----` freeform atom it meets before the first track. After saving,
`udta` is moved to the end of `moov`. That only reorders boxes inside `moov` without changing
its size, so no chunk offset (`stco`/`co64`) moves and the media data is untouched.

A file whose top-level boxes do not cover it exactly is refused before anything is written:
that is what a download cut short looks like, and mutagen would tag it all the same.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

import mutagen.mp4
from mutagen import MutagenError

from archiver.errors import TaggingError
from archiver.models import Clip
from archiver.tagging.fields import FIELDS, MP4_COVER, FieldSource

__all__ = ["move_udta_after_tracks", "tag_mp4"]

# mutagen has no annotations: bind what is used as Any, so `mypy --strict` checks our code only.
_MP4: Any = mutagen.mp4.MP4
_MP4Cover: Any = mutagen.mp4.MP4Cover
_MP4FreeForm: Any = mutagen.mp4.MP4FreeForm
_UTF8: Any = mutagen.mp4.AtomDataType.UTF8
_FREEFORM = "----:"
_HEADER = struct.Struct(">I4s")


class _BoxError(ValueError):
    """The file's box structure is not what an MP4 must be."""


def tag_mp4(path: Path, clip: Clip, album: str, cover: bytes | None) -> float:
    """Write the archiver's atoms into `path`; return its measured length in seconds."""
    try:
        _check_whole(path)
        movie = _MP4(path)
        if movie.tags is None:
            movie.add_tags()
        duration = float(movie.info.length)
        _write(movie.tags, FieldSource(clip=clip, album=album, duration=duration), cover)
        movie.save()
        move_udta_after_tracks(path)
    except (MutagenError, OSError, _BoxError) as exc:
        raise TaggingError(f"{path.name}: cannot tag as MP4: {exc}") from exc
    return duration


def _write(tags: Any, source: FieldSource, cover: bytes | None) -> None:
    for field in FIELDS:
        value = field.value(source)
        for key in field.mp4:
            tags.pop(key, None)
            if value:
                tags[key] = [_atom_value(key, value)]
    tags.pop(MP4_COVER, None)
    if cover is not None:
        tags[MP4_COVER] = [_MP4Cover(cover, imageformat=_MP4Cover.FORMAT_JPEG)]


def _atom_value(key: str, value: str) -> Any:
    if key.startswith(_FREEFORM):
        return _MP4FreeForm(value.encode(), dataformat=_UTF8)
    return value


def move_udta_after_tracks(path: Path) -> bool:
    """Move `moov.udta` behind the tracks, in place; True if the file had to change.

    Raises ValueError if the file's top-level boxes do not lead to a `moov`.
    """
    with path.open("r+b") as stream:
        body_offset, body_size = _find_moov_body(stream)
        stream.seek(body_offset)
        body = stream.read(body_size)
        reordered = _udta_last(body)
        if reordered == body:
            return False
        stream.seek(body_offset)
        stream.write(reordered)
        return True


def _box_header(stream: IO[bytes], offset: int, file_size: int) -> tuple[bytes, int, int]:
    """(type, header length, total size) of the box at `offset`."""
    stream.seek(offset)
    raw = stream.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise _BoxError("truncated MP4 box header")
    size, kind = _HEADER.unpack(raw)
    header = _HEADER.size
    if size == 1:  # a 64-bit size follows the type
        large = stream.read(8)
        if len(large) < 8:
            raise _BoxError("truncated MP4 box header")
        (size,) = struct.unpack(">Q", large)
        header += 8
    elif size == 0:  # the box runs to the end of the file
        size = file_size - offset
    if size < header:
        raise _BoxError(f"bad MP4 box size {size} for {kind!r} at offset {offset}")
    if offset + size > file_size:
        raise _BoxError(f"the file ends {offset + size - file_size} bytes into its {kind!r} box "
                        "(cut short)")
    return kind, header, size


def _check_whole(path: Path) -> None:
    """The top-level boxes must cover the file: a body cut short (say, by a connection that
    closed early with no Content-Length to tell) ends inside one, usually `mdat`, and mutagen
    would tag it all the same."""
    with path.open("rb") as stream:
        file_size = stream.seek(0, 2)
        offset = 0
        while offset < file_size:
            offset += _box_header(stream, offset, file_size)[2]


def _find_moov_body(stream: IO[bytes]) -> tuple[int, int]:
    """(offset, length) of the payload of the top-level `moov` box."""
    file_size = stream.seek(0, 2)
    offset = 0
    while offset < file_size:
        kind, header, size = _box_header(stream, offset, file_size)
        if kind == b"moov":
            return offset + header, size - header
        offset += size
    raise _BoxError("no moov box")


def _children(body: bytes) -> list[tuple[bytes, bytes]] | None:
    """(type, whole box) of each child box, or None if they do not tile `body` exactly."""
    children: list[tuple[bytes, bytes]] = []
    offset = 0
    while offset + _HEADER.size <= len(body):
        size, kind = _HEADER.unpack_from(body, offset)
        if size == 1 and offset + 16 <= len(body):
            (size,) = struct.unpack_from(">Q", body, offset + 8)
        if size < _HEADER.size or offset + size > len(body):
            return None
        children.append((kind, body[offset : offset + size]))
        offset += size
    return children if offset == len(body) else None


def _udta_last(body: bytes) -> bytes:
    """`moov`'s payload with its `udta` boxes after the last track, or `body` if already so."""
    children = _children(body)
    if children is None:
        return body
    kinds = [kind for kind, _ in children]
    if b"udta" not in kinds or b"trak" not in kinds:
        return body
    last_trak = max(index for index, kind in enumerate(kinds) if kind == b"trak")
    if kinds.index(b"udta") > last_trak:
        return body
    others = [box for kind, box in children if kind != b"udta"]
    udta = [box for kind, box in children if kind == b"udta"]
    return b"".join(others + udta)
