"""One clip's job, and the steps every one of its files goes through: a stable name, the
download (asking PiAPI once for a fresh URL when the one we have is dead), a dead asset
recorded with its reason, and the atomic placing of a finished `.part`."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .context import RunContext
from .download import Fetched
from .errors import ArchiverError, DeadAsset, TransferError, writing
from .fileops import digest
from .models import AssetKind, AssetState, Clip, Task
from .naming import render, unique

__all__ = ["ClipJob", "Refresh", "claim", "download", "is_done", "part_path", "place",
           "record_dead"]

Refresh = Callable[[str], Awaitable[Task | None]]  # fresh task JSON after a dead URL, or None


@dataclass(slots=True)
class ClipJob:
    ctx: RunContext
    task: Task
    clip: Clip
    refresh: Refresh | None
    notes: list[str] = field(default_factory=list)
    cover_kept: bool = False  # the cover was saved in this run: its gallery thumbnail is due


def claim(job: ClipJob, kind: AssetKind, ext: str) -> str:
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


def part_path(ctx: RunContext, path: str) -> Path:
    part = ctx.config.dest / (path + ".part")
    with writing(part.parent):
        part.parent.mkdir(parents=True, exist_ok=True)
    return part


async def download(job: ClipJob, kind: AssetKind, part: Path) -> Fetched | None:
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
                    record_dead(job, kind, str(exc))
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


async def _fresh_url(job: ClipJob, kind: AssetKind, dead_url: str) -> str | None:
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


def record_dead(job: ClipJob, kind: AssetKind, reason: str) -> None:
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


async def place(job: ClipJob, kind: AssetKind, part: Path, path: str) -> None:
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


def is_done(ctx: RunContext, clip: Clip, kind: AssetKind) -> bool:
    row = ctx.manifest.file_row(clip.clip_id, kind)
    return row is not None and row.state == "done"
