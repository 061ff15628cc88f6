"""One clip's assets: check manifest → download to `.part` → verify → tag → rename → record.

That order is the invariant of DESIGN.md: a final name always holds a complete, tagged file,
and a `done` manifest row always names a file that is in place.

A failed write (disk full, read-only...) is a StorageError naming the file; like every error
that stops the run it leaves `archive_clip` bare, not in a task group. `.part` files are kept,
but one that tagging left half-rewritten.

The steps every file goes through (name, download, dead, place) are in clipjob.py; the cover
and the picture the clip embeds in covers.py.
"""

from __future__ import annotations

import asyncio
import weakref

from .clipjob import ClipJob, Refresh, claim, download, is_done, part_path, place, record_dead
from .context import RunContext
from .covers import picture
from .errors import ArchiverError, StorageError, TaggingError, first_error
from .models import AssetKind, AssetState, Clip, ClipStatus, Task
from .sidecar import sidecar_path, write_sidecar
from .tagging import TagOptions, tag_file

__all__ = ["Refresh", "archive_clip"]

DURATION_TOLERANCE = 0.10
_MEDIA_EXT = {AssetKind.AUDIO: "mp3", AssetKind.VIDEO: "mp4", AssetKind.IMAGE: "jpg"}
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())  # per run (each has its own loop): clip id → its lock


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
    job = ClipJob(ctx, task, clip, refresh)
    try:
        async with asyncio.TaskGroup() as group:  # cancelling the clip cancels every part of it
            media = [kind for kind in todo if kind is not AssetKind.IMAGE]
            embedded = group.create_task(picture(job, AssetKind.IMAGE in todo, bool(media)))
            for kind in media:
                group.create_task(_media(job, kind, embedded))
    except* ArchiverError as errors:  # AuthError, StorageError...: they stop the run
        raise first_error(errors) from None
    _write_sidecar(job)
    if any(is_done(ctx, clip, kind) for kind in todo):
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


async def _media(job: ClipJob, kind: AssetKind, embedded: asyncio.Task[bytes | None]) -> None:
    path = claim(job, kind, _MEDIA_EXT[kind])
    part = part_path(job.ctx, path)
    if await download(job, kind, part) is None:
        return
    thumbnail = await asyncio.shield(embedded)
    options = TagOptions(album=job.ctx.config.album, id3_version=job.ctx.config.id3_version)
    try:
        async with job.ctx.taggers:  # mutagen maps the whole file to move it: bound the peak
            result = await asyncio.to_thread(tag_file, part, kind, job.clip, options, thumbnail)
    except StorageError:
        part.unlink(missing_ok=True)  # mutagen may have stopped half-way through rewriting it
        raise
    except TaggingError as exc:
        part.unlink(missing_ok=True)
        record_dead(job, kind, f"not playable media: {exc}")
        return
    problem = _length_problem(job.clip, kind, result.duration)
    if problem:
        part.unlink(missing_ok=True)
        record_dead(job, kind, problem)
        return
    await place(job, kind, part, path)


def _length_problem(clip: Clip, kind: AssetKind, measured: float | None) -> str | None:
    """A short (or padded) song must not pass as complete: its length is checked (±10 %)."""
    if kind is not AssetKind.AUDIO or not clip.duration or measured is None:
        return None
    if abs(measured - clip.duration) <= clip.duration * DURATION_TOLERANCE:
        return None
    return f"audio is {measured:.1f} s long, PiAPI says {clip.duration:.1f} s"


def _write_sidecar(job: ClipJob) -> None:
    ctx, clip = job.ctx, job.clip
    rows = [row for kind in AssetKind
            if (row := ctx.manifest.file_row(clip.clip_id, kind)) is not None]
    path = sidecar_path(ctx.config.dest, ctx.config.output, clip, rows)
    write_sidecar(path, job.task, clip, rows, job.notes)
