"""`suno-archiver retag`: tags re-applied from the stored task JSON, with no network.

For when the mapping or the options changed, or another tool wiped the tags. Each file is
copied to `NAME.part`, tagged there and renamed over the original, like a download; its new
size and hash go into the manifest. The cover comes from the saved image, else from the
picture already embedded in the file.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .config import Config
from .errors import ArchiverError, TaggingError
from .fileops import digest
from .lock import ArchiveLock
from .manifest import STATE_DIR, FileRow, Manifest, require_archive
from .models import AssetKind, Clip
from .parse import parse_task
from .tagging import TagOptions, make_cover, tag_file
from .tagging.embedded import embedded_cover

__all__ = ["RetagResult", "retag_archive", "run_retag"]


@dataclass(frozen=True, slots=True)
class RetagResult:
    tagged: list[str]
    failed: list[str]  # "PATH: reason"


def retag_archive(dest: Path, manifest: Manifest, options: TagOptions) -> RetagResult:
    tagged: list[str] = []
    failed: list[str] = []
    clips: dict[str, dict[str, Clip]] = {}
    for row, task_id in manifest.done_files():
        if row.kind is AssetKind.IMAGE or not row.path:
            continue
        try:
            clip = _clip(manifest, clips, task_id, row.clip_id)
            _retag_one(dest, manifest, row, clip, options)
            tagged.append(row.path)
        except ArchiverError as exc:
            failed.append(f"{row.path}: {exc}")
    return RetagResult(tagged, failed)


def _clip(manifest: Manifest, cache: dict[str, dict[str, Clip]], task_id: str,
          clip_id: str) -> Clip:
    if task_id not in cache:
        stored = manifest.task_json(task_id)
        if stored is None:
            raise TaggingError(f"task {task_id}: no stored task JSON to tag from")
        cache[task_id] = {clip.clip_id: clip for clip in parse_task(json.loads(stored)).clips}
    clip = cache[task_id].get(clip_id)
    if clip is None:
        raise TaggingError(f"clip {clip_id} is not in the stored JSON of task {task_id}")
    return clip


def _retag_one(dest: Path, manifest: Manifest, row: FileRow, clip: Clip,
               options: TagOptions) -> None:
    final = dest / (row.path or "")
    part = final.with_name(final.name + ".part")
    cover = _cover(dest, manifest, clip, final)
    try:
        shutil.copyfile(final, part)
        tag_file(part, row.kind, clip, options, cover)
        size, sha256 = digest(part)
        os.replace(part, final)
    except OSError as exc:
        raise TaggingError(f"cannot rewrite: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)
    manifest.record_file_done(clip, row.kind, row.path or "", size, sha256)


def _cover(dest: Path, manifest: Manifest, clip: Clip, media: Path) -> bytes | None:
    image = manifest.file_row(clip.clip_id, AssetKind.IMAGE)
    if image is not None and image.state == "done" and image.path:
        try:
            return make_cover((dest / image.path).read_bytes())
        except (OSError, ArchiverError):
            pass
    return embedded_cover(media)


def run_retag(config: Config, err: TextIO) -> int:
    """`suno-archiver retag`: every file, under the archive lock; 1 if any failed."""
    options = TagOptions(album=config.album, id3_version=config.id3_version)
    require_archive(config.dest)
    with ArchiveLock(config.dest / STATE_DIR / "lock"):
        manifest = Manifest.open_existing(config.dest)
        try:
            result = retag_archive(config.dest, manifest, options)
        finally:
            manifest.close()
    for failure in result.failed:
        print(f"error: {failure}", file=err)
    print(f"retagged {len(result.tagged)} files, {len(result.failed)} failed", file=err)
    return 1 if result.failed else 0
