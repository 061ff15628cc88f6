"""The per-clip `.info.json`: the clip and task JSON (secrets redacted) and what was saved."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .manifest import FileRow
from .models import Clip, Task

__all__ = ["write_sidecar"]


def write_sidecar(
    path: Path, task: Task, clip: Clip, files: list[FileRow], notes: list[str]
) -> None:
    """Write atomically (tmp + replace), so a reader never sees half a document."""
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
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n",
                         encoding="utf-8")
    os.replace(temporary, path)
