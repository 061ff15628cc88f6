"""How a run talks: a Reporter protocol with a text (tqdm) and a JSON-lines implementation.

Progress and human messages go to stderr. With `--json`, stdout carries only JSON objects, one
a line. Off a terminal, only warnings, errors and the summary are printed.
"""

from __future__ import annotations

import enum
import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:  # imported when a bar is first drawn: tqdm costs ~50 ms of start-up
    from tqdm import tqdm

__all__ = ["Event", "JsonReporter", "Level", "Reporter", "TextReporter", "Transfer"]


class Level(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2
    SUMMARY = 3


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # task_fetched, file_saved, file_dead, task_failed, ..., summary
    level: Level
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


class Transfer(Protocol):
    def update(self, count: int) -> None: ...

    def close(self) -> None: ...


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...

    def transfer(self, label: str, total: int | None) -> Transfer: ...

    def close(self) -> None: ...


class _NoTransfer:
    def update(self, count: int) -> None:
        return None

    def close(self) -> None:
        return None


class TextReporter:
    """Human output on stderr: bars on a terminal; warnings, errors and a summary off it."""

    def __init__(
        self, stream: TextIO | None = None, *, quiet: bool = False, bars: bool | None = None
    ) -> None:
        self._stream = stream or sys.stderr
        self._quiet = quiet
        tty = self._stream.isatty()
        self._bars = (tty if bars is None else bars) and not quiet
        self._chatty = tty and not quiet
        self._total: tqdm[Any] | None = None

    def emit(self, event: Event) -> None:
        if event.level is Level.SUMMARY:
            self.close()  # the summary is the last line, below the finished bars
        if not self._wants(event.level):
            return
        prefix = {Level.WARNING: "warning: ", Level.ERROR: "error: "}.get(event.level, "")
        line = prefix + event.message
        if self._total is not None:
            self._total.write(line, file=self._stream)
        else:
            print(line, file=self._stream, flush=True)

    def _wants(self, level: Level) -> bool:
        if self._quiet:
            return level is Level.ERROR
        return level is not Level.INFO or self._chatty

    def transfer(self, label: str, total: int | None) -> Transfer:
        if not self._bars:
            return _NoTransfer()
        if self._total is None:
            from tqdm import tqdm

            self._total = tqdm(desc="total", unit="B", unit_scale=True, unit_divisor=1024,
                               file=self._stream, position=0, dynamic_ncols=True)
        return _Bar(self._total, label, total, self._stream)

    def close(self) -> None:
        if self._total is not None:
            self._total.close()
            self._total = None


class _Bar:
    def __init__(self, overall: tqdm[Any], label: str, total: int | None, stream: TextIO) -> None:
        self._overall = overall
        self._bar = type(overall)(desc=label[:40], total=total, unit="B", unit_scale=True,
                         unit_divisor=1024, file=stream, leave=False, dynamic_ncols=True)

    def update(self, count: int) -> None:
        self._bar.update(count)
        self._overall.update(count)

    def close(self) -> None:
        self._bar.close()


class JsonReporter(TextReporter):
    """Every event as one JSON object a line on stdout; warnings, errors, summary also as text."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *,
                 quiet: bool = False) -> None:
        super().__init__(err, quiet=quiet, bars=False)
        self._out = out or sys.stdout

    def emit(self, event: Event) -> None:
        record = {"event": event.name, "level": event.level.name.lower(),
                  "message": event.message, **event.fields}
        self._out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._out.flush()
        if event.level >= Level.WARNING:  # and the summary: the human text stays on stderr
            super().emit(event)
