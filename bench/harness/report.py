"""The Markdown report: ratio tables, the 1 GiB asset, the no-op rerun, the targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .measure import MIB, Summary
from .scenarios import NoopResult

__all__ = ["BigResult", "Results", "render"]

GIB = 1 << 30
ARCHIVER = "suno-archiver"
UNTHROTTLED = "unthrottled"
CAPPED = "each connection capped at 16 MiB/s"
HTTPS = "unthrottled, over HTTPS"  # no time target; the memory target covers it too


@dataclass(frozen=True, slots=True)
class BigResult:
    small_bytes: int
    big_bytes: int
    small: Summary
    big: Summary

    @property
    def growth(self) -> float:
        return self.big.rss_mib - self.small.rss_mib


@dataclass(slots=True)
class Results:
    runs: int
    set_files: int
    set_bytes: int
    environment: list[str]
    races: dict[str, dict[str, Summary]] = field(default_factory=dict)
    big: BigResult | None = None
    noop: NoopResult | None = None
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    contention: tuple[float, float, float] = (0.0, 0.0, 0.0)  # see CpuMeter.report


def render(results: Results) -> str:
    parts = [
        "# suno-archiver benchmark results\n",
        *(f"- {line}" for line in results.environment),
        f"- {results.runs} interleaved run(s) per tool; medians; peak RSS is the highest run",
        f"- whole benchmark: {results.elapsed:.0f} s",
        _contention(results.contention),
    ]
    for scenario, summaries in results.races.items():
        parts.append(_race(scenario, summaries, results))
    if results.big is not None:
        parts.append(_big(results.big))
    if results.noop is not None:
        parts.append(_noop(results.noop))
    parts.append(_targets(results))
    if results.failures:
        parts.append("## Failures\n\n" + "".join(f"- {item}\n" for item in results.failures))
    return "\n".join(parts).rstrip() + "\n"


def _contention(contention: tuple[float, float, float]) -> str:
    capacity, others, steal = contention
    share = (others + steal) / capacity if capacity else 0.0
    line = (f"- CPU taken by other processes meanwhile: {others:.0f} s, stolen by the "
            f"hypervisor: {steal:.0f} s, {share:.0%} of the machine")
    if share > 0.1:
        line += ("\n\n**The machine was busy with other work: wall times and ratios are "
                 "slower and noisier than on an idle machine. Run again when it is idle.**")
    return line + "\n"


def _race(scenario: str, summaries: Mapping[str, Summary], results: Results) -> str:
    size = results.set_bytes / MIB
    lines = [
        f"## Download of the whole set, {scenario}\n",
        f"{results.set_files} files, {size:.0f} MiB (20 clips: mp3, mp4, cover), 8 connections; "
        "suno-archiver also fetches the 10 task JSONs, checks, tags and records.\n",
        "| tool | wall s | ÷ aria2c | ÷ curl | MiB/s | CPU s per GiB | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    aria, curl = summaries.get("aria2c"), summaries.get("curl")
    for name, s in summaries.items():
        lines.append(
            f"| {name} | {s.wall:.2f} | {_ratio(s, aria)} | {_ratio(s, curl)} | "
            f"{size / s.wall:.0f} | {s.cpu / (results.set_bytes / GIB):.2f} | {s.rss_mib:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _ratio(s: Summary, anchor: Summary | None) -> str:
    return f"{s.wall / anchor.wall:.2f}" if anchor else "–"


def _big(big: BigResult) -> str:
    rows = [(f"{big.small_bytes / MIB:.1f} MiB mp3", big.small_bytes, big.small),
            (f"{big.big_bytes / GIB:.2f} GiB mp3", big.big_bytes, big.big)]
    lines = [
        "## suno-archiver peak RSS with one large asset\n",
        "One task, one clip, `--assets audio` (the ~300 KiB cover is still fetched to embed).\n",
        "| asset | wall s | MiB/s | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|",
        *(f"| {label} | {s.wall:.2f} | {size / MIB / s.wall:.0f} | {s.cpu:.2f} | "
          f"{s.rss_mib:.1f} |" for label, size, s in rows),
        f"\nGrowth of peak RSS from the small to the 1 GiB asset: **{big.growth:+.1f} MiB**.\n",
    ]
    return "\n".join(lines)


def _noop(noop: NoopResult) -> str:
    lines = [
        "## No-op rerun over an archive of 10,000 tasks\n",
        "The real CLI over all the IDs (`-i ids.txt`), against an archive that a first run "
        "filled from nginx; requests counted from nginx's access log.\n",
        "| what | value |",
        "|---|---|",
        f"| tasks in the archive | {noop.tasks:,} ({noop.files:,} media files) |",
        f"| first run that filled it | {noop.build_wall:.1f} s |",
        f"| no-op rerun, wall (median of {noop.rerun.runs}) | {noop.rerun.wall:.3f} s |",
        f"| no-op rerun, CPU | {noop.rerun.cpu:.3f} s |",
        f"| no-op rerun, peak RSS | {noop.rerun.rss_mib:.0f} MiB |",
        f"| HTTP requests during the reruns | {noop.requests} |",
    ]
    return "\n".join(lines) + "\n"


def _targets(results: Results) -> str:
    rows = [*_race_targets(results), *_memory_targets(results)]
    if results.noop is not None:
        noop = results.noop
        rows.append(("no-op rerun over 10,000 tasks < 1 s, zero requests",
                     f"{noop.rerun.wall:.3f} s, {noop.requests} requests",
                     noop.rerun.wall < 1.0 and noop.requests == 0))
    lines = ["## Targets\n", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {what} | {value} | {'yes' if met else '**no**'} |" for what, value, met in rows]
    return "\n".join(lines) + "\n"


def _race_targets(results: Results) -> list[tuple[str, str, bool]]:
    rows = []
    for scenario, limit in ((UNTHROTTLED, 1.0), (CAPPED, 1.05)):
        found = results.races.get(scenario, {})
        if ARCHIVER in found and "aria2c" in found:
            ratio = found[ARCHIVER].wall / found["aria2c"].wall
            rows.append((f"end to end ≤ {limit:.2f}× aria2c, {scenario}", f"{ratio:.2f}×",
                         ratio <= limit))
    return rows


def _memory_targets(results: Results) -> list[tuple[str, str, bool]]:
    peaks = [found[ARCHIVER].rss_mib for found in results.races.values() if ARCHIVER in found]
    if results.big is not None:
        peaks += [results.big.small.rss_mib, results.big.big.rss_mib]
    rows = []
    if peaks:
        rows.append(("suno-archiver peak RSS ≤ 80 MiB", f"{max(peaks):.0f} MiB",
                     max(peaks) <= 80))
    if results.big is not None:
        rows.append(("peak RSS grows ≤ 8 MiB with a 1 GiB asset",
                     f"{results.big.growth:+.1f} MiB", results.big.growth <= 8))
    return rows
