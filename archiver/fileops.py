"""Small file operations that several stages share."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["digest", "write_atomic"]

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write through `NAME.tmp` and a rename, so a reader never sees half a file; a failed
    write leaves the old file as it was and no `.tmp` behind."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
