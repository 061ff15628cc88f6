"""The gallery's thumbnails: `DEST/.suno-archiver/thumbs/<clip id>.jpg`, 300 px baseline JPEGs.

Made from the saved cover: during the run, from the same decode as the embedded picture
(clipwork), or by the gallery for a cover that has none yet or is newer than its thumbnail.
"""

from __future__ import annotations

import re
from pathlib import Path

from .fileops import write_atomic
from .manifest import STATE_DIR
from .naming import safe_component
from .tagging.cover import make_cover

__all__ = ["THUMBS_DIR", "THUMB_SIDE", "make_thumbnail", "save_thumbnail", "thumbnail_path"]

THUMBS_DIR = "thumbs"  # under STATE_DIR
THUMB_SIDE = 300
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")  # UUIDs and the like


def thumbnail_path(clip_id: str) -> str:
    """Where the clip's thumbnail lives, relative to DEST (a hostile id stays in the folder)."""
    stem = clip_id if _PLAIN_ID.fullmatch(clip_id) else safe_component(clip_id)
    return f"{STATE_DIR}/{THUMBS_DIR}/{stem}.jpg"


def make_thumbnail(data: bytes) -> bytes:
    """A baseline JPEG of at most THUMB_SIDE px a side, from untrusted picture bytes.

    `make_cover` does the careful part: size check before decoding, EXIF orientation,
    transparency, a big JPEG decoded at a fraction of its size.
    """
    return make_cover(data, max_side=THUMB_SIDE)


def save_thumbnail(dest: Path, clip_id: str, picture: bytes) -> str:
    """Write the clip's thumbnail (atomically); its path relative to DEST."""
    relative = thumbnail_path(clip_id)
    path = dest / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, picture)
    return relative
