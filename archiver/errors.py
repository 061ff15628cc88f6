"""The archiver's errors. cli.py is the one place that turns them into exit codes.

    ArchiverError
    ├── UsageError ─────────── exit 2: bad flags, config, destination; nothing was done
    ├── AuthError ──────────── exit 3: PiAPI rejected the key; the run stops at once
    ├── LockedError ────────── exit 4: another run holds the archive lock
    ├── Interrupted ────────── exit 130: SIGINT/SIGTERM; `.part` files are kept for resume
    ├── InputLineError ─────── one malformed input line (FILE:LINE); the rest still runs
    │   └── InputFileError ─── a --from-json file without a usable task
    ├── TaskError ──────────── one task could not be fetched or understood; the others go on
    │   ├── TaskNotFound ───── 404, or a non-200 `code` with `data: null`
    │   ├── TaskFailed ─────── PiAPI failed the task (final)
    │   ├── BadResponse ────── not JSON, or a shape parse.py does not know
    │   └── ApiUnavailable ─── 429/5xx/network errors outlasted the retries
    ├── AssetError ─────────── one file could not be saved; the clip keeps the rest
    │   ├── DeadAsset ──────── 403/404/410, an error page, bad magic bytes
    │   └── TransferError ──── network trouble or a short body outlasted the retries
    ├── TaggingError ───────── a downloaded file could not be tagged (not media)
    ├── CoverError ─────────── a cover could not become a thumbnail (never fails the audio)
    ├── ManifestError ──────── the SQLite manifest is unreadable or damaged: exit 1, the run
    │                          stops; `suno-archiver rebuild` makes a new one from the sidecars
    └── StorageError ───────── the archive folder cannot be written (disk full, read-only,
                               I/O error): exit 1, the run stops at once, `.part` files kept

AuthError, ManifestError and StorageError stop the run wherever they are raised: the task
groups that wrap them hand them on bare (`first_error`), up to cli.py.

Messages never contain the API key: it is not passed to any of these.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

__all__ = [
    "ApiUnavailable",
    "ArchiverError",
    "AssetError",
    "AuthError",
    "BadResponse",
    "CoverError",
    "DeadAsset",
    "InputFileError",
    "InputLineError",
    "Interrupted",
    "LockedError",
    "ManifestError",
    "StorageError",
    "TaggingError",
    "TaskError",
    "TaskFailed",
    "TaskNotFound",
    "TransferError",
    "UsageError",
    "first_error",
    "writing",
]


class ArchiverError(Exception):
    """Base of every error the archiver reports itself (never as a traceback)."""

    exit_code = 1


class UsageError(ArchiverError):
    exit_code = 2


class AuthError(ArchiverError):
    exit_code = 3


class LockedError(ArchiverError):
    exit_code = 4


class Interrupted(ArchiverError):
    exit_code = 130


class InputLineError(ArchiverError):
    """A line of an input file that is not a task ID."""

    def __init__(self, source: str, line: int, text: str) -> None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"{source}:{line}: not a task id: {shown!r}")
        self.source = source
        self.line = line


class InputFileError(InputLineError):
    """A `--from-json` file that holds no usable task: named, skipped, the rest still runs."""

    def __init__(self, source: str, message: str) -> None:
        ArchiverError.__init__(self, f"{source}: {message}")
        self.source = source
        self.line = 0


class TaskError(ArchiverError):
    def __init__(self, task_id: str, message: str) -> None:
        super().__init__(f"task {task_id}: {message}")
        self.task_id = task_id
        self.reason = message


class TaskNotFound(TaskError):
    pass


class TaskFailed(TaskError):
    pass


class BadResponse(TaskError):
    pass


class ApiUnavailable(TaskError):
    pass


class AssetError(ArchiverError):
    def __init__(self, url_host: str, message: str) -> None:
        super().__init__(f"{message} (from {url_host})" if url_host else message)
        self.reason = message


class DeadAsset(AssetError):
    """The server answered, and the answer is not the file: it may come back on a later run."""


class TransferError(AssetError):
    """The file could not be moved over the network in the attempts allowed."""


class TaggingError(ArchiverError):
    pass


class CoverError(ArchiverError):
    pass


class ManifestError(ArchiverError):
    pass


_PLAIN_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}


class StorageError(ArchiverError):
    """Writing into the archive failed for a reason no retry fixes: stop before more is lost."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason

    @classmethod
    def from_os(cls, path: object | None, exc: OSError) -> StorageError:
        """The error for `exc`, naming `path` (else the file the OS named)."""
        reason = _PLAIN_REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
        return cls(path if path is not None else exc.filename, reason)


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error in a (nested) exception group: task groups wrap what must stop a run."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found


@contextlib.contextmanager
def writing(path: object) -> Iterator[None]:
    """Turn a failed write under `path` into a StorageError (network errors are not ours)."""
    try:
        yield
    except (ConnectionError, TimeoutError):
        raise
    except OSError as exc:
        raise StorageError.from_os(path, exc) from None
