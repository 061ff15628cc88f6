"""One clip's assets: check manifest → download to `.part` → verify → tag → rename → record.

That order is the invariant of DESIGN.md: a final name always holds a complete, tagged file,
and a `done` manifest row always names a file that is in place.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path, PurePosixPath

from .context import RunContext
from .download import Fetched
from .errors import CoverError, DeadAsset, TaggingError, TransferError
from .manifest import STATE_DIR
from .models import AssetKind, AssetState, Clip, ClipStatus, Task
from .naming import render, unique
from .sidecar import write_sidecar
from .tagging import TagOptions, make_cover, tag_file

__all__ = ["archive_clip"]

_MEDIA_EXT = {AssetKind.AUDIO: "mp3", AssetKind.VIDEO: "mp4", AssetKind.IMAGE: "jpg"}


async def archive_clip(ctx: RunContext, task: Task, clip: Clip) -> bool:
    """Fetch what is new for one clip; True when the clip is final (nothing left to wait for)."""
    previous_status = ctx.manifest.clip_status(clip.clip_id)
    ctx.manifest.record_clip(clip)
    if clip.status is ClipStatus.ERROR:
        if previous_status != ClipStatus.ERROR.value:
            ctx.error("clip_error", f"task {task.task_id}: clip {clip.id8} errored on Suno: "
                      f"{clip.error or 'no reason given'}", task_id=task.task_id,
                      clip_id=clip.clip_id)
        return True
    todo, final = _plan(ctx, clip)
    if not todo:
        return final
    notes: list[str] = []
    cover = asyncio.create_task(_cover(ctx, clip, AssetKind.IMAGE in todo, notes))
    await asyncio.gather(*(_media(ctx, clip, kind, cover) for kind in todo
                           if kind is not AssetKind.IMAGE))
    await cover
    _write_sidecar(ctx, task, clip, notes)
    if any(_is_done(ctx, clip, kind) for kind in todo):
        ctx.stats.clips_new += 1
    todo, final = _plan(ctx, clip)  # the manifest now says what is left
    return final and not todo


def _plan(ctx: RunContext, clip: Clip) -> tuple[list[AssetKind], bool]:
    """The selected assets still to fetch, and whether all the others are final."""
    todo: list[AssetKind] = []
    final = True
    for kind in AssetKind:
        if kind not in ctx.config.assets:
            continue
        row = ctx.manifest.file_row(clip.clip_id, kind)
        if row is not None and row.state == "done":
            continue
        if row is not None and row.state == "dead" and row.attempts > ctx.config.give_up_after:
            continue  # given up: final, and no longer an error
        asset = clip.asset(kind)
        if asset.state is AssetState.READY:
            todo.append(kind)
        elif asset.state is AssetState.WAITING:
            final = False
    return todo, final


async def _media(ctx: RunContext, clip: Clip, kind: AssetKind,
                 cover: asyncio.Task[bytes | None]) -> None:
    path = _claim(ctx, clip, kind, _MEDIA_EXT[kind])
    part = _part(ctx, path)
    if await _download(ctx, clip, kind, part) is None:
        return
    thumbnail = await _thumbnail(ctx, clip, cover)
    options = TagOptions(album=ctx.config.album, id3_version=ctx.config.id3_version)
    try:
        await asyncio.to_thread(tag_file, part, kind, clip, options, thumbnail)
    except TaggingError as exc:
        part.unlink(missing_ok=True)
        _dead(ctx, clip, kind, f"not playable media: {exc}")
        return
    await _place(ctx, clip, kind, part, path)


async def _thumbnail(
    ctx: RunContext, clip: Clip, cover: asyncio.Task[bytes | None]
) -> bytes | None:
    source = await asyncio.shield(cover)
    if source is None:
        return None
    try:
        return await asyncio.to_thread(make_cover, source)
    except CoverError as exc:
        ctx.warn("cover_unusable", f"clip {clip.id8}: cover not embedded: {exc}",
                 task_id=clip.task_id, clip_id=clip.clip_id)
        return None


async def _cover(ctx: RunContext, clip: Clip, keep: bool, notes: list[str]) -> bytes | None:
    """The cover's bytes: fetched and kept, read from the archive, or fetched just to embed."""
    if keep:
        return await _keep_image(ctx, clip, notes)
    row = ctx.manifest.file_row(clip.clip_id, AssetKind.IMAGE)
    if row is not None and row.state == "done" and row.path:
        try:
            return (ctx.config.dest / row.path).read_bytes()
        except OSError:
            pass
    if clip.image.state is not AssetState.READY:
        return None
    part = ctx.config.dest / STATE_DIR / "tmp" / f"{clip.clip_id}.cover.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        await ctx.downloader.fetch(clip.image.url, part, AssetKind.IMAGE)
        return part.read_bytes()
    except (DeadAsset, TransferError) as exc:
        notes.append(f"cover not embedded: {exc}")
        return None
    finally:
        part.unlink(missing_ok=True)


