"""What every stage of a run shares: config, I/O objects (injected), counters, reporting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .download import Downloader
from .manifest import Manifest
from .progress import Event, Level, Reporter

__all__ = ["RunContext", "RunStats"]


@dataclass(slots=True)
class RunStats:
    clips_archived: int = 0  # clips of the named tasks that are fully archived
    clips_new: int = 0  # clips that gained a file in this run
    files_saved: int = 0
    tasks_pending: int = 0
    tasks_failed: int = 0
    dead_assets: int = 0
    errors: int = 0

    def line(self) -> str:
        return (
            f"archived {self.clips_archived} clip{_s(self.clips_archived)} "
            f"({self.clips_new} new), {self.tasks_pending} task{_s(self.tasks_pending)} pending, "
            f"{self.dead_assets} dead asset{_s(self.dead_assets)}, "
            f"{self.errors} error{_s(self.errors)}"
        )

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


def _s(count: int) -> str:
    return "" if count == 1 else "s"


@dataclass(slots=True)
class RunContext:
    config: Config
    manifest: Manifest
    reporter: Reporter
    downloader: Downloader
    stats: RunStats = field(default_factory=RunStats)
    failed_tasks: list[str] = field(default_factory=list)
    thumbnails: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    taggers: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    def info(self, name: str, message: str, **fields: Any) -> None:
        self.reporter.emit(Event(name, Level.INFO, message, fields))

    def warn(self, name: str, message: str, **fields: Any) -> None:
        self.reporter.emit(Event(name, Level.WARNING, message, fields))

    def error(self, name: str, message: str, **fields: Any) -> None:
        """An error counts towards exit status 1 and names its task for --error-file."""
        self.stats.errors += 1
        task_id = fields.get("task_id")
        if isinstance(task_id, str) and task_id not in self.failed_tasks:
            self.failed_tasks.append(task_id)
        self.reporter.emit(Event(name, Level.ERROR, message, fields))
