"""A download's `.part`, written by worker threads so the event loop keeps receiving.

Copying a body into the page cache took a quarter of the event loop's time in bench/ (the
kernel's copy, but on the one thread every transfer shares). Here a chunk is handed to a thread
and the next one is received meanwhile; one write at a time per file, so the bytes land in
order and a download never holds more than two chunks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from concurrent.futures import Executor
from pathlib import Path
from types import TracebackType

__all__ = ["PartFile"]


class PartFile:
    """`with PartFile(path, offset, pool) as part: await part.write(chunk)`, then `drain()`.

    Opened at `offset` with everything after it cut off (0: a new, empty file). A write that
    fails (a full disk) raises from the next `write()` or from `drain()`; leaving the block
    waits for the write in flight, so the file is never closed under a thread.
    """

    def __init__(self, path: Path, offset: int, pool: Executor) -> None:
        self._pool = pool
        self._pending: concurrent.futures.Future[int] | None = None
        self._file = open(path, "r+b" if offset else "wb")  # noqa: SIM115 (closed in __exit__)
        try:
            self._file.seek(offset)
            self._file.truncate()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> PartFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._pending is not None:
                concurrent.futures.wait([self._pending])  # at most one chunk's write
        finally:
            self._file.close()

    async def write(self, chunk: bytes) -> None:
        """Queue `chunk` after the previous one (waiting for that one to be written first)."""
        if self._pending is not None and self._pending.done():
            self._pending.result()  # the usual case, with no trip through the event loop
            self._pending = None
        await self.drain()
        self._pending = self._pool.submit(self._file.write, chunk)

    async def drain(self) -> None:
        """Wait until every chunk given is in the file; a failed write raises here."""
        if self._pending is not None:
            await asyncio.wrap_future(self._pending)  # (cancelled: __exit__ still waits for it)
            self._pending = None

    async def flush(self) -> None:
        """`drain()`, and the file's own buffer too: readers of the path see every byte."""
        await self.drain()
        self._file.flush()
