"""One clip's assets: check manifest → download to `.part` → verify → tag → rename → record.

That order is the invariant of DESIGN.md: a final name always holds a complete, tagged file,
and a `done` manifest row always names a file that is in place.

A failed write (disk full, read-only...) is a StorageError naming the file; like every error
that stops the run it leaves `archive_clip` bare, not in a task group. `.part` files are kept,
but one that tagging left half-rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .context import RunContext
from .download import Fetched
from .errors import (
    ArchiverError,
    CoverError,
    DeadAsset,
    StorageError,
    TaggingError,
    TransferError,
    first_error,
    writing,
)
from .fileops import digest
from .manifest import STATE_DIR
from .models import AssetKind, AssetState, Clip, ClipStatus, Task
from .naming import render, unique
from .sidecar import sidecar_path, write_sidecar
from .tagging import TagOptions, make_cover, picture_problem, tag_file
from .tagging.cover import MAX_SIDE, make_covers
from .thumbs import THUMB_SIDE, save_thumbnail

__all__ = ["Refresh", "archive_clip"]

Refresh = Callable[[str], Awaitable[Task | None]]  # fresh task JSON after a dead URL, or None
DURATION_TOLERANCE = 0.10
_MEDIA_EXT = {AssetKind.AUDIO: "mp3", AssetKind.VIDEO: "mp4", AssetKind.IMAGE: "jpg"}
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())  # per run (each has its own loop): clip id → its lock


@dataclass(slots=True)
class _Job:
    ctx: RunContext
    task: Task
    clip: Clip
    refresh: Refresh | None
    notes: list[str] = field(default_factory=list)
    cover_kept: bool = False  # the cover was saved in this run: its gallery thumbnail is due


async def archive_clip(
    ctx: RunContext, task: Task, clip: Clip, refresh: Refresh | None = None
) -> bool:
    """Fetch what is new for one clip; True when the clip is final (nothing left to wait for).

    One clip at a time under each id: a clip two tasks of the run list (a reused upload, a
    hand-made JSON) would otherwise be downloaded twice into the same `.part`."""
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    async with locks.setdefault(clip.clip_id, asyncio.Lock()):
        return await _archive_clip(ctx, task, clip, refresh)


async def _archive_clip(ctx: RunContext, task: Task, clip: Clip, refresh: Refresh | None) -> bool:
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
    job = _Job(ctx, task, clip, refresh)
    try:
        async with asyncio.TaskGroup() as group:  # cancelling the clip cancels every part of it
            media = [kind for kind in todo if kind is not AssetKind.IMAGE]
            picture = group.create_task(_picture(job, AssetKind.IMAGE in todo, bool(media)))
            for kind in media:
                group.create_task(_media(job, kind, picture))
    except* ArchiverError as errors:  # AuthError, StorageError...: they stop the run
        raise first_error(errors) from None
    _write_sidecar(job)
    if any(_is_done(ctx, clip, kind) for kind in todo):
        ctx.stats.clips_new += 1
    todo, final = _plan(ctx, clip)  # the manifest now says what is left
    return final and not todo


def _plan(ctx: RunContext, clip: Clip) -> tuple[list[AssetKind], bool]:
    """The selected assets still to fetch, and whether all the others are final."""
    todo: list[AssetKind] = []
    final = True
    for kind in AssetKind:
        if kind not in ctx.config.assets or clip.asset(kind).state is AssetState.ABSENT:
            continue  # (an absent asset is final whatever its row says: no need to read it)
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


async def _media(job: _Job, kind: AssetKind, picture: asyncio.Task[bytes | None]) -> None:
    path = _claim(job, kind, _MEDIA_EXT[kind])
    part = _part(job.ctx, path)
    if await _download(job, kind, part) is None:
        return
    thumbnail = await asyncio.shield(picture)
    options = TagOptions(album=job.ctx.config.album, id3_version=job.ctx.config.id3_version)
    try:
        async with job.ctx.taggers:  # mutagen maps the whole file to move it: bound the peak
            result = await asyncio.to_thread(tag_file, part, kind, job.clip, options, thumbnail)
    except StorageError:
        part.unlink(missing_ok=True)  # mutagen may have stopped half-way through rewriting it
        raise
    except TaggingError as exc:
        part.unlink(missing_ok=True)
        _dead(job, kind, f"not playable media: {exc}")
        return
    problem = _length_problem(job.clip, kind, result.duration)
    if problem:
        part.unlink(missing_ok=True)
        _dead(job, kind, problem)
        return
    await _place(job, kind, part, path)


def _length_problem(clip: Clip, kind: AssetKind, measured: float | None) -> str | None:
    """A short (or padded) song must not pass as complete: its length is checked (±10 %)."""
    if kind is not AssetKind.AUDIO or not clip.duration or measured is None:
        return None
    if abs(measured - clip.duration) <= clip.duration * DURATION_TOLERANCE:
        return None
    return f"audio is {measured:.1f} s long, PiAPI says {clip.duration:.1f} s"


async def _picture(job: _Job, keep: bool, embed: bool) -> bytes | None:
    """The picture the clip's audio and video embed (None: none), made once, as soon as the
    cover is in: the cover's own bytes are let go at once (bench/: 300 KiB a clip, for as
    long as its media took, was the larger part of the run's peak memory)."""
    source = await _cover(job, keep)
    if source is None or not embed:
        return None
    try:
        async with job.ctx.thumbnails:  # one at a time: each decode peaks at ~36 MiB
            return await asyncio.to_thread(_pictures, job, source)
    except CoverError as exc:
        job.notes.append(f"cover not embedded: {exc}")
        job.ctx.warn("cover_unusable", f"clip {job.clip.id8}: cover not embedded: {exc}",
                     task_id=job.clip.task_id, clip_id=job.clip.clip_id)
        return None


def _pictures(job: _Job, source: bytes) -> bytes:
    """The embedded picture; with it, from the same decode, the gallery's thumbnail of a cover
    saved in this run (made here, it is not left for the end of the run)."""
    if not job.cover_kept:
        return make_cover(source)
    embedded, thumbnail = make_covers(source, (MAX_SIDE, THUMB_SIDE))
    with contextlib.suppress(OSError):  # the gallery makes it again when it is missing
        save_thumbnail(job.ctx.config.dest, job.clip.clip_id, thumbnail)
    return embedded


async def _cover(job: _Job, keep: bool) -> bytes | None:
    """The cover's bytes: fetched and kept, read from the archive, or fetched just to embed."""
    if keep:
        return await _keep_image(job)
    row = job.ctx.manifest.file_row(job.clip.clip_id, AssetKind.IMAGE)
    if row is not None and row.state == "done" and row.path:
        try:
            return (job.ctx.config.dest / row.path).read_bytes()
        except OSError:
            pass
    if job.clip.image.state is not AssetState.READY:
        return None
    # Named by a hash: a clip id comes from JSON, and may hold "../" or a NUL.
    name = hashlib.sha256(job.clip.clip_id.encode("utf-8", "replace")).hexdigest()[:32]
    part = job.ctx.config.dest / STATE_DIR / "tmp" / f"{name}.cover.part"
    try:
        with writing(part):
            part.parent.mkdir(parents=True, exist_ok=True)
            await job.ctx.downloader.fetch(job.clip.image.url, part, AssetKind.IMAGE)
            return part.read_bytes()
    except (DeadAsset, TransferError) as exc:
        job.notes.append(f"cover not embedded: {exc}")
        return None
    finally:
        part.unlink(missing_ok=True)


async def _keep_image(job: _Job) -> bytes | None:
    path = _claim(job, AssetKind.IMAGE, "jpg")
    part = _part(job.ctx, path)
    fetched = await _download(job, AssetKind.IMAGE, part)
    if fetched is not None:
        with writing(part):
            data = part.read_bytes()
        problem = picture_problem(data)  # (audio and video are checked by their tagger)
        if problem is None:
            if fetched.media.ext != "jpg":  # the extension follows the real type
                path = _claim(job, AssetKind.IMAGE, fetched.media.ext)
            await _place(job, AssetKind.IMAGE, part, path)
            job.cover_kept = True
            return data
        part.unlink(missing_ok=True)
        _dead(job, AssetKind.IMAGE, problem)
    job.notes.append("cover not saved")
    return None


