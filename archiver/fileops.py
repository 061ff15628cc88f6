"""Small file operations that several stages share."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["digest", "write_atomic"]

def digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file. `hashlib.file_digest` reads it into one reused 256 KiB
    buffer with the GIL released: memory stays flat, and no new buffer a read."""
    with open(path, "rb", buffering=0) as handle:
        sha = hashlib.file_digest(handle, "sha256")
        return handle.tell(), sha.hexdigest()


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
