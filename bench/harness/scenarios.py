"""The measured scenarios: the download race, one 1 GiB asset, the no-op rerun."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .measure import Sample, Summary, release_memory, run_timed, summarise
from .tools import Tool, count_files

__all__ = ["Failures", "NoopResult", "noop_rerun", "race", "run_once"]

Log = Callable[[str], None]


@dataclass(slots=True)
class Failures:
    """What went wrong; any entry makes the benchmark exit non-zero."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, problem: str) -> None:
        self.items.append(f"{where}: {problem}")


def run_once(tool: Tool, scratch: Path, failures: Failures, where: str) -> Sample | None:
    """One timed run of `tool` into a fresh directory, deleted afterwards; None if it failed."""
    dest = Path(tempfile.mkdtemp(prefix=f"{tool.name}-", dir=scratch))
    try:
        release_memory(scratch)
        sample = run_timed(tool.command(dest), tool.env())
        problem = tool.check(dest, sample)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    if problem is not None:
        failures.add(f"{where}, {tool.name}", problem)
        return None
    return sample


def race(
    tools: Sequence[Tool], runs: int, scratch: Path, failures: Failures, where: str, log: Log
) -> dict[str, Summary]:
    """`runs` rounds of every tool, interleaved, the order rotated each round.

    A failed run is left out of the summary (it is in `failures`); a tool with no good run
    has no summary."""
    samples: dict[str, list[Sample]] = {tool.name: [] for tool in tools}
    for round_no in range(runs):
        shift = round_no % len(tools)
        for tool in [*tools[shift:], *tools[:shift]]:
            sample = run_once(tool, scratch, failures, where)
            label = f"  {where} round {round_no + 1}/{runs} {tool.name}:"
            if sample is None:
                log(f"{label} FAILED")
                continue
            samples[tool.name].append(sample)
            log(f"{label} {sample.wall:.2f} s, {sample.cpu:.2f} s CPU, "
                f"{sample.rss_mib:.0f} MiB")
    return {name: summarise(found) for name, found in samples.items() if found}


@dataclass(frozen=True, slots=True)
class NoopResult:
    tasks: int
    files: int  # media files in the archive the rerun found in place
    build_wall: float  # the first run that filled the archive
    rerun: Summary
    requests: int  # HTTP requests nginx saw during all the reruns


def noop_rerun(
    tool: Tool, runs: int, scratch: Path, requests: Callable[[], int],
    tasks: int, failures: Failures, log: Log, after: Callable[[Path], None] | None = None,
) -> NoopResult:
    """Fill an archive with one run of `tool`, then time `runs` reruns that must do nothing.

    `after` is called with the archive before it is deleted (for an untimed profile)."""
    dest = scratch / "noop-archive"
    log(f"  building an archive of {tasks} tasks (one real run) ...")
    build = run_timed(tool.command(dest), tool.env())
    problem = tool.check(dest, build)
    if problem is not None:
        failures.add("no-op, building the archive", problem)
    files = sum(n for ext, n in count_files(dest).items() if ext in ("mp3", "mp4", "jpg"))
    log(f"  built in {build.wall:.1f} s ({files} media files); timing the reruns ...")
    before = requests()
    samples = []
    for _ in range(runs):
        release_memory(scratch)
        sample = run_timed(tool.command(dest), tool.env())
        problem = tool.check(dest, sample)
        if problem is not None:
            failures.add("no-op rerun", problem)
        samples.append(sample)
        log(f"  no-op rerun: {sample.wall:.3f} s, {sample.rss_mib:.0f} MiB")
    sent = requests() - before
    if after is not None:
        after(dest)
    shutil.rmtree(dest, ignore_errors=True)
    return NoopResult(tasks, files, build.wall, summarise(samples), sent)
