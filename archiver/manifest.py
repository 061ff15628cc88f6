"""The SQLite manifest at DEST/.suno-archiver/archive.sqlite3: what is archived, and how.

Rows are written as each file lands (autocommit), so a killed run leaves a manifest that
matches the disk. A `files` row in state `done` always names a file that was in place before
the row was written. Only `clips` rows (title and status, read back by nothing that decides
what to fetch) are gathered and written in one transaction before the next other write, the
next read of that table, or every 1000 rows: a task of 100,000 clips costs 100 commits, not
100,000.

SQLite's errors never escape as such: a full disk or a read-only folder is a `StorageError`,
a damaged file (or an empty one in an archive that has sidecars) a `ManifestError` that says
how to rebuild it (`rebuild.py`), without touching the damaged file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .archivedb import (
    DB_NAME,
    SIDECAR_GLOB,
    STATE_DIR,
    connect,
    connect_to_read,
    require_archive,
    sidecars,
)
from .models import AssetKind, Clip, Task
from .sqlitedb import Guarded, Result, damaged, translate

__all__ = [
    "DB_NAME", "FileRow", "Manifest", "SIDECAR_GLOB", "STATE_DIR", "TaskState", "damaged",
    "require_archive", "sidecars", "translate",
]

_CLIP_BATCH = 1000
_CLIP_UPSERT = (
    "INSERT INTO clips (clip_id, task_id, idx, title, status, error) VALUES (?,?,?,?,?,?) "
    "ON CONFLICT(clip_id) DO UPDATE SET title=excluded.title, status=excluded.status, "
    "error=excluded.error, idx=excluded.idx"
)


class TaskState:
    DONE = "done"  # every clip final for the recorded asset selection
    PENDING = "pending"  # not finished on PiAPI, or assets still to come
    FAILED = "failed"  # PiAPI failed it: final
    NOT_FOUND = "not_found"
    ERROR = "error"  # we could not fetch or understand it this time


@dataclass(frozen=True, slots=True)
class FileRow:
    clip_id: str
    kind: AssetKind
    state: str
    path: str | None
    size: int | None
    sha256: str | None
    reason: str
    attempts: int


class Manifest:
    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        self._db = Guarded(connection, path or Path(DB_NAME))
        self._clip_rows: dict[str, tuple[Any, ...]] = {}  # not written yet: see the docstring

    @classmethod
    def open(cls, dest: Path) -> Manifest:
        """The manifest of the archive at `dest`, made when there is none yet."""
        connection, path = connect(dest)
        return cls(connection, path)

    @classmethod
    def open_to_read(cls, dest: Path) -> Manifest:
        """The manifest of an existing archive, for a command that only reads it; a
        read-only archive is opened read-only (archivedb.connect_to_read)."""
        connection, path = connect_to_read(dest)
        return cls(connection, path)

    @classmethod
    def open_existing(cls, dest: Path) -> Manifest:
        """The manifest of an archive that must exist already (status, verify, retag)."""
        require_archive(dest)
        return cls.open(dest)

    def close(self) -> None:
        try:
            self._flush_clips()
        finally:
            self._db.close()

    def _write(self, sql: str, params: Iterable[Any]) -> Result:
        """A write, after the clip rows gathered so far (so the order on disk is the order made)."""
        self._flush_clips()
        return self._db.execute(sql, params)

    def _flush_clips(self) -> None:
        if self._clip_rows:
            rows = list(self._clip_rows.values())
            self._clip_rows.clear()
            self._db.write_many(_CLIP_UPSERT, rows)

    # tasks -------------------------------------------------------------------------------

    def task_row(self, task_id: str) -> tuple[str, str, str] | None:
        """(state, assets it is done for, error) of a task, or None if never seen."""
        row = self._db.execute(
            "SELECT state, assets, error FROM tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def task_json(self, task_id: str) -> str | None:
        row = self._db.execute("SELECT json FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return row[0] if row and row[0] else None

    def record_task(self, task: Task) -> None:
        self._write(
            "INSERT INTO tasks (task_id, state, status, json, checked_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(task_id) DO UPDATE SET status=excluded.status, json=excluded.json, "
            "checked_at=excluded.checked_at",
            (task.task_id, TaskState.PENDING, task.status.value, task.raw_json, time.time()),
        )

    def set_task_state(self, task_id: str, state: str, error: str = "", assets: str = "") -> None:
        self._write(
            "INSERT INTO tasks (task_id, state, error, assets, checked_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(task_id) DO UPDATE SET state=excluded.state, error=excluded.error, "
            "assets=excluded.assets, checked_at=excluded.checked_at",
            (task_id, state, error, assets, time.time()),
        )

    def stored_tasks(self) -> Iterator[tuple[str, str, str]]:
        """(task id, state, task JSON) of every task whose JSON is on record, oldest first."""
        rows = self._db.execute(
            "SELECT task_id, state, json FROM tasks WHERE json IS NOT NULL ORDER BY rowid")
        for task_id, state, text in rows.fetchall():
            yield str(task_id), str(state), str(text)

    def tasks_in(self, *states: str) -> list[tuple[str, str, str]]:
        marks = ",".join("?" * len(states))
        return [
            (row[0], row[1], row[2])
            for row in self._db.execute(
                f"SELECT task_id, state, error FROM tasks WHERE state IN ({marks}) "
                "ORDER BY checked_at", states,
            )
        ]

    # clips and files -----------------------------------------------------------------------

    def record_clip(self, clip: Clip) -> None:
        self._clip_rows[clip.clip_id] = (
            clip.clip_id, clip.task_id, clip.index, clip.title, clip.status.value, clip.error)
        if len(self._clip_rows) >= _CLIP_BATCH:
            self._flush_clips()

    def clip_status(self, clip_id: str) -> str | None:
        waiting = self._clip_rows.get(clip_id)
        if waiting is not None:
            return str(waiting[4])
        row = self._db.execute("SELECT status FROM clips WHERE clip_id = ?", (clip_id,)).fetchone()
        return row[0] if row else None

    def file_row(self, clip_id: str, kind: AssetKind) -> FileRow | None:
        row = self._db.execute(
            "SELECT clip_id, kind, state, path, size, sha256, reason, attempts FROM files "
            "WHERE clip_id = ? AND kind = ?", (clip_id, kind.value),
        ).fetchone()
        return _file_row(row) if row else None

    def files(self, states: Iterable[str] = ("done", "dead", "pending")) -> list[FileRow]:
        wanted = tuple(states)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            "SELECT clip_id, kind, state, path, size, sha256, reason, attempts FROM files "
            f"WHERE state IN ({marks}) ORDER BY task_id, clip_id, kind", wanted,
        )
        return [_file_row(row) for row in rows]

    def done_files(self) -> list[tuple[FileRow, str]]:
        """Every file in place, with its task id, in archive order."""
        rows = self._db.execute(
            "SELECT clip_id, kind, state, path, size, sha256, reason, attempts, task_id "
            "FROM files WHERE state = 'done' ORDER BY task_id, clip_id, kind")
        return [(_file_row(row[:8]), str(row[8])) for row in rows]

    def reopen_file(self, clip_id: str, kind: AssetKind, task_id: str) -> None:
        """Make a file that is no longer in place to be fetched again (verify --repair)."""
        self._write(
            "UPDATE files SET state = 'pending', reason = 'repair', sha256 = NULL, size = NULL "
            "WHERE clip_id = ? AND kind = ?", (clip_id, kind.value))
        self._write("UPDATE tasks SET state = ? WHERE task_id = ?", (TaskState.PENDING, task_id))

    def path_owner(self, path: str) -> str | None:
        row = self._db.execute("SELECT clip_id FROM files WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def record_file_done(
        self, clip: Clip, kind: AssetKind, path: str, size: int, sha256: str
    ) -> None:
        self._write(
            "INSERT INTO files (clip_id, kind, task_id, state, path, size, sha256, reason, "
            "attempts, updated_at) VALUES (?,?,?,'done',?,?,?,'',0,?) "
            "ON CONFLICT(clip_id, kind) DO UPDATE SET state='done', path=excluded.path, "
            "size=excluded.size, sha256=excluded.sha256, reason='', attempts=0, "
            "updated_at=excluded.updated_at",
            (clip.clip_id, kind.value, clip.task_id, path, size, sha256, time.time()),
        )

    def claim_path(self, clip: Clip, kind: AssetKind, path: str) -> None:
        """Reserve `path` for this clip's asset before anything is written under it."""
        self._write(
            "INSERT INTO files (clip_id, kind, task_id, state, path, updated_at) "
            "VALUES (?,?,?,'pending',?,?) ON CONFLICT(clip_id, kind) DO UPDATE SET "
            "path=excluded.path, updated_at=excluded.updated_at",
            (clip.clip_id, kind.value, clip.task_id, path, time.time()),
        )

    def record_file_pending(self, clip: Clip, kind: AssetKind, reason: str) -> None:
        """A transfer that did not finish: tried again next run, not counted towards giving up."""
        self._write(
            "INSERT INTO files (clip_id, kind, task_id, state, reason, updated_at) "
            "VALUES (?,?,?,'pending',?,?) ON CONFLICT(clip_id, kind) DO UPDATE SET "
            "state=CASE WHEN files.state = 'done' THEN 'done' ELSE 'pending' END, "
            "reason=excluded.reason, updated_at=excluded.updated_at",
            (clip.clip_id, kind.value, clip.task_id, reason, time.time()),
        )

    def clip_count(self, task_id: str) -> int:
        self._flush_clips()
        row = self._db.execute("SELECT count(*) FROM clips WHERE task_id = ?", (task_id,))
        return int(row.fetchone()[0])

    def record_file_dead(self, clip: Clip, kind: AssetKind, reason: str) -> int:
        """Note one more run in which the asset was dead; returns how many runs so far."""
        self._write(
            "INSERT INTO files (clip_id, kind, task_id, state, reason, attempts, updated_at) "
            "VALUES (?,?,?,'dead',?,1,?) ON CONFLICT(clip_id, kind) DO UPDATE SET "
            "state='dead', reason=excluded.reason, attempts=files.attempts + 1, "
            "updated_at=excluded.updated_at",
            (clip.clip_id, kind.value, clip.task_id, reason, time.time()),
        )
        row = self.file_row(clip.clip_id, kind)
        return row.attempts if row else 1

    def has_losses(self, task_id: str) -> bool:
        """True when a clip of the task errored on Suno or one of its files is dead."""
        self._flush_clips()
        row = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM clips WHERE task_id = ? AND status = 'error') "
            "OR EXISTS (SELECT 1 FROM files WHERE task_id = ? AND state = 'dead')",
            (task_id, task_id),
        ).fetchone()
        return bool(row[0])

    def summary(self) -> dict[str, Any]:
        """Counts and lists for `status` (the keys of status.ArchiveStatus but `dest`)."""
        self._flush_clips()
        db = self._db
        return {
            "tasks": dict(db.execute("SELECT state, count(*) FROM tasks GROUP BY state")),
            "files": dict(db.execute("SELECT state, count(*) FROM files GROUP BY state")),
            "clips": db.execute("SELECT count(*) FROM clips").fetchone()[0],
            "bytes_on_disk": db.execute(
                "SELECT coalesce(sum(size), 0) FROM files WHERE state = 'done'").fetchone()[0],
            "pending_tasks": self._task_list(TaskState.PENDING, TaskState.ERROR),
            "failed_tasks": self._task_list(TaskState.FAILED, TaskState.NOT_FOUND),
            "dead_assets": [
                {"task_id": task_id, "clip_id": clip_id, "kind": kind, "reason": reason,
                 "runs": runs}
                for task_id, clip_id, kind, reason, runs in db.execute(
                    "SELECT task_id, clip_id, kind, reason, attempts FROM files "
                    "WHERE state = 'dead' ORDER BY task_id, clip_id, kind")
            ],
        }

    def _task_list(self, *states: str) -> list[dict[str, str]]:
        return [{"task_id": task_id, "state": state, "error": error}
                for task_id, state, error in self.tasks_in(*states)]

    # runs ----------------------------------------------------------------------------------

    def start_run(self) -> int:
        cursor = self._write("INSERT INTO runs (started_at) VALUES (?)", (time.time(),))
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, exit_code: int, summary: str) -> None:
        self._write(
            "UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE run_id = ?",
            (time.time(), exit_code, summary, run_id),
        )


def _file_row(row: tuple[object, ...]) -> FileRow:
    clip_id, kind, state, path, size, sha, reason, attempts = row
    return FileRow(
        str(clip_id), AssetKind(kind), str(state), path if isinstance(path, str) else None,
        size if isinstance(size, int) else None, sha if isinstance(sha, str) else None,
        str(reason), int(attempts) if isinstance(attempts, int) else 0,
    )
