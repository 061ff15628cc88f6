"""Test helpers: `make_clip` builds a complete `Clip`; the rest reads media back with tools that
are independent of mutagen (ffprobe, ffmpeg, eyeD3, tinytag)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eyed3
import pytest

from archiver.models import Asset, AssetKind, AssetState, Clip, ClipStatus

__all__ = [
    "DEMO_VIDEO",
    "decode_errors",
    "demo_video",
    "eyed3_tag",
    "ffprobe",
    "format_tags",
    "make_clip",
    "require_tool",
    "stream_md5",
]

CLIP_ID = "0f6e1c2a-5b7d-4e3f-9a8b-1c2d3e4f5a6b"
# (title, artist, album artist, album, genre) as every reader must show them for make_clip()
READ_BACK = ("Neon Rain", "synthfan", "synthfan", "Suno", "synthwave, dreamy female vocals")
DESCRIPTION = "a synthwave song about rain at night"
TASK_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
DEMO_VIDEO = Path(__file__).resolve().parent.parent / "sample_tasks" / "media" / "demo.mp4"

_BASE = Clip(
    clip_id=CLIP_ID,
    task_id=TASK_ID,
    index=1,
    status=ClipStatus.COMPLETE,
    title="Neon Rain",
    creator="synthfan",
    style="synthwave, dreamy female vocals",
    lyrics="[Verse]\nNeon rain on the avenue\n\n[Chorus]\nWe glow, we glow",
    description="a synthwave song about rain at night",
    duration=187.4,
    created_at="2024-05-01T12:34:56.789Z",
    created=datetime(2024, 5, 1, 12, 34, 56, 789000, tzinfo=UTC),
    model="chirp-v3-5",
    error="",
    audio=Asset(AssetKind.AUDIO, f"https://cdn1.suno.ai/{CLIP_ID}.mp3", AssetState.READY),
    video=Asset(AssetKind.VIDEO, f"https://cdn1.suno.ai/{CLIP_ID}.mp4", AssetState.READY),
    image=Asset(AssetKind.IMAGE, f"https://cdn2.suno.ai/image_{CLIP_ID}.jpeg", AssetState.READY),
    raw_json="{}",
)


def make_clip(**overrides: Any) -> Clip:
    """A finished clip with every field set; keyword arguments replace fields."""
    return dataclasses.replace(_BASE, **overrides)


def require_tool(name: str) -> str:
    """The path of `name`; skip the test without it, but fail under CI, where it must exist."""
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{name} is required under CI but is not on PATH (apt install ffmpeg)")
    pytest.skip(f"{name} is not installed (apt install ffmpeg); under CI=true this fails")


def ffprobe(path: Path) -> dict[str, Any]:
    command = [require_tool("ffprobe"), "-v", "error", "-print_format", "json"]
    done = subprocess.run(
        [*command, "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == "", done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def format_tags(path: Path) -> dict[str, str]:
    tags: dict[str, str] = ffprobe(path)["format"].get("tags", {})
    return tags


def stream_md5(path: Path, stream: str = "a:0") -> str:
    """The md5 of one stream's packets, as ffmpeg copies them out: unchanged by tagging."""
    ffmpeg = require_tool("ffmpeg")
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy"]
        + ["-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("MD5="), done.stdout
    return done.stdout.strip()


def decode_errors(path: Path) -> str:
    """What ffmpeg complains about while decoding every stream: "" for a clean file."""
    ffmpeg = require_tool("ffmpeg")
    done = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return done.stderr + ("" if done.returncode == 0 else f"exit status {done.returncode}")


def eyed3_tag(path: Path) -> Any:
    logging.getLogger("eyed3").setLevel(logging.ERROR)  # it warns about non-standard genres
    audio = eyed3.load(str(path))
    assert audio is not None and audio.tag is not None, f"eyeD3 finds no tag in {path}"
    return audio.tag


def demo_video(directory: Path) -> Path:
    """A real H.264 + AAC mp4 (ffmpeg layout: moov first, udta after the tracks) in `directory`.

    The committed fixture if there is one, else made with ffmpeg as TAGGING.md describes."""
    target = directory / "demo.mp4"
    if DEMO_VIDEO.is_file():
        shutil.copyfile(DEMO_VIDEO, target)
        return target
    ffmpeg = require_tool("ffmpeg")
    lavfi = ["-f", "lavfi", "-i"]
    subprocess.run(
        [ffmpeg, "-v", "error", *lavfi, "testsrc2=size=320x240:rate=15:duration=3"]
        + [*lavfi, "sine=duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
        + ["-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart"]
        + [str(target)],
        check=True,
    )
    return target
