"""Read back the cover the archiver embedded, so `retag` can keep it without the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mutagen
from mutagen import MutagenError

from archiver.tagging.fields import ID3_COVER_DESC

__all__ = ["embedded_cover"]

_FILE: Any = mutagen.File


def embedded_cover(path: Path) -> bytes | None:
    """The JPEG bytes of the archiver's embedded cover (ID3 APIC or MP4 covr), or None."""
    try:
        media = _FILE(path)
    except (MutagenError, OSError):
        return None
    tags = getattr(media, "tags", None)
    if tags is None:
        return None
    if hasattr(tags, "getall"):  # ID3
        pictures = [frame for frame in tags.getall("APIC") if frame.desc == ID3_COVER_DESC]
        return bytes(pictures[0].data) if pictures else None
    covers = tags.get("covr") if hasattr(tags, "get") else None
    return bytes(covers[0]) if covers else None
