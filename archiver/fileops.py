"""Small file operations that several stages share."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["digest"]

_CHUNK = 1 << 20


def digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in 1 MiB chunks (memory stays flat)."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()
