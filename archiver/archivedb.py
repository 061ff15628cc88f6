"""Opening the archive's SQLite file: where it lives, its schema and migrations, and the
checks made before a run trusts it (manifest.py reads and writes the rows).

The schema is a list of scripts; `PRAGMA user_version` says how many have run, so a newer
suno-archiver migrates an older archive in place, and an older one refuses a newer archive.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .errors import ManifestError, StorageError, UsageError
from .sqlitedb import Guarded, damaged, translate

__all__ = ["DB_NAME", "SIDECAR_GLOB", "STATE_DIR", "connect", "connect_to_read",
           "require_archive", "sidecars"]

STATE_DIR = ".suno-archiver"
DB_NAME = "archive.sqlite3"
SIDECAR_GLOB = "*.info.json"

_SCHEMA = [
    """
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY, state TEXT NOT NULL, status TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '', assets TEXT NOT NULL DEFAULT '',
        json TEXT, checked_at REAL NOT NULL
    );
    CREATE TABLE clips (
        clip_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, idx INTEGER NOT NULL,
        title TEXT NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX clips_task ON clips(task_id);
    CREATE TABLE files (
        clip_id TEXT NOT NULL, kind TEXT NOT NULL, task_id TEXT NOT NULL,
        state TEXT NOT NULL, path TEXT, size INTEGER, sha256 TEXT,
        reason TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL, PRIMARY KEY (clip_id, kind)
    );
    CREATE UNIQUE INDEX files_path ON files(path);
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL,
        exit_code INTEGER, summary TEXT
    );
    """,
]


def connect(dest: Path) -> tuple[sqlite3.Connection, Path]:
    """The archive's database, made or migrated, in WAL mode, and checked; and its path."""
    state_dir = dest / STATE_DIR
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError.from_os(state_dir, exc) from None
    path = state_dir / DB_NAME
    _refuse_emptied(path, dest)
    try:
        connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    db = Guarded(connection, path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        _migrate(db, path)
        _check_integrity(db, path)
    except BaseException:
        connection.close()
        raise
    return connection, path


def connect_to_read(dest: Path) -> tuple[sqlite3.Connection, Path]:
    """The database of an existing archive, for commands that only read it (status, verify).

    On a read-only archive (a backup drive, a snapshot) SQLite cannot make the `-shm` file a
    WAL database needs. It is opened read-only then: as it is when a `-wal` file and its
    `-shm` were left beside it (a run that was killed; SQLite reads them), else as immutable
    (a run that closed cleanly leaves everything in the main file)."""
    require_archive(dest)
    path = dest / STATE_DIR / DB_NAME
    if os.access(path.parent, os.W_OK):
        return connect(dest)
    left = all(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm"))
    uri = f"{path.as_uri()}?mode=ro" + ("" if left else "&immutable=1")
    try:
        connection = sqlite3.connect(uri, uri=True, isolation_level=None)
        db = Guarded(connection, path)
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    try:
        if _refuse_newer(db, path) < len(_SCHEMA):
            raise ManifestError(f"{path}: the manifest needs upgrading, which a read-only "
                                "archive does not allow; run suno-archiver on it once writable")
        _check_integrity(db, path)
    except BaseException:
        connection.close()
        raise
    return connection, path


def require_archive(dest: Path) -> None:
    if not (dest / STATE_DIR / DB_NAME).is_file():
        raise UsageError(f"{dest}: no archive here (no {STATE_DIR}/{DB_NAME})")


def _refuse_emptied(path: Path, dest: Path) -> None:
    """An empty manifest file beside archived sidecars was emptied (a crash, a bad copy), not
    made: SQLite would take it for a new archive and forget everything without a word."""
    try:
        emptied = path.stat().st_size == 0
    except FileNotFoundError:
        return
    if emptied and next(sidecars(dest), None) is not None:
        raise damaged(path, "the file is empty, but the folder holds archived songs")


def _check_integrity(db: Guarded, path: Path) -> None:
    """Damage found now is a clear error before the run, not a failed write half-way through
    it (a file in place, its row not written). A few hundred ms for a 300 MB manifest."""
    problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        raise damaged(path, "; ".join(problems))


def sidecars(dest: Path) -> Iterator[Path]:
    """The `.info.json` sidecars of the archive at `dest` (none from the state folder)."""
    return (found for found in dest.rglob(SIDECAR_GLOB)
            if STATE_DIR not in found.relative_to(dest).parts and found.is_file())


def _refuse_newer(db: Guarded, path: Path) -> int:
    """The schema version, unless it is newer than this suno-archiver knows."""
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(_SCHEMA):
        raise ManifestError(
            f"{path}: the manifest is schema {version}, newer than this suno-archiver knows"
        )
    return version


def _migrate(db: Guarded, path: Path) -> None:
    version = _refuse_newer(db, path)
    for number, script in enumerate(_SCHEMA[version:], start=version + 1):
        db.script(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
