"""`suno-archiver demo`: the real pipeline, over HTTP, against the embedded sample server.

No API key and no network: the server runs on 127.0.0.1. Each sample says what it shows and
what should become of it; the demo exits 0 when every outcome is the expected one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from .config import Config
from .demo import DemoServer, Sample
from .inputs import Inputs
from .manifest import Manifest, TaskState
from .progress import Reporter
from .run import run_archive
from .secret import KeySource

__all__ = ["outcome", "run_demo"]

DEMO_KEY = "demo-key-not-secret"


def run_demo(dest: Path, reporter: Reporter, err: TextIO) -> int:
    with DemoServer() as server:
        config = replace(Config(), dest=dest, base_url=server.api_url,
                         key=KeySource(env_value=DEMO_KEY))
        inputs = Inputs(task_ids=tuple(sample.task_id for sample in server.samples))
        print(f"demo: sample PiAPI at {server.api_url}, sample CDN at {server.cdn_url}", file=err)
        print("demo: some samples are failures on purpose; their errors below are expected",
              file=err)
        run_archive(config, inputs, reporter)
        samples = server.samples
    manifest = Manifest.open(dest)
    try:
        results = [(sample, outcome(manifest, sample.task_id)) for sample in samples]
    finally:
        manifest.close()
    return _report(dest, results, err)


def outcome(manifest: Manifest, task_id: str) -> str:
    """archived / partial / pending / failed / not_found, as the manifest records the task."""
    row = manifest.task_row(task_id)
    state = row[0] if row else "missing"
    if state in (TaskState.FAILED, TaskState.NOT_FOUND, TaskState.ERROR, "missing"):
        return state
    lost = manifest.has_losses(task_id)
    if lost:
        return "partial"
    return "archived" if state == TaskState.DONE else "pending"


def _report(dest: Path, results: list[tuple[Sample, str]], err: TextIO) -> int:
    print("\ndemo: what became of each sample task", file=err)
    mismatches = 0
    for sample, got in results:
        mark = "ok " if got == sample.expect else "!! "
        mismatches += got != sample.expect
        print(f"  {mark}{got:10} {sample.task_id[:8]}  {sample.shows}", file=err)
    kinds = Counter(path.suffix for path in dest.iterdir() if path.is_file())
    listing = ", ".join(f"{count} {suffix.lstrip('.')}" for suffix, count in sorted(kinds.items()))
    print(f"\ndemo: the archive is in {dest.resolve()} ({listing})", file=err)
    print(f"demo: browse it: open {(dest / 'index.html').resolve().as_uri()}", file=err)
    if mismatches:
        print(f"demo: {mismatches} sample(s) did not end as expected", file=err)
        return 1
    print("demo: every sample ended as expected", file=err)
    return 0
