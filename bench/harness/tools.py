"""The three downloaders compared: suno-archiver end to end, aria2c and curl --parallel.

Each builds its command for a fresh destination and checks what it left there, so a fast but
incomplete run never counts. Given a CA file (`ca_file`), each trusts it for HTTPS media URLs,
its own way; certificates are still checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .measure import Sample

__all__ = ["Aria2c", "Archiver", "Curl", "MediaFile", "Tool", "archiver_env"]


@dataclass(frozen=True, slots=True)
class MediaFile:
    url: str
    name: str  # file name in the destination (aria2c and curl)
    size: int


class Tool(Protocol):
    @property
    def name(self) -> str: ...

    def command(self, dest: Path) -> list[str]: ...

    def env(self) -> Mapping[str, str] | None: ...

    def check(self, dest: Path, sample: Sample) -> str | None:
        """What is wrong with this run, or None when it did all it had to."""
        ...


def archiver_env(work: Path) -> dict[str, str]:
    """The caller's environment, a dummy key, and no config file or base URL of the user's.

    PYTHONDONTWRITEBYTECODE is dropped: an installed package runs from compiled bytecode, and
    recompiling every module on each run would add ~0.3 s to every timing.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIAPI_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PIAPI_API_KEY="x", XDG_CONFIG_HOME=str(work / "xdg-config"))
    return env


@dataclass(frozen=True, slots=True)
class Archiver:
    """`suno-archiver --base-url ... -d DEST -q --no-progress -j JOBS [options] TASK_IDS`,
    with `SSL_CERT_FILE=CA` in its environment when given a CA file (httpx honours it)."""

    executable: Path
    api_url: str
    task_ids: Sequence[str]
    work: Path
    expect: Mapping[str, int]  # extension → number of files the run must leave
    options: Sequence[str] = ()
    jobs: int = 8
    name: str = "suno-archiver"
    ca_file: Path | None = None

    def command(self, dest: Path) -> list[str]:
        return [str(self.executable), "--base-url", self.api_url, "-d", str(dest), "-q",
                "--no-progress", "-j", str(self.jobs), *self.options, *self.task_ids]

    def env(self) -> Mapping[str, str] | None:
        env = archiver_env(self.work)
        if self.ca_file is not None:
            env["SSL_CERT_FILE"] = str(self.ca_file)
        return env

    def check(self, dest: Path, sample: Sample) -> str | None:
        if sample.code != 0:
            return f"exit status {sample.code}: {_last_line(sample.stderr)}"
        counts = count_files(dest)
        if counts.get("part"):
            return f"{counts['part']} .part files left"
        wrong = {ext: counts.get(ext, 0) for ext, n in self.expect.items()
                 if counts.get(ext, 0) != n}
        return f"expected {dict(self.expect)} files, found {wrong}" if wrong else None


@dataclass(frozen=True, slots=True)
class _Reference:
    """A plain downloader of the media files: no environment of its own, and it must leave
    every file at its exact size."""

    files: Sequence[MediaFile]
    work: Path
    jobs: int = 8
    ca_file: Path | None = None

    def env(self) -> Mapping[str, str] | None:
        return None

    def check(self, dest: Path, sample: Sample) -> str | None:
        return _check_copies(dest, self.files, sample)


@dataclass(frozen=True, slots=True)
class Aria2c(_Reference):
    """`aria2c -j JOBS -x 1 -i LIST -d DEST --allow-overwrite=true
    --auto-file-renaming=false -q [--ca-certificate=CA]`."""

    name: str = "aria2c"

    def command(self, dest: Path) -> list[str]:
        listing = self.work / "aria2c-urls.txt"
        listing.write_text("".join(f"{f.url}\n  out={f.name}\n" for f in self.files))
        trust = [f"--ca-certificate={self.ca_file}"] if self.ca_file is not None else []
        return ["aria2c", "-j", str(self.jobs), "-x", "1", "-i", str(listing), "-d", str(dest),
                "--allow-overwrite=true", "--auto-file-renaming=false", "-q", *trust]


@dataclass(frozen=True, slots=True)
class Curl(_Reference):
    """`curl --parallel --parallel-max JOBS -s -S --fail [--cacert CA] -K LIST` (url/output
    pairs)."""

    name: str = "curl"

    def command(self, dest: Path) -> list[str]:
        listing = self.work / "curl-config.txt"
        listing.write_text("".join(f'url = "{f.url}"\noutput = "{dest / f.name}"\n'
                                   for f in self.files))
        trust = ["--cacert", str(self.ca_file)] if self.ca_file is not None else []
        return ["curl", "--parallel", "--parallel-max", str(self.jobs), "-s", "-S", "--fail",
                *trust, "-K", str(listing)]


def count_files(dest: Path) -> dict[str, int]:
    """Files under `dest` by extension, the manifest's folder left out."""
    counts: dict[str, int] = {}
    for path in dest.rglob("*"):
        if path.is_file() and ".suno-archiver" not in path.parts:
            ext = path.suffix.lstrip(".")
            counts[ext] = counts.get(ext, 0) + 1
    return counts


def _check_copies(dest: Path, files: Sequence[MediaFile], sample: Sample) -> str | None:
    if sample.code != 0:
        return f"exit status {sample.code}: {_last_line(sample.stderr)}"
    wrong = [f.name for f in files
             if not (dest / f.name).is_file() or (dest / f.name).stat().st_size != f.size]
    if wrong:
        return f"{len(wrong)} of {len(files)} files missing or short, e.g. {wrong[0]}"
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
