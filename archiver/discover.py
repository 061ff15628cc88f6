"""`suno-archiver discover`: task IDs from the account's history, for people who lost theirs.

PiAPI documents the request (`GET /api/open/tasks/histories`, `page` from 1, `page_size` up to
100, `start_time`/`end_time` in Unix seconds) but not the answer. The documented wrapper is
`{"data": {"data": [task, ...], "page", "size", "total"}}`; any list of objects that carry a
`task_id` is accepted. Paging stops on an empty page, at `total`, or after `max_pages`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from .api import PiAPI
from .clients import http_client
from .config import Config
from .errors import ArchiverError, TaskError, UsageError
from .inputs import is_task_id
from .parse import parse_timestamp

__all__ = ["DiscoverError", "Found", "discover", "parse_date", "print_found", "run_discover"]

PAGE_SIZE = 100
MUSIC_MODELS = frozenset({"suno", "music-s", "music-u", "udio", "suno-v3", "music"})
_WRAPPER_KEYS = ("data", "list", "items", "tasks", "records", "rows", "histories")


class DiscoverError(ArchiverError):
    """The history could not be read; exit 1."""


@dataclass(frozen=True, slots=True)
class Found:
    task_id: str
    model: str
    task_type: str
    created: str
    status: str

    def line(self) -> str:
        details = " ".join(value or "-" for value in (self.model, self.task_type, self.created,
                                                       self.status))
        return f"{self.task_id}  # {details}"


def parse_date(text: str, *, end_of_day: bool = False) -> int:
    """Unix seconds from `YYYY-MM-DD` (UTC) or an ISO 8601 date-time."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(moment.timestamp())
    is_day = len(text.strip()) == 10
    return seconds + 86_399 if end_of_day and is_day else seconds


async def discover(
    api: PiAPI, *, since: int | None = None, until: int | None = None,
    models: frozenset[str] = frozenset(), max_pages: int = 1000,
) -> list[Found]:
    """Every music task in the history, newest first, each once."""
    found: dict[str, Found] = {}
    for page in range(1, max_pages + 1):
        items, total = await _page(api, page, since, until)
        if not items:
            break
        for item in items:
            entry = _entry(item)
            if entry and entry.task_id not in found and _wanted(entry, models, since, until):
                found[entry.task_id] = entry
        if total is not None and page * PAGE_SIZE >= total:
            break
    return sorted(found.values(), key=lambda entry: entry.created, reverse=True)


async def _page(
    api: PiAPI, page: int, since: int | None, until: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    try:
        payload = await api.get_history(page, PAGE_SIZE, since, until)
    except TaskError as exc:
        raise DiscoverError(f"task history, page {page}: {exc.reason}") from None
    items = list(_task_objects(payload, depth=3))
    if not items and not _is_empty_page(payload):
        shown = json.dumps(payload, ensure_ascii=False)[:120]
        raise DiscoverError(f"task history, page {page}: no tasks in the answer: {shown}")
    return items, _total(payload)


def _task_objects(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    """Objects with a task_id, in the list the wrapper holds (tolerant of the shape)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and "task_id" in item:
                yield item
            elif depth > 0:
                yield from _task_objects(item, depth - 1)
    elif isinstance(value, dict) and depth > 0:
        for key in _WRAPPER_KEYS:
            if key in value:
                yield from _task_objects(value[key], depth - 1)


def _is_empty_page(payload: Any) -> bool:
    """An answer that is plainly a page with nothing on it (the end of the history)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if data in (None, [], {}):
        return True
    if isinstance(data, dict):
        return any(data[key] in ([], None) for key in _WRAPPER_KEYS if key in data)
    return False


def _total(payload: Any) -> int | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    total = data.get("total") if isinstance(data, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _entry(item: dict[str, Any]) -> Found | None:
    task_id = item.get("task_id")
    if not isinstance(task_id, str) or not is_task_id(task_id):
        return None
    raw_meta = item.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    created = _text(meta.get("created_at")) or _text(item.get("created_at"))
    return Found(task_id.lower(), _text(item.get("model")).lower(),
                 _text(item.get("task_type")), created, _text(item.get("status")).lower())


def _wanted(entry: Found, models: frozenset[str], since: int | None, until: int | None) -> bool:
    """A music task (or one of `models`), made in the period when its date is known.

    The period is also sent to PiAPI; it is checked here too in case the server ignores it.
    """
    created = parse_timestamp(entry.created)
    if created is not None and not (since or 0) <= created.timestamp() <= (until or 2**40):
        return False
    if models:
        return entry.model in models
    return entry.model in MUSIC_MODELS or "music" in entry.task_type.lower()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def print_found(found: list[Found], out: TextIO) -> None:
    for entry in found:
        out.write(entry.line() + "\n")
    out.flush()


async def _discover_with_client(config: Config, since: int | None, until: int | None,
                                models: frozenset[str], max_pages: int) -> list[Found]:
    async with http_client(None, follow=False, connections=config.api_jobs) as client:
        api = PiAPI(client, config.base_url, config.key.resolve(), jobs=config.api_jobs,
                    rate=config.api_rate)
        return await discover(api, since=since, until=until, models=models,
                              max_pages=max_pages)


def run_discover(config: Config, since: str | None, until: str | None, models: list[str],
                 max_pages: int, out: TextIO) -> list[Found]:
    """Find and print the music tasks; the caller archives them with --archive."""
    start = parse_date(since) if since else None
    end = parse_date(until, end_of_day=True) if until else None
    wanted = frozenset(model.lower() for model in models)
    found = asyncio.run(_discover_with_client(config, start, end, wanted, max_pages))
    print_found(found, out)
    return found
