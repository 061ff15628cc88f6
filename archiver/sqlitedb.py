"""The manifest's SQLite connection: each statement's rows read at once, and SQLite's errors
turned into the archiver's where they happen.

    SQLITE_FULL, or an I/O error with under 1 MiB free   StorageError "no space left on device"
    SQLITE_READONLY, SQLITE_IOERR                         StorageError (the folder, the disk)
    SQLITE_CANTOPEN                                       ManifestError (a read-only folder?)
    SQLITE_CORRUPT, SQLITE_NOTADB                         ManifestError that says how to rebuild
    IntegrityError, ProgrammingError, InterfaceError      as they are: a bug of ours
    anything else                                         ManifestError

Rows are read in full inside the `try` because a damaged page may only show while stepping
through them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import ManifestError, StorageError

__all__ = ["Guarded", "Result", "damaged", "translate"]

_NEARLY_FULL = 1 << 20  # bytes free under which an SQLite I/O error means a full disk
# SQLite's primary result codes (the low byte of `sqlite_errorcode`).
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 8, 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_NOTADB = 14, 26


class Result:
    """A statement's rows, all read while errors could still be translated."""

    def __init__(self, rows: list[Any], lastrowid: int | None) -> None:
        self._rows = rows
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class Guarded:
    """The SQLite connection, with its errors turned into the archiver's."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._path = path

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Result:
        try:
            cursor = self._db.execute(sql, tuple(params))
            return Result(cursor.fetchall(), cursor.lastrowid)
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from None

    def write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """All rows in one transaction (the caller's, if one is open)."""
        try:
            if self._db.in_transaction:
                self._db.executemany(sql, rows)
                return
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from None

    def script(self, sql: str) -> None:
        try:
            self._db.executescript(sql)
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from None

    def close(self) -> None:
        self._db.close()


def translate(exc: sqlite3.Error, path: Path) -> Exception:
    """The archiver's error for an SQLite error on the manifest at `path`."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == _SQLITE_FULL or (code == _SQLITE_IOERR and _nearly_full(path)):
        return StorageError(path, "no space left on device")  # (SQLite may say "I/O error")
    if code in (_SQLITE_READONLY, _SQLITE_IOERR):
        return StorageError(path, str(exc))
    if code == _SQLITE_CANTOPEN:
        return ManifestError(f"{path}: cannot open the manifest ({exc}; a read-only folder?)")
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return damaged(path, str(exc))
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return exc  # our mistake, not the file's: let it show
    return ManifestError(f"{path}: cannot use the manifest: {exc}")


def _nearly_full(path: Path) -> bool:
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL


def damaged(path: Path, problem: str) -> ManifestError:
    dest = path.parent.parent
    return ManifestError(
        f"{path}: the manifest is damaged ({problem}). The archived files are untouched; "
        f"`suno-archiver rebuild -d {dest}` makes a new manifest from the .info.json sidecars "
        "and keeps this one aside"
    )
