"""What the benchmark set is made of: sizes, counts and stable ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

__all__ = [
    "BIG_MP3_BYTES",
    "CLIPS_PER_TASK",
    "MP3_FRAME_SECONDS",
    "MP4_SECONDS",
    "NOOP_TASKS",
    "TASKS",
    "ClipSpec",
    "bench_clips",
    "bench_id",
    "bench_tasks",
    "frames_for",
]

TASKS = 10
CLIPS_PER_TASK = 2
MP3_FRAME_SECONDS = 1152 / 48_000  # one MPEG-1 Layer III frame at 48 kHz
MP3_SECONDS = (1240.0, 1360.0)  # ~4.8 to ~5.3 MiB, spread over the clips
MP4_SECONDS = 1300.0  # within 5 % of every mp3, so a ±10 % duration check passes
BIG_MP3_BYTES = 1 << 30
NOOP_TASKS = 10_000

_NAMESPACE = uuid.UUID("6f1d3c1e-9a57-4c39-8d0e-5b2a7f3e41c0")


def bench_id(name: str) -> str:
    """A stable UUID for `name`, so the cached media keep their names between runs."""
    return str(uuid.uuid5(_NAMESPACE, name))


def frames_for(seconds: float) -> int:
    return max(round(seconds / MP3_FRAME_SECONDS), 1)


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """One clip of a served task: its id, title, true length and media paths on the CDN."""

    clip_id: str
    title: str
    seconds: float  # the mp3's true length, also claimed as `metadata.duration`
    mp3: str  # path on the CDN server, e.g. "media/<id>.mp3"
    mp4: str
    cover: str

    @property
    def paths(self) -> tuple[str, str, str]:
        return self.mp3, self.mp4, self.cover


def bench_clips() -> list[ClipSpec]:
    """The 20 clips of the download scenarios (10 tasks of 2 clips)."""
    count = TASKS * CLIPS_PER_TASK
    low, high = MP3_SECONDS
    clips = []
    for n in range(count):
        clip_id = bench_id(f"clip-{n}")
        frames = frames_for(low + (high - low) * n / (count - 1))
        clips.append(ClipSpec(
            clip_id=clip_id,
            title=f"Bench Song {n + 1:02d}",
            seconds=round(frames * MP3_FRAME_SECONDS, 3),
            mp3=f"media/{clip_id}.mp3",
            mp4=f"media/{clip_id}.mp4",
            cover=f"media/image_large_{clip_id}.jpeg",
        ))
    return clips


def bench_tasks() -> dict[str, list[ClipSpec]]:
    """Task id → its clips, for the download scenarios."""
    clips = bench_clips()
    return {
        bench_id(f"task-{t}"): clips[t * CLIPS_PER_TASK:(t + 1) * CLIPS_PER_TASK]
        for t in range(TASKS)
    }