async def _keep_image(ctx: RunContext, clip: Clip, notes: list[str]) -> bytes | None:
    path = _claim(ctx, clip, AssetKind.IMAGE, "jpg")
    part = _part(ctx, path)
    fetched = await _download(ctx, clip, AssetKind.IMAGE, part)
    if fetched is None:
        notes.append("cover not saved")
        return None
    if fetched.media.ext != "jpg":  # the extension follows the real type
        path = _claim(ctx, clip, AssetKind.IMAGE, fetched.media.ext)
    data = part.read_bytes()
    await _place(ctx, clip, AssetKind.IMAGE, part, path)
    return data


async def _download(ctx: RunContext, clip: Clip, kind: AssetKind, part: Path) -> Fetched | None:
    url = clip.asset(kind).url
    transfer = ctx.reporter.transfer(f"{clip.id8} {kind.value}", None)
    try:
        return await ctx.downloader.fetch(url, part, kind, transfer.update)
    except DeadAsset as exc:
        _dead(ctx, clip, kind, str(exc))
    except TransferError as exc:
        ctx.manifest.record_file_pending(clip, kind, str(exc))
        ctx.error("file_failed", f"task {clip.task_id}: clip {clip.id8} {kind.value}: {exc}",
                  task_id=clip.task_id, clip_id=clip.clip_id, kind=kind.value, reason=str(exc))
    finally:
        transfer.close()
    return None


def _dead(ctx: RunContext, clip: Clip, kind: AssetKind, reason: str) -> None:
    """Record a dead asset; it is an error until the user's give-up limit is passed."""
    runs = ctx.manifest.record_file_dead(clip, kind, reason)
    given_up = runs > ctx.config.give_up_after
    fields = {"task_id": clip.task_id, "clip_id": clip.clip_id, "kind": kind.value,
              "reason": reason, "runs": runs, "given_up": given_up}
    message = f"task {clip.task_id}: clip {clip.id8} {kind.value} is dead: {reason}"
    ctx.stats.dead_assets += 1
    if given_up:
        ctx.warn("file_dead", f"{message} (given up after {runs} runs)", **fields)
    else:
        ctx.error("file_dead", f"{message} (run {runs} of {ctx.config.give_up_after + 1})",
                  **fields)


async def _place(ctx: RunContext, clip: Clip, kind: AssetKind, part: Path, path: str) -> None:
    size, digest = await asyncio.to_thread(_digest, part)
    final = ctx.config.dest / path
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)
    ctx.manifest.record_file_done(clip, kind, path, size, digest)
    ctx.stats.files_saved += 1
    ctx.info("file_saved", f"saved {path}", task_id=clip.task_id, clip_id=clip.clip_id,
             kind=kind.value, path=path, size=size, sha256=digest)


def _digest(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return path.stat().st_size, sha.hexdigest()


def _claim(ctx: RunContext, clip: Clip, kind: AssetKind, ext: str) -> str:
    """The clip's stable name for this asset: the one on record, or a new, unused one."""
    row = ctx.manifest.file_row(clip.clip_id, kind)
    if row is not None and row.path and row.path.endswith("." + ext):
        return row.path

    def taken(candidate: str) -> bool:
        owner = ctx.manifest.path_owner(candidate)
        if owner is not None:
            return owner != clip.clip_id
        return (ctx.config.dest / candidate).exists()

    path = str(unique(render(ctx.config.output, clip, ext), taken, clip))
    ctx.manifest.claim_path(clip, kind, path)
    return path


def _part(ctx: RunContext, path: str) -> Path:
    part = ctx.config.dest / (path + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    return part


def _is_done(ctx: RunContext, clip: Clip, kind: AssetKind) -> bool:
    row = ctx.manifest.file_row(clip.clip_id, kind)
    return row is not None and row.state == "done"


def _write_sidecar(ctx: RunContext, task: Task, clip: Clip, notes: list[str]) -> None:
    rows = [row for kind in AssetKind
            if (row := ctx.manifest.file_row(clip.clip_id, kind)) is not None]
    named = next((row.path for row in rows if row.path), None)
    stem = PurePosixPath(named).with_suffix("") if named else render(
        ctx.config.output, clip, "info.json").with_suffix("").with_suffix("")
    path = ctx.config.dest / f"{stem}.info.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_sidecar(path, task, clip, rows, notes)
