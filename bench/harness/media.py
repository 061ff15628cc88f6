"""The media nginx serves as the CDN, built once into a cache directory.

Real files, so the archiver's content checks and tagging run as they would on Suno's files:
silent MPEG audio frames (archiver.samplemedia), an H.264 + AAC mp4 made with ffmpeg, and
noisy 1500x1500 JPEG covers of about 300 KiB.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops

from archiver.samplemedia import MP3_FRAME, cover_image, silent_m4a, silent_mp3

from .spec import MP4_SECONDS, ClipSpec, bench_clips, frames_for

__all__ = ["BIG_FRAME", "TINY_COVER", "TINY_MP3", "TINY_MP4", "TINY_SECONDS", "ensure_media",
           "write_mp3"]

STAMP = "complete-v1.json"
TINY_MP3 = "tiny/clip.mp3"
TINY_MP4 = "tiny/clip.mp4"
TINY_COVER = "tiny/cover.jpeg"
TINY_SECONDS = 2.0
_CHUNK_BYTES = 8 << 20
# A silent MPEG-1 Layer III frame at 320 kbit/s, 48 kHz, mono (960 bytes, 24 ms), so that a
# 1 GiB file lasts 7.5 hours, a length PiAPI's `duration` can still claim.
BIG_FRAME = b"\xff\xfb\xe4\xc4" + bytes(956)

Log = Callable[[str], None]


def ensure_media(cdn_root: Path, log: Log) -> None:
    """Build the cached set under `cdn_root` unless a complete one is already there."""
    if (cdn_root / STAMP).exists():
        return
    log(f"building the benchmark media in {cdn_root} (once) ...")
    (cdn_root / "media").mkdir(parents=True, exist_ok=True)
    template = cdn_root / "template.mp4"
    if not template.exists():
        _encode_mp4(template, log)
    clips = bench_clips()
    for n, clip in enumerate(clips):
        _build_clip(cdn_root, clip, template, sigma=3.8 + n / max(len(clips) - 1, 1))
    _build_tiny(cdn_root)
    sizes = {path: (cdn_root / path).stat().st_size for clip in clips for path in clip.paths}
    (cdn_root / STAMP).write_text(json.dumps(sizes, indent=1), encoding="utf-8")


def write_mp3(path: Path, frames: int, frame: bytes = MP3_FRAME) -> None:
    """`frames` copies of `frame`, written in chunks (a 1 GiB file never sits in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    per_chunk = max(_CHUNK_BYTES // len(frame), 1)
    with open(path, "wb") as out:
        whole, rest = divmod(frames, per_chunk)
        chunk = frame * per_chunk
        for _ in range(whole):
            out.write(chunk)
        out.write(frame * rest)


def _build_clip(cdn_root: Path, clip: ClipSpec, template: Path, sigma: float) -> None:
    write_mp3(cdn_root / clip.mp3, frames_for(clip.seconds))
    shutil.copyfile(template, cdn_root / clip.mp4)
    (cdn_root / clip.cover).write_bytes(_noisy_cover(clip.clip_id, sigma))


def _noisy_cover(seed: str, sigma: float) -> bytes:
    """A 1500x1500 JPEG whose grain makes it weigh what a Suno cover does (~300 KiB)."""
    size = (1500, 1500)
    picture = Image.open(io.BytesIO(cover_image(seed, size, "JPEG"))).convert("RGB")
    grain = Image.effect_noise(size, sigma).convert("RGB")
    out = io.BytesIO()
    ImageChops.add(picture, grain, offset=-128).save(out, "JPEG", quality=85)
    return out.getvalue()


def _encode_mp4(target: Path, log: Log) -> None:
    """H.264 320x180 10 fps + AAC, MP4_SECONDS long, ~129 kbit/s: about 20 MiB, faststart."""
    log("encoding the ~20 MiB mp4 with ffmpeg (about 15 s, once) ...")
    seconds = str(MP4_SECONDS)
    partial = target.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10",
         "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", seconds,
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-b:v", "124k", "-maxrate", "135k", "-bufsize", "270k",
         "-c:a", "aac", "-b:a", "24k", "-movflags", "+faststart", str(partial)],
        check=True,
    )
    os.replace(partial, target)


def _build_tiny(cdn_root: Path) -> None:
    """The one small mp3, mp4 and ~1 KiB cover every clip of the 10,000 tiny tasks points at."""
    (cdn_root / "tiny").mkdir(exist_ok=True)
    (cdn_root / TINY_MP3).write_bytes(silent_mp3(TINY_SECONDS))
    (cdn_root / TINY_MP4).write_bytes(silent_m4a(TINY_SECONDS))
    (cdn_root / TINY_COVER).write_bytes(cover_image("tiny", (48, 48), "JPEG"))
