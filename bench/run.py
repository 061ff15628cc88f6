"""Benchmark suno-archiver against aria2c and curl, all on 127.0.0.1 (see bench/README.md).

    .venv/bin/python bench/run.py [--quick]

Writes bench/results.md and prints it; exits 1 when a tool failed or left an incomplete
result, 2 when a program it needs is missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.measure import CpuMeter, Summary
from harness.media import BIG_FRAME, ensure_media, write_mp3
from harness.nginx import Nginx, Site, throwaway_ca
from harness.report import CAPPED, HTTPS, UNTHROTTLED, BigResult, Results, render
from harness.scenarios import Failures, NoopResult, noop_rerun, race, run_once
from harness.spec import (
    BIG_MP3_BYTES,
    MP3_FRAME_SECONDS,
    NOOP_TASKS,
    ClipSpec,
    bench_clips,
    bench_id,
    bench_tasks,
)
from harness.tasks import noop_tasks, write_tasks
from harness.tools import Archiver, Aria2c, Curl, MediaFile, Tool

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CDN = BENCH / ".data" / "cdn"
RESULTS = BENCH / "results.md"
PROFILES = BENCH / ".data" / "profiles"
APT_LINE = "apt-get install -y nginx aria2 curl"
PROGRAMS = ("nginx", "aria2c", "curl")
PARTS = ("download", "big", "noop")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    problem = _missing(args)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    archiver = _find_archiver()
    if archiver is None:
        print("suno-archiver not found next to this Python; run it with the project's "
              ".venv/bin/python", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C: nginx is stopped and the work directory removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    meter = CpuMeter()
    work = Path(tempfile.mkdtemp(prefix="suno-bench-"))
    work.chmod(0o755)  # nginx's worker may run as another user
    try:
        ensure_media(CDN, _log)
        results = _run(args, archiver, work)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.elapsed = time.monotonic() - started
    results.contention = meter.report()
    text = render(results)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 1 if results.failures else 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run each instead of five")
    parser.add_argument("--runs", type=int, help="timed runs per tool (default 5, --quick 1)")
    parser.add_argument("--jobs", type=int, default=8, help="connections per tool (default 8)")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable; default all)")
    parser.add_argument("--noop-assets", default="image", choices=("image", "all"),
                        help="what the 10,000-task archive holds (default: image, ~1 KiB each)")
    parser.add_argument("--profile", action="store_true",
                        help="also record untimed py-spy flamegraphs of suno-archiver "
                             f"(download and no-op) into {PROFILES.relative_to(REPO)}/")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 5)
    args.only = set(args.only or PARTS)
    return args


def _missing(args: argparse.Namespace) -> str | None:
    """What this run needs and is not installed, and how to install it; None if nothing."""
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if not (CDN / "template.mp4").exists() and shutil.which("ffmpeg") is None:
        missing.append("ffmpeg")
    if args.profile and shutil.which("py-spy") is None:
        return "--profile needs py-spy on PATH (pip install py-spy)"
    if missing:
        extra = " ffmpeg" if "ffmpeg" in missing else ""
        return f"missing: {', '.join(missing)}; install with:\n  {APT_LINE}{extra}"
    if "download" in args.only and importlib.util.find_spec("trustme") is None:
        return ("the HTTPS race needs trustme, one of the project's test extras; install "
                "them with:\n  .venv/bin/pip install -e '.[test]'")
    return None


def _run(args: argparse.Namespace, archiver: Path, work: Path) -> Results:
    clips = bench_clips()
    results = Results(
        runs=args.runs,
        set_files=3 * len(clips),
        set_bytes=sum((CDN / path).stat().st_size for clip in clips for path in clip.paths),
        environment=_environment(),
    )
    failures = Failures()
    scratch = work / "scratch"
    scratch.mkdir()
    with Nginx(work / "nginx", _site(work / "site")) as server:
        if "download" in args.only:
            tools = _race_tools(server, archiver, args.jobs)
            _log("warm-up round (not timed) ...")
            for tool in tools:
                run_once(tool, scratch, failures, "warm-up")
            _log(f"download race, {UNTHROTTLED} ...")
            results.races[UNTHROTTLED] = race(tools, args.runs, scratch, failures,
                                              UNTHROTTLED, _log)
            if args.profile:
                _profile(tools[0], tools[0].command, "download")
        if "big" in args.only:
            _log("one large asset ...")
            results.big = _big_asset(server, archiver, args, scratch, failures)
        if "noop" in args.only:
            _log("no-op rerun ...")
            results.noop = _noop(server, archiver, args, scratch, failures)
    if "download" in args.only:
        capped = _site(work / "site-capped", limit_rate="16m")
        results.races[CAPPED] = _other_race(CAPPED, capped, work / "nginx-capped", archiver,
                                            args, scratch, failures)
        tls = throwaway_ca(work / "tls")
        https = _site(work / "site-https", tls=tls.server_pem)
        results.races[HTTPS] = _other_race(HTTPS, https, work / "nginx-https", archiver,
                                           args, scratch, failures, ca_file=tls.ca_pem)
    results.failures = failures.items
    return results


def _site(root: Path, limit_rate: str | None = None, tls: Path | None = None) -> Site:
    site = Site(tasks=root / "tasks", cdn=CDN, extra=root / "extra", limit_rate=limit_rate,
                tls=tls)
    for folder in (site.tasks, site.extra / "big"):
        folder.mkdir(parents=True)
    return site


def _other_race(
    scenario: str, site: Site, nginx_work: Path, archiver: Path, args: argparse.Namespace,
    scratch: Path, failures: Failures, ca_file: Path | None = None,
) -> dict[str, Summary]:
    """The download race against its own nginx (capped, or HTTPS), after the warm-up round."""
    with Nginx(nginx_work, site) as server:
        _log(f"download race, {scenario} ...")
        tools = _race_tools(server, archiver, args.jobs, ca_file)
        return race(tools, args.runs, scratch, failures, scenario, _log)


def _race_tools(
    server: Nginx, archiver: Path, jobs: int, ca_file: Path | None = None
) -> list[Tool]:
    clips = bench_clips()
    task_ids = write_tasks(server.site.tasks, bench_tasks(), server.cdn_url)
    files = [MediaFile(f"{server.cdn_url}/{path}", Path(path).name, (CDN / path).stat().st_size)
             for clip in clips for path in clip.paths]
    expect = {"mp3": len(clips), "mp4": len(clips), "jpg": len(clips)}
    return [
        Archiver(archiver, server.api_url, task_ids, server.work, expect, jobs=jobs,
                 ca_file=ca_file),
        Aria2c(files, server.work, jobs=jobs, ca_file=ca_file),
        Curl(files, server.work, jobs=jobs, ca_file=ca_file),
    ]


def _big_asset(
    server: Nginx, archiver: Path, args: argparse.Namespace, scratch: Path, failures: Failures
) -> BigResult | None:
    """suno-archiver on one ~5 MiB mp3, then on one 1 GiB mp3, interleaved."""
    template = bench_clips()[0]
    frames = BIG_MP3_BYTES // len(BIG_FRAME)
    big = ClipSpec(bench_id("big-clip"), "Bench Big", round(frames * MP3_FRAME_SECONDS, 3),
                   f"big/{bench_id('big-clip')}.mp3", template.mp4, template.cover)
    small = ClipSpec(bench_id("small-clip"), "Bench Small", template.seconds,
                     template.mp3, template.mp4, template.cover)
    big_file = server.site.extra / big.mp3
    write_mp3(big_file, frames, BIG_FRAME)
    try:
        small_id, big_id = write_tasks(server.site.tasks, {bench_id("small-task"): [small],
                                                           bench_id("big-task"): [big]},
                                       server.cdn_url)
        tools: list[Tool] = [
            Archiver(archiver, server.api_url, [task_id], server.work, {"mp3": 1},
                     options=("--assets", "audio"), jobs=args.jobs, name=name)
            for name, task_id in (("small asset", small_id), ("1 GiB asset", big_id))
        ]
        found = race(tools, max(1, min(args.runs, 3)), scratch, failures, "large asset", _log)
        if len(found) < len(tools):
            return None  # every run of one of them failed: see the failures
        return BigResult((CDN / small.mp3).stat().st_size, big_file.stat().st_size,
                         found["small asset"], found["1 GiB asset"])
    finally:
        big_file.unlink(missing_ok=True)


def _noop(
    server: Nginx, archiver: Path, args: argparse.Namespace, scratch: Path, failures: Failures
) -> NoopResult:
    tasks = noop_tasks(NOOP_TASKS, clips_per_task=2)
    task_ids = write_tasks(server.site.tasks, tasks, server.cdn_url)
    ids_file = server.work / "noop-ids.txt"
    ids_file.write_text("".join(f"{task_id}\n" for task_id in task_ids), encoding="utf-8")
    clips = sum(len(found) for found in tasks.values())
    kept = ("mp3", "mp4", "jpg") if args.noop_assets == "all" else ("jpg",)
    assets = "audio,video,image" if args.noop_assets == "all" else "image"
    tool = Archiver(archiver, server.api_url, (), server.work, dict.fromkeys(kept, clips),
                    options=("--assets", assets, "-i", str(ids_file)), jobs=args.jobs)

    def profile(archive: Path) -> None:
        _profile(tool, lambda _: tool.command(archive), "noop")

    return noop_rerun(tool, args.runs, scratch, server.requests, len(tasks), failures, _log,
                      profile if args.profile else None)


def _profile(tool: Tool, command: Callable[[Path], list[str]], name: str) -> None:
    """One untimed run of suno-archiver under py-spy, written as a flamegraph SVG."""
    PROFILES.mkdir(parents=True, exist_ok=True)
    svg = PROFILES / f"{name}.svg"
    with tempfile.TemporaryDirectory(prefix="profile-") as dest:
        subprocess.run(["py-spy", "record", "-r", "250", "--threads", "-f", "flamegraph",
                        "-o", str(svg), "--", sys.executable, *command(Path(dest))],
                       env=tool.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
    _log(f"  profile: {svg}")


def _find_archiver() -> Path | None:
    beside = Path(sys.executable).parent / "suno-archiver"
    if beside.exists():
        return beside
    found = shutil.which("suno-archiver")
    return Path(found) if found else None


def _environment() -> list[str]:
    return [
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        f"suno-archiver {importlib.metadata.version('suno-archiver')} at {_git_head()}, "
        f"httpx {importlib.metadata.version('httpx')}",
        f"{_version(['nginx', '-v'])}, {_version(['aria2c', '--version'])}, "
        f"{_version(['curl', '--version'])}",
    ]


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return f"{command[0]} ?"
    text = (done.stdout or done.stderr).strip().splitlines()
    return " ".join(text[0].replace("nginx version:", "").split()[:3]) if text else command[0]


def _git_head() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
