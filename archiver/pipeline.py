"""The stages wired with asyncio: plan from the manifest, fetch and parse, archive each clip.

A task the manifest holds as fully archived (for the selected assets) is skipped here, before
any HTTP request; so is a task PiAPI failed, unless --retry-failed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from .api import PiAPI
from .clipwork import archive_clip
from .context import RunContext
from .errors import ArchiverError, TaskError, TaskNotFound, UsageError, first_error
from .inputs import Inputs
from .manifest import TaskState
from .models import Task, TaskStatus
from .parse import parse_task

__all__ = ["Planned", "Refresher", "archive_tasks", "plan_tasks"]


@dataclass(frozen=True, slots=True)
class Planned:
    task_id: str
    payload: Any | None  # saved or stored JSON; None: ask the API
    saved: bool = False  # from --from-json: never ask the API about it, not even for fresh URLs


class Refresher:
    """Fresh task JSON, asked of PiAPI at most once per task in a run (after a dead URL)."""

    def __init__(self, api: PiAPI) -> None:
        self._api = api
        self._answers: dict[str, asyncio.Future[Task | None]] = {}

    async def __call__(self, task_id: str) -> Task | None:
        if task_id not in self._answers:
            self._answers[task_id] = asyncio.ensure_future(self._fetch(task_id))
        return await asyncio.shield(self._answers[task_id])

    async def _fetch(self, task_id: str) -> Task | None:
        try:
            return parse_task(await self._api.get_task(task_id), task_id)
        except (TaskError, UsageError):  # no key, or PiAPI has nothing better: the URL is dead
            return None


def plan_tasks(ctx: RunContext, inputs: Inputs) -> list[Planned]:
    """What this run must do, from the manifest alone (no network)."""
    config, manifest = ctx.config, ctx.manifest
    planned = [Planned(task_id, payload, saved=True) for task_id, payload in inputs.saved]
    for task_id in inputs.stored:
        stored = manifest.task_json(task_id)
        planned.append(Planned(task_id, _stored_payload(stored)))
    seen = {step.task_id for step in planned}
    names = list(inputs.task_ids)
    if config.pending:
        names += [task_id for task_id, _, _ in manifest.tasks_in(TaskState.PENDING,
                                                                  TaskState.ERROR)]
    if config.retry_failed:
        names += [task_id for task_id, _, _ in manifest.tasks_in(TaskState.FAILED)]
    for task_id in dict.fromkeys(names):
        if task_id in seen:
            continue
        seen.add(task_id)
        step = _plan_one(ctx, task_id)
        if step is not None:
            planned.append(step)
    return planned


def _plan_one(ctx: RunContext, task_id: str) -> Planned | None:
    row = ctx.manifest.task_row(task_id)
    if row is None:
        return Planned(task_id, None)
    state, done_for, _ = row
    if state == TaskState.FAILED and not ctx.config.retry_failed:
        ctx.stats.tasks_failed += 1
        return None
    if state != TaskState.DONE:
        return Planned(task_id, None)
    if ctx.config.assets <= {kind for kind in ctx.config.assets if kind.value in done_for}:
        ctx.stats.clips_archived += ctx.manifest.clip_count(task_id)
        return None
    stored = ctx.manifest.task_json(task_id)  # more assets wanted: the URLs are on record
    return Planned(task_id, _stored_payload(stored))


def _stored_payload(stored: str | None) -> Any | None:
    """The task JSON on record, or None (ask the API) when it is missing or unreadable."""
    if not stored:
        return None
    try:
        return json.loads(stored)
    except (ValueError, RecursionError):  # a damaged overflow page has no checksum
        return None


async def archive_tasks(ctx: RunContext, planned: list[Planned], api: PiAPI, workers: int) -> None:
    """Archive every planned task with a bounded number of workers; AuthError stops all."""
    queue: asyncio.Queue[Planned] = asyncio.Queue()
    for step in planned:
        queue.put_nowait(step)
    refresher = Refresher(api)

    async def worker() -> None:
        while not queue.empty():
            step = queue.get_nowait()
            await _archive_task(ctx, step, api, None if step.saved else refresher)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(workers, len(planned)))):
                group.create_task(worker())
    except* ArchiverError as errors:  # AuthError, StorageError, ManifestError: they stop the run
        raise first_error(errors) from None


async def _archive_task(
    ctx: RunContext, step: Planned, api: PiAPI, refresh: Refresher | None
) -> None:
    task = await _fetch(ctx, step, api)
    if task is None:
        return
    ctx.manifest.record_task(task)
    if task.status is TaskStatus.FAILED:
        ctx.manifest.set_task_state(task.task_id, TaskState.FAILED, task.error)
        ctx.stats.tasks_failed += 1
        ctx.error("task_failed", f"task {task.task_id}: PiAPI failed it: {task.error}",
                  task_id=task.task_id, reason=task.error)
        return
    finals = await asyncio.gather(*(archive_clip(ctx, task, clip, refresh)
                                    for clip in task.clips))
    _settle(ctx, task, all(finals))


async def _fetch(ctx: RunContext, step: Planned, api: PiAPI) -> Task | None:
    try:
        payload = step.payload if step.payload is not None else await api.get_task(step.task_id)
        task = parse_task(payload, step.task_id)
    except TaskNotFound as exc:
        ctx.manifest.set_task_state(step.task_id, TaskState.NOT_FOUND, exc.reason)
        ctx.error("task_not_found", str(exc), task_id=step.task_id, reason=exc.reason)
        return None
    except TaskError as exc:
        ctx.manifest.set_task_state(step.task_id, TaskState.ERROR, exc.reason)
        ctx.error("task_error", str(exc), task_id=step.task_id, reason=exc.reason)
        return None
    if task.status is TaskStatus.UNKNOWN:
        ctx.warn("task_status_unknown", f"task {task.task_id}: unknown status "
                 f"{task.status_text!r}; treated as not finished", task_id=task.task_id)
    ctx.info("task_fetched", f"task {task.task_id}: {task.status.value}, "
             f"{len(task.clips)} clip{'s' if len(task.clips) != 1 else ''}",
             task_id=task.task_id, status=task.status.value, clips=len(task.clips))
    return task


def _settle(ctx: RunContext, task: Task, clips_final: bool) -> None:
    if task.status is TaskStatus.COMPLETED and clips_final:
        ctx.manifest.set_task_state(task.task_id, TaskState.DONE, assets=ctx.config.asset_names)
        ctx.stats.clips_archived += len(task.clips)
        return
    ctx.manifest.set_task_state(task.task_id, TaskState.PENDING)
    ctx.stats.tasks_pending += 1
    if task.status is not TaskStatus.COMPLETED:
        reason = f"PiAPI says {task.status.value}"
    else:
        reason = "some assets are not ready yet"
    ctx.info("task_pending", f"task {task.task_id}: queued for a later run ({reason})",
             task_id=task.task_id, status=task.status.value)
