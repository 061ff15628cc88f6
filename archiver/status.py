"""`suno-archiver status`: what the archive holds, what waits, what was lost and why."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from .manifest import Manifest

__all__ = ["ArchiveStatus", "print_status", "read_status"]


@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    dest: str
    tasks: dict[str, int]
    files: dict[str, int]
    clips: int
    bytes_on_disk: int
    pending_tasks: list[dict[str, str]]
    failed_tasks: list[dict[str, str]]
    dead_assets: list[dict[str, object]]


def read_status(dest: Path) -> ArchiveStatus:
    manifest = Manifest.open_to_read(dest)
    try:
        return ArchiveStatus(dest=str(dest), **manifest.summary())
    finally:
        manifest.close()


def print_status(status: ArchiveStatus, out: TextIO, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(asdict(status), ensure_ascii=False, indent=2) + "\n")
        return
    out.write(f"archive {status.dest}: {status.clips} clips, "
              f"{_mib(status.bytes_on_disk)} in {status.files.get('done', 0)} files\n")
    out.write("tasks: " + _counts(status.tasks) + "\n")
    out.write("files: " + _counts(status.files) + "\n")
    for title, rows in (("pending", status.pending_tasks), ("failed", status.failed_tasks)):
        for row in rows:
            out.write(f"{title:8} {row['task_id']}  {row['error']}\n".rstrip() + "\n")
    for dead in status.dead_assets:
        out.write(f"dead     {dead['task_id']} clip {dead['clip_id']} {dead['kind']}: "
                  f"{dead['reason']} ({dead['runs']} runs)\n")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "none"


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"

