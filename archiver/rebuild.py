"""`suno-archiver rebuild`: a new manifest made from the `.info.json` sidecars.

For a manifest that is damaged or lost. Each sidecar holds its clip, the whole task JSON and
what was saved for the clip (`archiver.files`: kind → state, path, size, sha256). The new
manifest describes the disk as it is now:

- a file named by a sidecar that is in place is `done`, with the size and hash it has now (a
  final name only ever holds a complete file); when that hash is not the one the sidecar
  recorded, its path is listed in `changed` (`verify` will find nothing wrong with it after
  this: look at those files);
- a file the sidecar lists as saved that is not there keeps its name for the clip, as
  `pending`: the next run fetches it again (listed in `missing`);
- dead and pending assets are not carried over: the next run simply tries them again;
- each task is `done` for the asset kinds every one of its clips has final (saved, absent,
  or errored on Suno), `failed` when PiAPI failed it, else `pending`.

The old `archive.sqlite3` (with its `-wal` and `-shm`) is moved to
`.suno-archiver/old-manifests/STAMP/`, never deleted. What no sidecar holds is not rebuilt:
the runs history, how many runs an asset has been dead, and tasks without a saved clip (a
task PiAPI failed, one not found): asked again when named. The archive lock is held throughout.
Only the public `Manifest` API writes the new manifest.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO, TypeGuard

from .errors import ArchiverError, UsageError
from .fileops import digest
from .lock import ArchiveLock
from .manifest import DB_NAME, SIDECAR_GLOB, STATE_DIR, Manifest, TaskState, sidecars
from .models import AssetKind, AssetState, Clip, ClipStatus, Task, TaskStatus
from .parse import parse_task

__all__ = ["OLD_MANIFESTS", "RebuildResult", "rebuild_manifest", "run_rebuild"]

OLD_MANIFESTS = "old-manifests"
_DB_FILES = (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm")


@dataclass(frozen=True, slots=True)
class RebuildResult:
    kept_as: Path | None  # the folder the old manifest was moved to; None if there was none
    sidecars: int  # sidecars found
    tasks: int
    clips: int
    files: int  # files in place, re-hashed, recorded as done
    missing: tuple[str, ...]  # saved once, not on disk now: the next run fetches them
    changed: tuple[str, ...]  # on disk, but not with the hash their sidecar recorded
    skipped: tuple[str, ...]  # "SIDECAR: reason" for sidecars (or entries) not used

    def line(self) -> str:
        return (f"rebuilt the manifest from {self.sidecars} sidecars: {self.tasks} tasks, "
                f"{self.clips} clips, {self.files} files in place, {len(self.missing)} "
                f"missing, {len(self.changed)} changed, {len(self.skipped)} skipped")


@dataclass(slots=True)
class _Sidecar:
    path: Path
    written_at: str
    task: Task
    clip: Clip
    files: dict[str, Any]


@dataclass(slots=True)
class _Tally:
    files: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def rebuild_manifest(dest: Path) -> RebuildResult:
    """Move the manifest of `dest` aside and make a new one from the sidecars."""
    found = sorted(sidecars(dest))
    if not found and not (dest / STATE_DIR / DB_NAME).exists():
        raise UsageError(f"{dest}: no archive here (no manifest and no {SIDECAR_GLOB} sidecars)")
    tally = _Tally()
    with ArchiveLock(dest / STATE_DIR / "lock"):
        usable = [item for path in found if (item := _read(path, tally)) is not None]
        kept_as = _move_aside(dest)
        manifest = Manifest.open(dest)
        try:
            tasks = _record(dest, manifest, usable, tally)
        finally:
            manifest.close()
    return RebuildResult(
        kept_as, len(found), len(tasks), sum(len(task.clips) for task in tasks), tally.files,
        tuple(tally.missing), tuple(tally.changed), tuple(tally.skipped))


def _move_aside(dest: Path) -> Path | None:
    state = dest / STATE_DIR
    present = [name for name in _DB_FILES if (state / name).exists()]
    if not present:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, number = state / OLD_MANIFESTS / stamp, 1
    while target.exists():
        number += 1
        target = state / OLD_MANIFESTS / f"{stamp}-{number}"
    target.mkdir(parents=True)
    for name in present:
        os.replace(state / name, target / name)
    return target


def _read(path: Path, tally: _Tally) -> _Sidecar | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        meta = document["archiver"]
        task = parse_task(document["task"])
        clip = _find_clip(task, document["clip"])
        files = meta["files"]
        if not isinstance(files, dict):
            raise TypeError("'archiver.files' is not an object")
        return _Sidecar(path, str(meta.get("written_at", "")), task, clip, files)
    except (OSError, ValueError, RecursionError, KeyError, TypeError, ArchiverError) as exc:
        tally.skipped.append(f"{path}: not a usable sidecar ({_why(exc)})")
        return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _find_clip(task: Task, clip_json: object) -> Clip:
    """The sidecar's clip among the task's: the same JSON, else the same id."""
    if not isinstance(clip_json, dict):
        raise TypeError("'clip' is not an object")
    text = json.dumps(clip_json, ensure_ascii=False, sort_keys=True)
    same = next((clip for clip in task.clips if clip.raw_json == text), None)
    same = same or next((clip for clip in task.clips if clip.clip_id == clip_json.get("id")), None)
    if same is None:
        raise ValueError(f"its clip is not in its task {task.task_id}")
    return same


def _record(dest: Path, manifest: Manifest, sidecars: list[_Sidecar], tally: _Tally) -> list[Task]:
    """Tasks and clips from the newest sidecar of each task; files from every sidecar."""
    sidecars.sort(key=lambda item: (item.written_at, str(item.path)))
    tasks = {item.task.task_id: item.task for item in sidecars}  # the newest wins
    for task in tasks.values():
        manifest.record_task(task)
        for clip in task.clips:
            manifest.record_clip(clip)
    for item in sidecars:
        for kind_name, entry in item.files.items():
            _record_file(dest, manifest, item, kind_name, entry, tally)
    for task in tasks.values():
        state, error, assets = _task_state(manifest, task)
        manifest.set_task_state(task.task_id, state, error, assets)
    return list(tasks.values())


def _record_file(dest: Path, manifest: Manifest, item: _Sidecar, kind_name: str, entry: Any,
                 tally: _Tally) -> None:
    where = f"{item.path}: {kind_name}"
    if not isinstance(entry, dict) or kind_name not in {kind.value for kind in AssetKind}:
        tally.skipped.append(f"{where}: not a file entry")
        return
    kind, path = AssetKind(kind_name), entry.get("path")
    if path is None and entry.get("state") != "done":
        return  # dead or pending without a name: the next run tries again
    if not _safe(path):
        tally.skipped.append(f"{where}: unsafe path {path!r}")
        return
    owner = manifest.path_owner(path)
    if owner is not None and owner != item.clip.clip_id:
        tally.skipped.append(f"{where}: {path} belongs to clip {owner}")
        return
    final = dest / path
    if final.is_file():
        try:
            size, sha256 = digest(final)
        except OSError as exc:
            tally.skipped.append(f"{where}: cannot read {path}: {exc.strerror or exc}")
            return
        manifest.record_file_done(item.clip, kind, path, size, sha256)
        tally.files += 1
        if entry.get("state") == "done" and entry.get("sha256") not in (None, sha256):
            tally.changed.append(path)
        return
    manifest.claim_path(item.clip, kind, path)  # the name stays the clip's
    if entry.get("state") == "done":
        tally.missing.append(path)


def _safe(path: object) -> TypeGuard[str]:
    """A relative path inside DEST, outside the state folder (sidecars can be edited)."""
    if not isinstance(path, str) or not path or "\0" in path or "\\" in path:
        return False
    parts = PurePosixPath(path).parts
    return (not PurePosixPath(path).is_absolute() and ".." not in parts and "." not in parts
            and parts[0] != STATE_DIR and not path.endswith(".part"))


def _task_state(manifest: Manifest, task: Task) -> tuple[str, str, str]:
    """(state, error, assets it is done for), as the pipeline would have left them."""
    if task.status is TaskStatus.FAILED:
        return TaskState.FAILED, task.error, ""
    if task.status is not TaskStatus.COMPLETED:
        return TaskState.PENDING, "", ""
    done_for = [kind.value for kind in AssetKind
                if all(_final(manifest, clip, kind) for clip in task.clips)]
    if not done_for:
        return TaskState.PENDING, "", ""
    return TaskState.DONE, "", ",".join(done_for)


def _final(manifest: Manifest, clip: Clip, kind: AssetKind) -> bool:
    if clip.status is ClipStatus.ERROR or clip.asset(kind).state is AssetState.ABSENT:
        return True
    row = manifest.file_row(clip.clip_id, kind)
    return row is not None and row.state == "done"


def run_rebuild(dest: Path, err: TextIO) -> int:
    """`suno-archiver rebuild`: 0 when every sidecar was used, 1 when any was skipped."""
    result = rebuild_manifest(dest)
    for path in result.missing:
        print(f"missing   {path} (the next run fetches it again)", file=err)
    for path in result.changed:
        print(f"changed   {path} (recorded as it is now)", file=err)
    for entry in result.skipped:
        print(f"skipped   {entry}", file=err)
    print(result.line(), file=err)
    if result.kept_as is not None:
        print(f"the old manifest is kept in {result.kept_as}", file=err)
    return 1 if result.skipped else 0
