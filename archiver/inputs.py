"""Task IDs from arguments, `-i` files (or stdin) and saved task JSON, de-duplicated."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import InputFileError, InputLineError, UsageError

__all__ = ["Inputs", "TASK_ID", "is_task_id", "read_inputs"]

TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def is_task_id(text: str) -> bool:
    return TASK_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Inputs:
    task_ids: tuple[str, ...] = ()  # to fetch from the API, in order of first mention
    saved: tuple[tuple[str, Any], ...] = ()  # (task id, payload) from --from-json: no API call
    errors: tuple[InputLineError, ...] = field(default=())
    stored: tuple[str, ...] = ()  # archive again from the manifest's task JSON (verify --repair)

    def __len__(self) -> int:
        return len(self.task_ids) + len(self.saved) + len(self.stored)


def read_inputs(
    args: Sequence[str],
    files: Sequence[str] = (),
    json_files: Sequence[str] = (),
    stdin: TextIO | None = None,
) -> Inputs:
    """Collect every task; a malformed line is kept as an error while the rest goes on.

    An unreadable file is a usage error: the user named it, and running without it would
    silently archive less than they asked for.
    """
    errors: list[InputLineError] = []
    saved = dict(_saved_tasks(json_files, errors))
    ids: dict[str, None] = {}
    lines = _numbered(args, files, stdin)
    for source, number, text in lines:
        if is_task_id(text):
            if text.lower() not in saved:
                ids.setdefault(text.lower())
        else:
            errors.append(InputLineError(source, number, text))
    return Inputs(tuple(ids), tuple(saved.items()), tuple(errors))


def _numbered(
    args: Sequence[str], files: Sequence[str], stdin: TextIO | None
) -> Iterator[tuple[str, int, str]]:
    for position, arg in enumerate(args, start=1):
        yield "argument", position, arg.strip()
    for name in files:
        yield from _file_lines(name, stdin)


def _file_lines(name: str, stdin: TextIO | None) -> Iterator[tuple[str, int, str]]:
    if name == "-":
        if stdin is None:
            raise UsageError("-i -: no standard input to read")
        yield from _lines("<stdin>", _decoded(stdin))
        return
    try:
        with open(name, encoding="utf-8", errors="replace") as handle:
            yield from _lines(name, handle)
    except OSError as exc:
        raise UsageError(f"{name}: cannot read input file: {exc.strerror or exc}") from None


def _decoded(stdin: TextIO) -> Iterable[str]:
    """Standard input's lines, bytes that are not UTF-8 replaced (as for files) rather than a
    UnicodeDecodeError half-way, whatever the locale made of sys.stdin."""
    binary = getattr(stdin, "buffer", None)
    if binary is None:
        return stdin
    return (line.decode("utf-8", "replace") for line in binary)


def _lines(source: str, handle: Iterable[str]) -> Iterator[tuple[str, int, str]]:
    for number, line in enumerate(handle, start=1):
        text = line.split("#", 1)[0].strip().lstrip("\ufeff")
        if text:
            yield source, number, text


def _saved_tasks(names: Sequence[str], errors: list[InputLineError]) -> Iterator[tuple[str, Any]]:
    for name in names:
        try:  # utf-8-sig: a byte order mark (Windows editors add one) is not an error
            payload = json.loads(Path(name).read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise UsageError(f"{name}: cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:  # not UTF-8, not JSON, or a number too long to convert
            errors.append(InputFileError(name, f"not JSON ({_shortened(str(exc))})"))
            continue
        except RecursionError:
            errors.append(InputFileError(name, "not JSON this program can read (nested too "
                                               "deeply)"))
            continue
        payloads = payload if isinstance(payload, list) else [payload]
        for index, item in enumerate(payloads, start=1):
            task_id = _embedded_task_id(item)
            if task_id is None:
                where = f"{name}[{index}]" if isinstance(payload, list) else name
                errors.append(InputFileError(where, "no task (expected a Get Task response "
                                                    "or webhook payload with data.task_id)"))
            else:
                yield task_id, item


def _embedded_task_id(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    data = payload.get("data") if isinstance(payload.get("data"), dict) else payload
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id.lower() if isinstance(task_id, str) and is_task_id(task_id) else None


def _shortened(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
