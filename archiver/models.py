"""Frozen values passed between the stages. Nothing here knows PiAPI's JSON (see parse.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

__all__ = [
    "Asset",
    "AssetKind",
    "AssetState",
    "Clip",
    "ClipStatus",
    "Task",
    "TaskStatus",
]


_E = TypeVar("_E", bound=enum.Enum)


def _by_value(cls: type[_E], raw: object, unknown: _E) -> _E:
    """The member spelled `raw`, whatever its case and surrounding space, else `unknown`."""
    text = str(raw or "").strip().lower()
    return next((member for member in cls if member.value == text), unknown)


class TaskStatus(enum.Enum):
    """PiAPI's task status; the docs capitalise it, real responses do not."""

    COMPLETED = "completed"
    PROCESSING = "processing"
    PENDING = "pending"
    STAGED = "staged"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> TaskStatus:
        return _by_value(cls, raw, cls.UNKNOWN)

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)


class ClipStatus(enum.Enum):
    """Suno's clip status, passed through by PiAPI."""

    SUBMITTED = "submitted"
    QUEUED = "queued"
    STREAMING = "streaming"
    COMPLETE = "complete"
    ERROR = "error"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> ClipStatus:
        return _by_value(cls, raw, cls.UNKNOWN)


class AssetKind(enum.Enum):
    AUDIO = "audio"
    VIDEO = "video"
    IMAGE = "image"


class AssetState(enum.Enum):
    """Whether an asset can be fetched now, later, or never."""

    READY = "ready"  # a final URL: download it
    WAITING = "waiting"  # not yet (streaming, video pending, clip queued): ask again next run
    ABSENT = "absent"  # never (errored clip, None.mp3, no URL on a finished clip)


@dataclass(frozen=True, slots=True)
class Asset:
    kind: AssetKind
    url: str
    state: AssetState
    reason: str = ""  # why it is not READY, for the user


@dataclass(frozen=True, slots=True)
class Clip:
    """One finished (or unfinished) song of a task, with everything the tags need."""

    clip_id: str
    task_id: str
    index: int  # 1-based position in its task
    status: ClipStatus
    title: str  # "" when Suno gave none; tagging shows "Untitled"
    creator: str
    style: str  # metadata.tags, whole
    lyrics: str  # metadata.prompt; "" for instrumentals
    description: str  # metadata.gpt_description_prompt
    duration: float | None  # seconds, as PiAPI claims it
    created_at: str  # the original string
    created: datetime | None  # parsed, UTC
    model: str
    error: str  # Suno's error message for an errored clip
    audio: Asset
    video: Asset
    image: Asset
    raw_json: str  # the clip's JSON, secrets redacted

    @property
    def id8(self) -> str:
        bare = self.clip_id[2:] if self.clip_id.startswith("m_") else self.clip_id
        return bare[:8]

    @property
    def song_url(self) -> str:
        return f"https://suno.com/song/{self.clip_id}"

    def asset(self, kind: AssetKind) -> Asset:
        return {AssetKind.AUDIO: self.audio, AssetKind.VIDEO: self.video}.get(kind, self.image)


@dataclass(frozen=True, slots=True)
class Task:
    task_id: str
    model: str
    task_type: str
    status: TaskStatus
    status_text: str  # as PiAPI spelled it, for messages about an unknown status
    clips: tuple[Clip, ...]
    error: str  # PiAPI's error message for a failed task, else ""
    raw_json: str  # the whole Get Task response, secrets redacted
