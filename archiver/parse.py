"""PiAPI's JSON → models. The only module that knows the shapes listed in PIAPI.md.

Accepted: the Get Task envelope `{"code", "data", "message"}`, a webhook payload
`{"timestamp", "data"}`, or a bare `data` object; clips at `data.output.clips` (object or
list), `data.output` as a list, Udio's `data.output.songs`, and the legacy `data.clips`.
Every read is tolerant of missing keys and wrong types; what cannot be understood raises
`BadResponse` naming the task, never `KeyError`.

The payload is cleaned once, before anything reads it: secrets redacted, and the lone
surrogates that a JSON `\\ud800` escape can put in a string replaced with U+FFFD (no UTF-8
file, tag or SQLite row can hold them). A clip listed twice is kept once; two different clips
under one id make the task a `BadResponse` (their files would share one name).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import BadResponse, TaskNotFound
from .models import Asset, AssetKind, AssetState, Clip, ClipStatus, Task, TaskStatus
from .redact import redact
from .urls import never_download_reason

__all__ = ["parse_task", "parse_timestamp", "task_data"]

_GO_ZERO_YEAR = 1
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def task_data(payload: object, task_id: str) -> dict[str, Any]:
    """The `data` object of a response or webhook payload; raises for 'not found' envelopes."""
    if not isinstance(payload, dict):
        raise BadResponse(task_id, f"expected a JSON object, got {type(payload).__name__}")
    if "data" not in payload and "task_id" in payload:
        return payload  # a bare data object, e.g. saved by another tool
    data = payload.get("data")
    if isinstance(data, dict) and data:
        return data
    message = _text(payload.get("message")) or "no data"
    if data is None or data == {}:
        raise TaskNotFound(task_id, f"task not found ({message}, code {payload.get('code')})")
    raise BadResponse(task_id, f"unexpected 'data' of type {type(data).__name__}")


def parse_task(payload: object, task_id: str = "") -> Task:
    """Turn a Get Task response (or webhook payload) into a `Task`."""
    try:
        cleaned, raw_json = _cleaned(payload)
    except RecursionError:
        raise BadResponse(task_id or "?", "JSON nested too deeply to read") from None
    data = task_data(cleaned, task_id or "?")
    real_id = _text(data.get("task_id")) or task_id
    if not real_id:
        raise BadResponse("?", "response has no task_id")
    if task_id and real_id.lower() != task_id.lower():
        raise BadResponse(task_id, f"API answered with another task ({real_id})")
    status = TaskStatus.parse(data.get("status"))
    raw_clips = list(_raw_clips(data, real_id, status))
    clips = _distinct(
        (_clip(obj, key, real_id, index, status, _text(data.get("model")))
         for index, (key, obj) in enumerate(raw_clips, start=1)),
        real_id,
    )
    return Task(
        task_id=real_id.lower(),
        model=_text(data.get("model")),
        task_type=_text(data.get("task_type")),
        status=status,
        status_text=_text(data.get("status")),
        clips=clips,
        error=_task_error(data) if status is TaskStatus.FAILED else "",
        raw_json=raw_json,
    )


def _cleaned(payload: object) -> tuple[Any, str]:
    """The payload redacted and free of lone surrogates, and its JSON text."""
    redacted = redact(payload)
    text = json.dumps(redacted, ensure_ascii=False, sort_keys=True)
    if _LONE_SURROGATE.search(text) is None:
        return redacted, text
    scrubbed = _scrub(redacted)
    return scrubbed, json.dumps(scrubbed, ensure_ascii=False, sort_keys=True)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub(key): _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _distinct(clips: Iterable[Clip], task_id: str) -> tuple[Clip, ...]:
    """Each clip once; the same id on two different clips is an error, not a coin toss."""
    seen: dict[str, Clip] = {}
    for clip in clips:
        first = seen.setdefault(clip.clip_id, clip)
        if first is not clip and first.raw_json != clip.raw_json:
            raise BadResponse(task_id, f"two different clips have the id {clip.clip_id!r}")
    return tuple(seen.values())


def _task_error(data: Mapping[str, Any]) -> str:
    error = data.get("error")
    if isinstance(error, dict):
        for key in ("message", "raw_message", "detail"):
            if text := _text(error.get(key)):
                return text
    return _text(data.get("detail")) or "PiAPI reports the task as failed (no reason given)"


def _raw_clips(
    data: Mapping[str, Any], task_id: str, status: TaskStatus
) -> Iterator[tuple[str, Any]]:
    output = data.get("output")
    if isinstance(output, list):
        yield from _keyed(output)
        return
    if isinstance(output, dict) and ("clips" in output or "songs" in output):
        yield from _keyed(output.get("clips") or output.get("songs") or [])
        return
    if "clips" in data:  # the legacy /api/suno/v1/music endpoint
        yield from _keyed(data.get("clips") or [])
        return
    if status is TaskStatus.COMPLETED and output not in (None, {}, [], ""):
        shape = f"keys: {sorted(output)[:6]}" if isinstance(output, dict) else (
            f"a {type(output).__name__}")
        raise BadResponse(task_id, f"unknown output shape ({shape})")


def _keyed(container: object) -> Iterator[tuple[str, Any]]:
    if isinstance(container, dict):
        yield from ((str(key), value) for key, value in container.items())
    elif isinstance(container, list):
        yield from (("", value) for value in container)


def _clip(
    obj: object, key: str, task_id: str, index: int, task_status: TaskStatus, task_model: str
) -> Clip:
    if not isinstance(obj, dict):
        raise BadResponse(task_id, f"clip {index} is {type(obj).__name__}, not an object")
    if "song_path" in obj or "finished" in obj:
        return _udio_clip(obj, task_id, index, task_status, task_model)
    metadata = obj.get("metadata")
    meta: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
    clip_id = _text(obj.get("id")) or key
    if not clip_id:
        raise BadResponse(task_id, f"clip {index} has no id")
    status = _clip_status(obj.get("status"), task_status, bool(obj))
    error = _text(meta.get("error_message")) or _text(meta.get("error_type"))
    created_at = _text(obj.get("created_at"))
    image = _first_usable(obj.get("image_large_url"), obj.get("image_url"))
    return Clip(
        clip_id=clip_id,
        task_id=task_id,
        index=index,
        status=status,
        title=_text(obj.get("title")),
        creator=_first_text(obj, "display_name", "user_display_name", "handle", "user_handle"),
        style=_text(meta.get("tags")),
        lyrics=_text(meta.get("prompt")),
        description=_text(meta.get("gpt_description_prompt")),
        duration=_seconds(meta.get("duration")),
        created_at=created_at,
        created=parse_timestamp(created_at),
        model=_text(obj.get("model_name")) or _text(obj.get("major_model_version")),
        error=error if status is ClipStatus.ERROR else "",
        audio=_asset(AssetKind.AUDIO, obj.get("audio_url"), status, error),
        video=_video(obj, status, error),
        image=_asset(AssetKind.IMAGE, image, status, error),
        raw_json=_dump(obj),
    )


def _udio_clip(
    obj: Mapping[str, Any], task_id: str, index: int, task_status: TaskStatus, model: str
) -> Clip:
    finished = obj.get("finished")
    status = ClipStatus.COMPLETE if finished or finished is None else ClipStatus.QUEUED
    tags = obj.get("tags")
    style = ", ".join(map(str, tags)) if isinstance(tags, list) else _text(tags)
    clip_id = _text(obj.get("id"))
    if not clip_id:
        raise BadResponse(task_id, f"song {index} has no id")
    return Clip(
        clip_id=clip_id,
        task_id=task_id,
        index=index,
        status=status,
        title=_text(obj.get("title")),
        creator="",
        style=style,
        lyrics=_text(obj.get("lyrics")),
        description=_text(obj.get("prompt")),
        duration=_seconds(obj.get("duration")),
        created_at="",
        created=None,
        model=model,
        error="",
        audio=_asset(AssetKind.AUDIO, obj.get("song_path"), status, ""),
        video=Asset(AssetKind.VIDEO, "", AssetState.ABSENT, "Udio songs have no video"),
        image=_asset(AssetKind.IMAGE, obj.get("image_path"), status, ""),
        raw_json=_dump(obj),
    )


def _clip_status(raw: object, task_status: TaskStatus, has_fields: bool) -> ClipStatus:
    status = ClipStatus.parse(raw)
    if status is ClipStatus.UNKNOWN and task_status is TaskStatus.COMPLETED and has_fields:
        return ClipStatus.COMPLETE  # older responses omit the clip status once done
    return status


def _asset(kind: AssetKind, url: object, status: ClipStatus, error: str) -> Asset:
    text = _text(url)
    if status is ClipStatus.ERROR:
        return Asset(kind, text, AssetState.ABSENT, f"clip errored on Suno: {error or 'no reason'}")
    problem = never_download_reason(text)
    if problem is None:
        if status is ClipStatus.COMPLETE:
            return Asset(kind, text.strip(), AssetState.READY)
        return Asset(kind, text, AssetState.WAITING, f"clip is {status.value}")
    if status is not ClipStatus.COMPLETE or "streaming" in problem:
        return Asset(kind, text, AssetState.WAITING, problem)
    return Asset(kind, text, AssetState.ABSENT, problem)


def _video(obj: Mapping[str, Any], status: ClipStatus, error: str) -> Asset:
    if obj.get("is_video_pending") is True and status is not ClipStatus.ERROR:
        return Asset(AssetKind.VIDEO, _text(obj.get("video_url")), AssetState.WAITING,
                     "video still rendering")
    return _asset(AssetKind.VIDEO, obj.get("video_url"), status, error)


def _first_usable(*urls: object) -> str:
    texts = [_text(url) for url in urls]
    return next((t for t in texts if never_download_reason(t) is None), texts[-1] or texts[0])


def _first_text(obj: Mapping[str, Any], *keys: str) -> str:
    return next((text for key in keys if (text := _text(obj.get(key)))), "")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and 0 < seconds < 86_400 else None


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 (with up to nanoseconds) or the naive `YYYY-MM-DD HH:MM:SS` form, as UTC."""
    cleaned = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in cleaned:  # Python parses at most microseconds; PiAPI sends nanoseconds
        head, _, rest = cleaned.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        cleaned = f"{head}.{rest[:min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if moment.year <= _GO_ZERO_YEAR:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _dump(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)  # redacted with the payload
