"""Run a command and measure it: wall time, CPU (user + sys) and peak RSS, from wait4."""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["CpuMeter", "Sample", "Summary", "release_memory", "run_timed", "summarise"]

MIB = 1 << 20
_LAUNCHER = Path(__file__).with_name("launch.py")


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + sys seconds of the child (and what it waited for)
    rss_mib: float  # peak resident set size
    code: int  # exit status
    stderr: str  # its last 2000 characters, for failure messages


@dataclass(frozen=True, slots=True)
class Summary:
    runs: int
    wall: float  # median
    cpu: float  # median
    rss_mib: float  # highest of the runs


def run_timed(
    command: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Sample:
    """Run `command` to its end through launch.py, which reads its rusage with wait4."""
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "stderr", "w+b") as errors:
        result = Path(tmp) / "rusage"
        _run_group([sys.executable, "-I", "-S", str(_LAUNCHER), str(result), *command],
                   env, cwd, errors)
        wall, cpu, maxrss_kib, code = result.read_text().split()
        errors.seek(0)
        text = errors.read().decode(errors="replace")[-2000:]
    return Sample(wall=float(wall), cpu=float(cpu), rss_mib=int(maxrss_kib) / 1024,
                  code=int(code), stderr=text)


def _run_group(
    command: list[str], env: Mapping[str, str] | None, cwd: Path | None, errors: IO[bytes]
) -> None:
    """Run `command` in its own process group, killed whole if the harness is interrupted."""
    process = subprocess.Popen(
        command, env=None if env is None else dict(env), cwd=cwd, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
    )
    try:
        status = process.wait()
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if status != 0:
        raise subprocess.CalledProcessError(status, command)


def summarise(samples: Sequence[Sample]) -> Summary:
    return Summary(
        runs=len(samples),
        wall=statistics.median(s.wall for s in samples),
        cpu=statistics.median(s.cpu for s in samples),
        rss_mib=max(s.rss_mib for s in samples),
    )


def release_memory(scratch: Path, mib: int = 384) -> None:
    """Write and delete `mib` MiB, so a run does not pay for page faults on memory the VM
    has handed back to the host (PERF.md). No fsync: the pages are freed before writeback."""
    block = os.urandom(MIB)
    path = scratch / "release-memory.tmp"
    try:
        with open(path, "wb") as out:
            for _ in range(mib):
                out.write(block)
    finally:
        path.unlink(missing_ok=True)


class CpuMeter:
    """How much of the machine's CPU went to processes that are not this benchmark's.

    /proc/stat counts every CPU second spent; this process and the children it has reaped
    (every tool, and nginx once stopped) account for theirs. The rest belongs to someone else,
    and makes every timing here slower and noisier.
    """

    def __init__(self) -> None:
        self._start = self._read()

    def report(self) -> tuple[float, float, float]:
        """(capacity, CPU s of other processes, CPU s stolen by the hypervisor) so far."""
        wall, busy, steal, ours = (now - then for now, then in zip(self._read(), self._start,
                                                                   strict=True))
        return wall * (os.cpu_count() or 1), max(busy - ours, 0.0), steal

    @staticmethod
    def _read() -> tuple[float, float, float, float]:
        with open("/proc/stat") as stat:
            fields = [int(n) for n in stat.readline().split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        ours = sum(_cpu(resource.getrusage(who))
                   for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return (time.monotonic(), (user + nice + system + irq + softirq) / tick, steal / tick,
                ours)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime
