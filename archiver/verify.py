"""`suno-archiver verify [--repair]`: every file re-hashed against the manifest.

A missing, truncated or changed file is named (exit 1). `--repair` moves a changed file aside
(to `.suno-archiver/replaced/`, never deleting what the user had), marks its manifest row as
pending again, and archives those tasks once more from the stored task JSON (asking PiAPI only
for fresh URLs if the stored ones are dead); exit 0 once every file matches again.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .config import Config
from .fileops import digest
from .inputs import Inputs
from .lock import ArchiveLock
from .manifest import STATE_DIR, FileRow, Manifest, require_archive
from .progress import Reporter
from .run import run_archive

__all__ = ["Problem", "check_files", "run_verify", "set_aside"]


@dataclass(frozen=True, slots=True)
class Problem:
    row: FileRow
    task_id: str
    what: str  # missing / truncated / changed

    def line(self) -> str:
        return f"{self.what:9} {self.row.path}"


def check_files(dest: Path, manifest: Manifest) -> Iterator[Problem | FileRow]:
    """Yield each `done` file: its row when it matches, else the Problem."""
    for row, task_id in manifest.done_files():
        what = _compare(dest / (row.path or ""), row)
        yield row if what is None else Problem(row, task_id, what)


def _compare(path: Path, row: FileRow) -> str | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if row.size is not None and size < row.size:
        return "truncated"
    if size != row.size or digest(path)[1] != row.sha256:
        return "changed"
    return None


def set_aside(dest: Path, problem: Problem) -> Path | None:
    """Move a damaged or changed file out of the way (kept, not deleted); None if missing."""
    source = dest / (problem.row.path or "")
    if problem.what == "missing" or not source.exists():
        return None
    target = dest / STATE_DIR / "replaced" / time.strftime("%Y%m%d-%H%M%S") / (
        problem.row.path or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def run_verify(config: Config, repair: bool, reporter: Reporter, out: TextIO) -> int:
    """Check every file; with `repair`, fetch the bad ones again. The exit status."""
    require_archive(config.dest)
    problems = _report(config.dest, out)
    if not problems or not repair:
        return 1 if problems else 0
    with ArchiveLock(config.dest / STATE_DIR / "lock"):
        manifest = Manifest.open(config.dest)
        try:
            for problem in problems:
                kept = set_aside(config.dest, problem)
                if kept is not None:
                    out.write(f"kept the {problem.what} file as {kept}\n")
                manifest.reopen_file(problem.row.clip_id, problem.row.kind, problem.task_id)
        finally:
            manifest.close()
    tasks = tuple(dict.fromkeys(problem.task_id for problem in problems))
    run_archive(config, Inputs(stored=tasks), reporter)
    out.write("after repair:\n")
    return 1 if _report(config.dest, out) else 0


def _report(dest: Path, out: TextIO) -> list[Problem]:
    manifest = Manifest.open_to_read(dest)
    try:
        results = list(check_files(dest, manifest))
    finally:
        manifest.close()
    problems = [item for item in results if isinstance(item, Problem)]
    for problem in problems:
        out.write(problem.line() + "\n")
    counts = Counter(problem.what for problem in problems)
    detail = "".join(f", {count} {what}" for what, count in sorted(counts.items()))
    out.write(f"verified {len(results)} files: {len(results) - len(problems)} ok{detail}\n")
    return problems
