"""Get Task responses (shape A: `data.output.clips` keyed by clip id) for nginx to serve.

nginx serves them as static files at `/api/v1/task/<task_id>`; their asset URLs point at the
CDN server, whose port is only known at run time, so they are written per run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .media import TINY_SECONDS
from .spec import ClipSpec, bench_id

__all__ = ["noop_tasks", "task_payload", "write_tasks"]

_CREATED = "2024-09-21T09:43:21.637Z"
_LYRICS = "[Verse]\nStreetlights hum along the bay\n\n[Chorus]\nNeon harbor, hold me tight\n"


def task_payload(task_id: str, clips: Sequence[ClipSpec], cdn_url: str) -> dict[str, Any]:
    """A completed Get Task response for `clips`, as PiAPI sends it."""
    return {
        "code": 200,
        "message": "success",
        "data": {
            "task_id": task_id,
            "model": "suno",
            "task_type": "generate_music",
            "status": "completed",
            "config": {"service_mode": "public", "webhook_config": {"endpoint": "", "secret": ""}},
            "input": {"gpt_description_prompt": "a benchmark song", "model_version": "chirp-v3-5"},
            "output": {"clips": {clip.clip_id: _clip(clip, cdn_url) for clip in clips}},
            "meta": {"created_at": "2024-09-21T09:42:58.413027391Z",
                     "ended_at": "2024-09-21T09:45:12.866301945Z"},
            "detail": None,
            "logs": [],
            "error": {"code": 0, "raw_message": "", "message": "", "detail": None},
        },
    }


def _clip(clip: ClipSpec, cdn_url: str) -> dict[str, Any]:
    return {
        "id": clip.clip_id,
        "video_url": f"{cdn_url}/{clip.mp4}",
        "audio_url": f"{cdn_url}/{clip.mp3}",
        "image_url": f"{cdn_url}/{clip.cover}",
        "image_large_url": f"{cdn_url}/{clip.cover}",
        "is_video_pending": False,
        "major_model_version": "v3.5",
        "model_name": "chirp-v3-5",
        "metadata": {
            "tags": "synthpop, dreamy, upbeat",
            "prompt": _LYRICS,
            "gpt_description_prompt": "a benchmark song",
            "type": "gen",
            "duration": clip.seconds,
            "stream": True,
            "error_type": "",
            "error_message": "",
        },
        "display_name": "Bench",
        "handle": "bench",
        "created_at": _CREATED,
        "status": "complete",
        "title": clip.title,
        "is_public": False,
    }


def write_tasks(
    root: Path, tasks: Mapping[str, Sequence[ClipSpec]], cdn_url: str
) -> list[str]:
    """Write each task under `root/api/v1/task/<id>`; return the task ids in order."""
    folder = root / "api" / "v1" / "task"
    folder.mkdir(parents=True, exist_ok=True)
    for task_id, clips in tasks.items():
        body = json.dumps(task_payload(task_id, clips, cdn_url), separators=(",", ":"))
        (folder / task_id).write_text(body, encoding="utf-8")
    return list(tasks)


def noop_tasks(count: int, clips_per_task: int) -> dict[str, list[ClipSpec]]:
    """`count` small tasks whose clips all point at the tiny mp3, mp4 and cover.

    Each clip gets its own URL (`tiny/<clip_id>.<ext>`); nginx answers every one of them with
    the same small file.
    """
    tasks: dict[str, list[ClipSpec]] = {}
    for t in range(count):
        clips = []
        for c in range(clips_per_task):
            clip_id = bench_id(f"noop-{t}-{c}")
            clips.append(ClipSpec(
                clip_id=clip_id,
                title=f"Tiny {t:05d}-{c}",
                seconds=TINY_SECONDS,
                mp3=f"tiny/{clip_id}.mp3",
                mp4=f"tiny/{clip_id}.mp4",
                cover=f"tiny/{clip_id}.jpeg",
            ))
        tasks[bench_id(f"noop-task-{t}")] = clips
    return tasks

