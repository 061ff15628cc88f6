"""Process-wide memory settings, made by the console script before any thread starts.

glibc gives each thread that allocates its own malloc arena, and an arena keeps what it has
freed. A run has a dozen threads (body writers, taggers, hashing, cover decoding) passing
buffers of a few hundred KiB, so each arena settles at its own high-water mark: bench/ peaked
at 75-86 MiB with glibc's default of 8 arenas a core, 65-68 MiB with two, at no cost in speed
(the threads spend their time in system calls and C code, not in malloc).
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["ARENAS", "limit_malloc_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8  # <malloc.h>


def limit_malloc_arenas(count: int = ARENAS) -> bool:
    """Ask glibc for at most `count` malloc arenas; False elsewhere (musl, macOS) or when
    the environment already chose (MALLOC_ARENA_MAX wins: it is the user's)."""
    if "MALLOC_ARENA_MAX" in os.environ or not _glibc():
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None  # "glibc 2.36"
    except (ValueError, OSError, AttributeError):  # not a name this system knows
        return False
