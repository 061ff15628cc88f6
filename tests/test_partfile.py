"""PartFile: a download's `.part` written by worker threads, in order, one chunk in flight.

What the download engine relies on: every byte lands where it belongs; a failed write (a full
disk) surfaces on the event loop; the file is never closed while a thread writes to it, even
when the download is cancelled half-way.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from archiver.partfile import PartFile


class _Pool(ThreadPoolExecutor):
    """Four threads that count how many writes run at once."""

    def __init__(self) -> None:
        super().__init__(4)
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def counted() -> Any:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                threading.Event().wait(0.002)  # long enough for a second write to overlap
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1

        return super().submit(counted)


def _write_all(path: Path, offset: int, chunks: list[bytes], pool: ThreadPoolExecutor) -> None:
    async def go() -> None:
        with PartFile(path, offset, pool) as part:
            for chunk in chunks:
                await part.write(chunk)
            await part.drain()

    asyncio.run(go())


def test_chunks_land_in_order_one_write_at_a_time(tmp_path: Path) -> None:
    chunks = [os.urandom(n) for n in (1, 70_000, 256 * 1024, 3, 100_000)] * 4
    with _Pool() as pool:
        _write_all(tmp_path / "a.part", 0, chunks, pool)
    assert (tmp_path / "a.part").read_bytes() == b"".join(chunks)
    assert pool.peak == 1


def test_an_offset_keeps_what_is_before_it_and_cuts_what_is_after(tmp_path: Path) -> None:
    path = tmp_path / "a.part"
    path.write_bytes(b"keep" + b"stale tail")
    with ThreadPoolExecutor(2) as pool:
        _write_all(path, 4, [b" new", b" end"], pool)
    assert path.read_bytes() == b"keep new end"


def test_offset_zero_starts_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "a.part"
    path.write_bytes(b"old bytes")
    with ThreadPoolExecutor(2) as pool:
        _write_all(path, 0, [b"new"], pool)
    assert path.read_bytes() == b"new"


def test_flush_makes_the_bytes_readable_by_path(tmp_path: Path) -> None:
    path = tmp_path / "a.part"

    async def go() -> bytes:
        with ThreadPoolExecutor(2) as pool, PartFile(path, 0, pool) as part:
            await part.write(b"ID3" + bytes(100))
            await part.flush()
            return path.read_bytes()  # what download.py's sniffing reads

    assert asyncio.run(go()) == b"ID3" + bytes(100)


def test_a_failed_write_raises_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk in the worker thread is an OSError from write() or drain(), not lost."""
    path = tmp_path / "a.part"

    async def go(chunks: int) -> None:
        with ThreadPoolExecutor(2) as pool, PartFile(path, 0, pool) as part:
            def full(data: bytes) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(part._file, "write", full)  # (only this file's handle)
            for _ in range(chunks):
                await part.write(b"x" * 10)
            await part.drain()

    for chunks in (1, 3):  # the error comes from drain(), or from the next write()
        with pytest.raises(OSError, match="No space left"):
            asyncio.run(go(chunks))


def test_a_cancelled_download_waits_for_its_write_before_closing(tmp_path: Path) -> None:
    """The file must not be closed under a thread that is still writing to it."""
    path = tmp_path / "a.part"
    started, release = threading.Event(), threading.Event()
    closed_while_writing: list[bool] = []

    async def go() -> None:
        with ThreadPoolExecutor(2) as pool:
            part = PartFile(path, 0, pool)
            real_write, real_close = part._file.write, part._file.close
            writing = threading.Event()

            def slow_write(data: bytes) -> int:
                writing.set()
                started.set()
                release.wait(5)
                written = real_write(data)
                writing.clear()
                return written

            def close() -> None:
                closed_while_writing.append(writing.is_set())
                real_close()

            part._file.write = slow_write  # type: ignore[method-assign]
            part._file.close = close  # type: ignore[method-assign]

            async def download() -> None:
                with part:
                    await part.write(b"first")
                    await part.write(b"second")  # waits for the first, which is held

            task = asyncio.create_task(download())
            await asyncio.to_thread(started.wait, 5)
            task.cancel()
            threading.Timer(0.05, release.set).start()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(go())
    assert closed_while_writing == [False]
    assert path.read_bytes() == b"first"  # what was in flight is in; nothing after it
