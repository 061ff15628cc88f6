"""Stopping a run: SIGINT and SIGTERM stop cleanly (exit 130, .part kept for resume);
SIGKILL at any moment leaves no partial file under a final name, and a rerun converges."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mutagen import File as MutagenFile

from archiver.demo import DemoServer
from archiver.manifest import Manifest
from archiver.verify import Problem, check_files

ENV_KILL_RUNS = "SUNO_KILL_RUNS"


def _ids(server: DemoServer) -> list[str]:
    return [s.task_id for s in server.samples if s.expect == "archived"]


def _start(server: DemoServer, dest: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PIAPI_API_KEY": "sk-interrupt", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "archiver", *_ids(server), "-d", str(dest), "--base-url",
         server.api_url, "-j", "4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_parts(dest: Path, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(p.stat().st_size > 0 for p in dest.rglob("*.part") if p.exists()):
            return
        time.sleep(0.02)
    pytest.fail("no .part file appeared")


def _assert_consistent(dest: Path) -> None:
    """Every final-named media file is whole, and every done row matches its file."""
    manifest = Manifest.open(dest)
    try:
        problems = [item for item in check_files(dest, manifest) if isinstance(item, Problem)]
    finally:
        manifest.close()
    assert problems == []
    for path in dest.iterdir():
        if path.suffix in (".mp3", ".mp4"):
            media = MutagenFile(path)
            assert media is not None and media.info.length > 1, path


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_the_next_run_resumes(
    demo_server: DemoServer, tmp_path: Path, signum: int
) -> None:
    demo_server.throttle = 256 * 1024
    dest = tmp_path / "a"
    process = _start(demo_server, dest)
    _wait_for_parts(dest, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    kept = [p for p in dest.rglob("*.part") if p.stat().st_size > 0]
    assert kept
    _assert_consistent(dest)
    demo_server.throttle = None
    first = len(demo_server.requests)
    rerun = _start(demo_server, dest)
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err.decode()
    ranges = [v for r in demo_server.requests[first:] for k, v in r.headers.items()
              if k.lower() == "range"]
    assert any(value.startswith("bytes=") and value != "bytes=0-" for value in ranges)
    assert not list(dest.rglob("*.part"))
    _assert_consistent(dest)


def test_sigkill_at_random_moments_never_corrupts(demo_server: DemoServer, tmp_path: Path) -> None:
    runs = int(os.environ.get(ENV_KILL_RUNS, "20" if os.environ.get("CI") else "5"))
    rng = random.Random(runs)
    demo_server.throttle = 2 * 1024 * 1024
    dest = tmp_path / "a"
    for _ in range(runs):
        process = _start(demo_server, dest)
        time.sleep(rng.uniform(0.3, 2.5))
        process.kill()
        process.wait(timeout=30)
        _assert_consistent(dest)
    demo_server.throttle = None
    rerun = _start(demo_server, dest)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    _assert_consistent(dest)
    assert len(list(dest.glob("*.mp3"))) == 14 and not list(dest.rglob("*.part"))
