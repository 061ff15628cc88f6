"""memory.py: the console script asks glibc for two malloc arenas (bench/ has the figures)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from archiver.memory import ARENAS, limit_malloc_arenas

GLIBC = hasattr(os, "confstr") and os.confstr("CS_GNU_LIBC_VERSION") is not None

# Eight threads alive at once, each allocating; then glibc lists its arenas on stderr.
_THREADS = """
import ctypes, sys, threading
from archiver.memory import limit_malloc_arenas
if sys.argv[1] == "limit":
    limit_malloc_arenas()
alive = threading.Barrier(8)
def work():
    block = bytearray(300_000)
    alive.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", _THREADS, mode], capture_output=True,
                          text=True, env=env, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_threads_share_two_arenas() -> None:
    assert _arenas("default") > ARENAS  # (glibc gave each thread its own)
    assert _arenas("limit") == ARENAS


def test_the_users_own_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is False
