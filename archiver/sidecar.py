"""The per-clip `.info.json`: the clip and task JSON (secrets redacted) and what was saved."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from . import __version__
from .errors import writing
from .fileops import write_atomic
from .manifest import FileRow
from .models import Clip, Task
from .naming import render

__all__ = ["sidecar_path", "write_sidecar"]


def sidecar_path(dest: Path, template: str, clip: Clip, files: list[FileRow]) -> Path:
    """Beside the clip's files (their name with `.info.json`), or where the template puts it."""
    named = next((row.path for row in files if row.path), None)
    stem = PurePosixPath(named).with_suffix("") if named else render(
        template, clip, "info.json").with_suffix("").with_suffix("")
    return dest / f"{stem}.info.json"


def write_sidecar(
    path: Path, task: Task, clip: Clip, files: list[FileRow], notes: list[str]
) -> None:
    """Write atomically (tmp + replace), so a reader never sees half a document; a failed
    write is a StorageError, and leaves no `.tmp` behind."""
    document: dict[str, Any] = {
        "clip": json.loads(clip.raw_json),
        "task": json.loads(task.raw_json),
        "archiver": {
            "version": __version__,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {
                row.kind.value: {
                    "state": row.state, "path": row.path, "size": row.size,
                    "sha256": row.sha256, "reason": row.reason,
                }
                for row in files
            },
            "notes": notes,
        },
    }
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
