"""The programmatic entry point of an archive run: config and inputs in, exit status out."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import httpx

from .api import PiAPI
from .clients import http_client
from .config import Config
from .context import RunContext, RunStats
from .download import Downloader, DownloadOptions
from .errors import Interrupted, UsageError
from .inputs import Inputs
from .lock import ArchiveLock
from .manifest import STATE_DIR, Manifest
from .pipeline import Planned, archive_tasks, plan_tasks
from .progress import Event, Level, Reporter
from .secret import Secret

__all__ = ["RunResult", "run_archive"]

@dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int
    stats: RunStats


def run_archive(
    config: Config,
    inputs: Inputs,
    reporter: Reporter,
    *,
    error_file: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RunResult:
    """Archive `inputs` into `config.dest`; raises ArchiverError subclasses for exit 2/3/4."""
    _check_dest(config.dest)
    with ArchiveLock(config.dest / STATE_DIR / "lock"):
        manifest = Manifest.open(config.dest)
        try:
            return _locked_run(config, inputs, reporter, manifest, error_file, transport)
        finally:
            manifest.close()
            reporter.close()


def _locked_run(
    config: Config,
    inputs: Inputs,
    reporter: Reporter,
    manifest: Manifest,
    error_file: Path | None,
    transport: httpx.AsyncBaseTransport | None,
) -> RunResult:
    run_id = manifest.start_run()
    client = http_client(transport, follow=True, connections=config.jobs)
    downloader = Downloader(client, DownloadOptions(jobs=config.jobs, per_host=config.jobs))
    ctx = RunContext(config, manifest, reporter, downloader)
    for problem in inputs.errors:
        ctx.error("input_error", str(problem), source=problem.source, line=problem.line)
    planned = plan_tasks(ctx, inputs)
    # Resolved now if the plan needs the API (a missing key is exit 2 before anything is
    # done); otherwise only if a dead URL makes us ask PiAPI for fresh ones.
    key = config.key.resolve() if any(step.payload is None for step in planned) else None
    try:
        asyncio.run(_run(ctx, planned, key, transport, client))
    except (KeyboardInterrupt, asyncio.CancelledError):
        manifest.finish_run(run_id, Interrupted.exit_code, "interrupted")
        raise Interrupted("interrupted; partial downloads are kept for the next run") from None
    finally:
        downloader.close()
    if planned or inputs.errors:  # the archive may have changed: show it as it is now
        _write_gallery(ctx)
    exit_code = 1 if ctx.stats.errors else 0
    summary = ctx.stats.line()
    reporter.emit(Event("summary", Level.SUMMARY, summary, ctx.stats.as_dict()))
    manifest.finish_run(run_id, exit_code, summary)
    if error_file is not None:
        _write_error_file(error_file, ctx.failed_tasks)
    return RunResult(exit_code, ctx.stats)


async def _run(
    ctx: RunContext,
    planned: list[Planned],
    key: Secret | None,
    transport: httpx.AsyncBaseTransport | None,
    downloads: httpx.AsyncClient,
) -> None:
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main is not None:
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
    api_client = http_client(transport, follow=False, connections=ctx.config.api_jobs)

    api = PiAPI(api_client, ctx.config.base_url, key or ctx.config.key.resolve,
                jobs=ctx.config.api_jobs, rate=ctx.config.api_rate)
    try:
        async with api_client, downloads:
            workers = max(ctx.config.api_jobs, ctx.config.jobs) * 2
            await archive_tasks(ctx, planned, api, workers)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _write_gallery(ctx: RunContext) -> None:
    from .gallery import write_gallery  # PIL and the page template: only after a change

    try:
        result = write_gallery(ctx.config.dest, ctx.manifest)
    except OSError as exc:  # the archive is fine; only its index could not be written
        ctx.warn("gallery_failed", f"could not write the gallery: {exc.strerror or exc}")
        return
    ctx.info("gallery_written", f"gallery: {result.index} ({result.clips} clips)",
             path=str(result.index), clips=result.clips)


def _check_dest(dest: Path) -> None:
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{dest}: cannot create the archive folder: {exc.strerror}") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise UsageError(f"{dest}: the archive folder is not writable")


def _write_error_file(path: Path, task_ids: list[str]) -> None:
    try:
        path.write_text("".join(f"{task_id}\n" for task_id in task_ids), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--error-file {path}: {exc.strerror or exc}") from None
