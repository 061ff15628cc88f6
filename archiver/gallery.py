"""`DEST/index.html` and `DEST/playlist.m3u8`: the archive as a page to browse and a playlist.

Everything comes from the manifest and the task JSON it stores: no network, no tag reading.
The page is static and self-contained (gallery_page.py), so it opens from `file://`; its
links are paths relative to DEST, percent-encoded, and the playlist's are relative too, so the
folder can be moved or copied whole.

Thumbnails (thumbs.py) are made during the run from the same decode as the embedded cover;
here only those missing or older than their cover are made: regenerating the gallery after
every run costs a stat per file, not a decode per cover. Both outputs and every thumbnail are
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, unquote

from . import __version__
from .errors import ArchiverError, CoverError
from .fileops import write_atomic
from .gallery_page import render_page
from .manifest import Manifest, TaskState
from .models import AssetKind, AssetState, Clip, ClipStatus
from .parse import parse_task
from .thumbs import make_thumbnail, save_thumbnail, thumbnail_path

__all__ = [
    "INDEX_NAME",
    "PLAYLIST_NAME",
    "GalleryResult",
    "playlist_text",
    "run_index",
    "style_tags",
    "write_gallery",
]

INDEX_NAME = "index.html"
PLAYLIST_NAME = "playlist.m3u8"
_TAG_SPLIT = re.compile(r"[,;\n]+")
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_MEDIA = (AssetKind.AUDIO, AssetKind.VIDEO, AssetKind.IMAGE)
# Worst first: the state a clip shows is the worst of its own and its files'.
_SEVERITY = ("error", "lost", "pending", "ok")
_STATE_OF_TASK = {TaskState.FAILED: "error", TaskState.NOT_FOUND: "error",
                  TaskState.ERROR: "error", TaskState.PENDING: "pending"}
_LOST_TASKS = (TaskState.FAILED, TaskState.NOT_FOUND, TaskState.ERROR)

Item = dict[str, Any]  # one card of the page, as the page's JSON has it


@dataclass(frozen=True, slots=True)
class GalleryResult:
    clips: int  # clip cards on the page (tasks without clips are cards too, not counted)
    thumbnails_made: int
    index: Path
    playlist: Path


def write_gallery(dest: Path, manifest: Manifest) -> GalleryResult:
    """Write DEST/index.html and DEST/playlist.m3u8 from what the manifest holds."""
    cards = _Cards(dest, manifest)
    items: list[Item] = []
    seen: set[str] = set()
    for task_id, state, text in manifest.stored_tasks():
        seen.add(task_id)
        items.extend(cards.of_task(task_id, state, text))
    for task_id, state, error in manifest.tasks_in(*_LOST_TASKS):
        if task_id not in seen:  # never fetched: nothing but the id and the reason
            items.append(_task_item(task_id, state, error or state.replace("_", " ")))
    clip_items = [item for item in items if item["kind"] == "clip"]
    index, playlist = dest / INDEX_NAME, dest / PLAYLIST_NAME
    page = render_page(items, title=f"Suno archive: {dest.resolve().name}", version=__version__)
    write_atomic(index, page.encode("utf-8"))
    write_atomic(playlist, playlist_text(clip_items).encode("utf-8"))
    return GalleryResult(len(clip_items), cards.thumbnails.made, index, playlist)


def playlist_text(items: list[Item]) -> str:
    """An extended M3U (UTF-8) of every saved audio, in the order of `items`."""
    lines = ["#EXTM3U"]
    for item in items:
        path = unquote(item.get("audio", ""))
        if not path or _LINE_BREAKS.search(path):
            continue  # a line break in a path would end the entry; names never have one
        seconds = round(item["duration"]) if item.get("duration") else -1
        label = f"{item['creator']} - {item['title']}" if item.get("creator") else item["title"]
        lines += [f"#EXTINF:{seconds},{_one_line(label)}", path]
    return "\n".join(lines) + "\n"


# -- items --------------------------------------------------------------------------------


class _Cards:
    """The page's items, from the stored task JSON and the manifest's file rows."""

    def __init__(self, dest: Path, manifest: Manifest) -> None:
        self._root = str(dest)
        self._files = {(row.clip_id, row.kind): row for row in manifest.files()}
        self.thumbnails = _Thumbnails(dest)

    def of_task(self, task_id: str, state: str, text: str) -> list[Item]:
        try:
            task = parse_task(json.loads(text), task_id)
        except (ArchiverError, ValueError) as exc:
            return [_task_item(task_id, TaskState.ERROR, f"stored task JSON unreadable: {exc}")]
        if not task.clips:
            reason = task.error or f"PiAPI status {task.status_text or task.status.value}"
            if state == TaskState.PENDING:
                return [_task_item(task_id, state, f"queued on PiAPI: {reason}, no clips yet")]
            return [_task_item(task_id, state if state in _LOST_TASKS else TaskState.ERROR,
                               reason)]
        return [self.of_clip(clip) for clip in task.clips]

    def of_clip(self, clip: Clip) -> Item:
        paths: dict[AssetKind, str] = {}
        errored = clip.status is ClipStatus.ERROR
        states = ["error" if errored else "ok"]
        notes = [f"errored on Suno: {clip.error or 'no reason given'}"] if errored else []
        if clip.status not in (ClipStatus.COMPLETE, ClipStatus.ERROR):
            states.append("pending")
        for kind in _MEDIA:
            path, state, note = self._file_state(clip, kind)
            if path:
                paths[kind] = path
            states.append(state)
            if note and not errored:
                notes.append(note)
        cover = paths.get(AssetKind.IMAGE)
        thumb = self.thumbnails.for_cover(clip.clip_id, cover) if cover else None
        return _compact({
            "kind": "clip", "id": clip.clip_id, "id8": clip.id8, "task": clip.task_id,
            "n": clip.index, "title": clip.title.strip() or "Untitled", "creator": clip.creator,
            "style": clip.style, "tags": style_tags(clip.style), "lyrics": clip.lyrics,
            "prompt": clip.description, "duration": clip.duration, "model": clip.model,
            "created": clip.created.isoformat(timespec="seconds") if clip.created else None,
            "state": min(states, key=_SEVERITY.index), "notes": notes,
            "audio": _href(paths.get(AssetKind.AUDIO)), "video": _href(paths.get(AssetKind.VIDEO)),
            "cover": _href(cover), "thumb": _href(thumb),
        })

    def _file_state(self, clip: Clip, kind: AssetKind) -> tuple[str | None, str, str]:
        """(relative path if the file is in place, state, note for the user) of one asset."""
        row, name = self._files.get((clip.clip_id, kind)), kind.value
        if row is None:
            asset = clip.asset(kind)
            if asset.state is AssetState.WAITING:
                return None, "pending", f"{name} pending: {asset.reason}"
            return None, "ok", ""  # not offered, or not selected with --assets
        if row.state == "done" and row.path:
            if os.path.isfile(os.path.join(self._root, row.path)):
                return row.path, "ok", ""
            return None, "lost", f"{name} file missing from disk (suno-archiver verify --repair)"
        if row.state == "dead":
            runs = f" ({row.attempts} runs)" if row.attempts > 1 else ""
            return None, "lost", f"{name} lost: {row.reason or 'dead'}{runs}"
        return None, "pending", f"{name} pending: {row.reason or 'not fetched yet'}"


def _task_item(task_id: str, state: str, reason: str) -> Item:
    return _compact({
        "kind": "task", "id": task_id, "id8": task_id[:8], "task": task_id,
        "title": f"Task {task_id[:8]}", "state": _STATE_OF_TASK.get(state, "pending"),
        "notes": [_one_line(reason)],
    })


def style_tags(style: str) -> list[str]:
    """The style string as distinct lower-case tags ("Synthwave, retro" → synthwave, retro)."""
    tags = (tag.strip().lower() for tag in _TAG_SPLIT.split(style))
    return list(dict.fromkeys(tag for tag in tags if tag))


def _href(path: str | None) -> str | None:
    """A relative path as a URL: spaces, `#`, `?`, `%`, brackets and non-ASCII escaped."""
    return quote(path, safe="/") if path else None


def _compact(item: Item) -> Item:
    """Without empty values: 5,000 cards of JSON stay smaller."""
    return {key: value for key, value in item.items() if value not in (None, "", [])}


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


# -- thumbnails ---------------------------------------------------------------------------


class _Thumbnails:
    """The clips' thumbnails, made when missing or older than the cover, else left alone."""

    def __init__(self, dest: Path) -> None:
        self._dest = dest
        self.made = 0

    def for_cover(self, clip_id: str, cover: str) -> str | None:
        """The thumbnail of the cover at `cover` (relative), or None when it cannot be made."""
        relative = thumbnail_path(clip_id)
        cover_file, thumb = os.path.join(self._dest, cover), os.path.join(self._dest, relative)
        try:
            if os.stat(thumb).st_mtime >= os.stat(cover_file).st_mtime:
                return relative
        except FileNotFoundError:
            pass
        try:
            with open(cover_file, "rb") as handle:
                picture = make_thumbnail(handle.read())
        except (CoverError, OSError):
            return None  # the page shows a placeholder; the audio is not concerned
        self.made += 1
        return save_thumbnail(self._dest, clip_id, picture)


def run_index(dest: Path, err: TextIO) -> int:
    """`suno-archiver index`: rewrite the gallery and the playlist of an existing archive."""
    manifest = Manifest.open_existing(dest)
    try:
        result = write_gallery(dest, manifest)
    finally:
        manifest.close()
    print(f"wrote {result.index} and {result.playlist} ({result.clips} clips, "
          f"{result.thumbnails_made} new thumbnails)", file=err)
    return 0
