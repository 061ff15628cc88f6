"""A clip's cover: downloaded and kept, read back from the archive, or fetched only to embed;
and, from one decode of it, the picture its audio and video embed and the gallery's
thumbnail."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from .clipjob import ClipJob, claim, download, part_path, place, record_dead
from .errors import CoverError, DeadAsset, TransferError, writing
from .manifest import STATE_DIR
from .models import AssetKind, AssetState
from .tagging import make_cover, picture_problem
from .tagging.cover import MAX_SIDE, make_covers
from .thumbs import THUMB_SIDE, save_thumbnail

__all__ = ["picture"]


async def picture(job: ClipJob, keep: bool, embed: bool) -> bytes | None:
    """The picture the clip's audio and video embed (None: none), made once, as soon as the
    cover is in; the cover's own bytes are let go at once (bench/: 300 KiB a clip, held for
    as long as its media took, made ~6 MiB of the run's peak memory)."""
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


def _pictures(job: ClipJob, source: bytes) -> bytes:
    """The embedded picture; with it, from the same decode, the gallery's thumbnail of a cover
    saved in this run (made here, it is not left for the end of the run)."""
    if not job.cover_kept:
        return make_cover(source)
    embedded, thumbnail = make_covers(source, (MAX_SIDE, THUMB_SIDE))
    with contextlib.suppress(OSError):  # the gallery makes it again when it is missing
        save_thumbnail(job.ctx.config.dest, job.clip.clip_id, thumbnail)
    return embedded


async def _cover(job: ClipJob, keep: bool) -> bytes | None:
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


async def _keep_image(job: ClipJob) -> bytes | None:
    path = claim(job, AssetKind.IMAGE, "jpg")
    part = part_path(job.ctx, path)
    fetched = await download(job, AssetKind.IMAGE, part)
    if fetched is not None:
        with writing(part):
            data = part.read_bytes()
        problem = picture_problem(data)  # (audio and video are checked by their tagger)
        if problem is None:
            if fetched.media.ext != "jpg":  # the extension follows the real type
                path = claim(job, AssetKind.IMAGE, fetched.media.ext)
            await place(job, AssetKind.IMAGE, part, path)
            job.cover_kept = True
            return data
        part.unlink(missing_ok=True)
        record_dead(job, AssetKind.IMAGE, problem)
    job.notes.append("cover not saved")
    return None