async def _download(job: _Job, kind: AssetKind, part: Path) -> Fetched | None:
    """Fetch, asking PiAPI once for a fresh URL when the one we have is dead."""
    url = job.clip.asset(kind).url
    transfer = job.ctx.reporter.transfer(f"{job.clip.id8} {kind.value}", None)
    try:
        while True:
            try:
                with writing(part):
                    return await job.ctx.downloader.fetch(url, part, kind, transfer.update)
            except DeadAsset as exc:
                fresh = await _fresh_url(job, kind, url)
                if fresh is None:
                    _dead(job, kind, str(exc))
                    return None
                url = fresh
    except TransferError as exc:
        job.ctx.manifest.record_file_pending(job.clip, kind, str(exc))
        job.ctx.error("file_failed", f"task {job.clip.task_id}: clip {job.clip.id8} "
                      f"{kind.value}: {exc}", task_id=job.clip.task_id,
                      clip_id=job.clip.clip_id, kind=kind.value, reason=str(exc))
        return None
    finally:
        transfer.close()


async def _fresh_url(job: _Job, kind: AssetKind, dead_url: str) -> str | None:
    """A different, ready URL for the asset from a re-fetched task (once a run), or None."""
    if job.refresh is None:
        return None
    refreshed = await job.refresh(job.clip.task_id)
    if refreshed is None:
        return None
    clip = next((c for c in refreshed.clips if c.clip_id == job.clip.clip_id), None)
    if clip is None or clip.asset(kind).state is not AssetState.READY:
        return None
    url = clip.asset(kind).url
    return url if url != dead_url else None


def _dead(job: _Job, kind: AssetKind, reason: str) -> None:
    """Record a dead asset; it is an error until the user's give-up limit is passed."""
    ctx, clip = job.ctx, job.clip
    runs = ctx.manifest.record_file_dead(clip, kind, reason)
    given_up = runs > ctx.config.give_up_after
    fields = {"task_id": clip.task_id, "clip_id": clip.clip_id, "kind": kind.value,
              "reason": reason, "runs": runs, "given_up": given_up}
    message = f"task {clip.task_id}: clip {clip.id8} {kind.value} is dead: {reason}"
    ctx.stats.dead_assets += 1
    job.notes.append(f"{kind.value} dead: {reason}")
    if given_up:
        ctx.warn("file_dead", f"{message} (given up after {runs} runs)", **fields)
    else:
        ctx.error("file_dead", f"{message} (run {runs} of {ctx.config.give_up_after + 1})",
                  **fields)


async def _place(job: _Job, kind: AssetKind, part: Path, path: str) -> None:
    ctx, clip = job.ctx, job.clip
    final = ctx.config.dest / path
    with writing(final):
        size, sha256 = await asyncio.to_thread(digest, part)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, final)
    try:
        ctx.manifest.record_file_done(clip, kind, path, size, sha256)
    except ArchiverError:  # (a full disk): no row, so no final name either; the part resumes
        with contextlib.suppress(OSError):
            os.replace(final, part)
        raise
    ctx.stats.files_saved += 1
    ctx.info("file_saved", f"saved {path}", task_id=clip.task_id, clip_id=clip.clip_id,
             kind=kind.value, path=path, size=size, sha256=sha256)


def _claim(job: _Job, kind: AssetKind, ext: str) -> str:
    """The clip's stable name for this asset: the one on record, or a new, unused one."""
    ctx, clip = job.ctx, job.clip
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
    with writing(part.parent):
        part.parent.mkdir(parents=True, exist_ok=True)
    return part


def _is_done(ctx: RunContext, clip: Clip, kind: AssetKind) -> bool:
    row = ctx.manifest.file_row(clip.clip_id, kind)
    return row is not None and row.state == "done"


def _write_sidecar(job: _Job) -> None:
    ctx, clip = job.ctx, job.clip
    rows = [row for kind in AssetKind
            if (row := ctx.manifest.file_row(clip.clip_id, kind)) is not None]
    path = sidecar_path(ctx.config.dest, ctx.config.output, clip, rows)
    write_sidecar(path, job.task, clip, rows, job.notes)
