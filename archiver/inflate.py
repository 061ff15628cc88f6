"""gzip or zlib bodies that a server sends although we asked for `identity`, decoded in
bounded pieces (download.py keeps the decoded media: that is what the header says it is)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = ["INFLATABLE", "CorruptBody", "Inflater"]

INFLATABLE = frozenset({"gzip", "x-gzip", "deflate"})
_GZIP_OR_ZLIB = zlib.MAX_WBITS | 32  # zlib detects which of the two headers it is
PIECE = 256 * 1024  # most decoded bytes held at once, however well the input packs


class CorruptBody(ValueError):
    """The compressed data is damaged."""


class Inflater:
    """gzip (members one after another) or zlib data, decoded a bounded piece at a time."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(_GZIP_OR_ZLIB)

    @property
    def finished(self) -> bool:
        return self._zlib.eof

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                if self._zlib.eof:  # the next gzip member
                    self._zlib = zlib.decompressobj(_GZIP_OR_ZLIB)
                piece = self._zlib.decompress(data, PIECE)
                if piece:
                    yield piece
                # Output zlib holds back comes out first on the next call: a member's end
                # (its trailer) cannot be consumed before all of its output is out.
                data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise CorruptBody(str(exc)) from None
