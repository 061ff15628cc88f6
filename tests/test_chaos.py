"""The whole program against a PiAPI and CDN that fail at random (tests/chaos.py).

Each hypothesis example is a fault schedule: a seed, a fault rate, the faults allowed, how
many faulty runs, the download concurrency, the number of tasks, whether signed URLs expire,
whether the first run keeps only the audio. The archive is run through `main([...])` that
many times, then with the faults off. After every run:

- every file under a final name is a done manifest row, byte-identical to its source once
  the tags are set aside (mp3: the ID3v2 tag stripped; mp4: the `mdat` payload; covers: whole),
  with the size and sha256 the row (and the clip's sidecar) records: nothing partial, nothing
  corrupt;
- the exit status is 0 or 1, and nothing escapes `main` (no traceback);
- no request that is not PiAPI's task endpoint carries the API key.

The first fault-free run must complete the archive (nothing lost); the one after it must not
send a single request, nor must one after the manifest is rebuilt from the sidecars.
`SUNO_CHAOS_EXAMPLES` sets the number of schedules (default 40); the figures (faults injected,
runs, files verified, lost, corrupted) are printed at the end, and written as JSON to the
file `SUNO_CHAOS_REPORT` names, if set.

Two switches keep it quick, and both leave the code under test as it is: the retry sleeps
are scaled down to 1 % (capped at 50 ms), and the HTTP read timeout is 1 s (a stalled
body then costs a second, not a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import random
import sqlite3
import struct
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archiver.api
import archiver.download
import archiver.run
from archiver.cli import main
from archiver.clients import http_client
from archiver.manifest import DB_NAME, STATE_DIR
from archiver.rebuild import rebuild_manifest
from archiver.retry import Backoff, RetryPolicy
from archiver.samplemedia import cover_image, silent_mp3

from .chaos import API_FAULTS, CDN_FAULTS, TASK_PATH, ChaosServer, Seen

KEY = "sk-chaos-7f3a9c1e5b2d4f6a8c0e"
EXAMPLES = int(os.environ.get("SUNO_CHAOS_EXAMPLES", "40"))
READ_TIMEOUT = 1.0
VIDEO = (Path(__file__).parents[1] / "sample_tasks" / "media" / "demo.mp4").read_bytes()
# Every fault, "short-close" too: a body cut short without a Content-Length looks complete to
# HTTP; the engine confirms it with a Range request (test_short_close_* test that alone).
PROPERTY_FAULTS = tuple(sorted(set(CDN_FAULTS + API_FAULTS)))
TITLES = ["Neon Harbor", "AC/DC ../../etc/passwd", "CON", "\u202egnp.exe", " . ", "",
          "Ünïcödé 🎵 ♪", "a\x00b\x1b[31mred", "tabs\tand\nnewlines", "x" * 400]


@dataclass
class Figures:
    examples: int = 0
    runs: int = 0
    requests: int = 0
    files_verified: int = 0
    lost: int = 0
    corrupted: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (f"chaos: {self.examples} schedules, {self.runs} runs, {self.requests} requests, "
                f"{sum(self.faults.values())} faults injected, {self.files_verified} files "
                f"verified, {self.lost} lost, {self.corrupted} corrupted")


FIGURES = Figures()


@pytest.fixture(scope="module", autouse=True)
def _report_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not FIGURES.runs:
        return
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin(
        "capturemanager")
    lines = [FIGURES.line(), "  by fault: " + ", ".join(
        f"{name} {count}" for name, count in sorted(FIGURES.faults.items()))]
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for text in lines:
                reporter.write_line(text)
    target = os.environ.get("SUNO_CHAOS_REPORT")
    if target:
        Path(target).write_text(json.dumps({**FIGURES.__dict__, "faults": dict(FIGURES.faults)},
                                           indent=2) + "\n", encoding="utf-8")


# the library: tasks, and the bytes each file must hold -------------------------------------


@dataclass(frozen=True)
class Library:
    task_ids: tuple[str, ...]
    payloads: tuple[Any, ...]
    media: dict[str, bytes]  # CDN path → bytes
    sources: dict[tuple[str, str], bytes]  # (clip id, kind) → the payload the file must hold


def _uuid(rng: random.Random) -> str:
    text = f"{rng.getrandbits(128):032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-8{text[17:20]}-{text[20:]}"


def make_library(seed: int, tasks: int, clips_per_task: int = 2) -> Library:
    rng = random.Random(seed)
    payloads, media, sources = [], {}, {}
    for number in range(tasks):
        clips = []
        for _ in range(clips_per_task):
            clip_id, seconds = _uuid(rng), rng.choice([6.0, 12.5, 24.0, 40.0])
            cover_ext = rng.choice(["jpeg", "png"])
            paths = {"audio": f"/m/{clip_id}.mp3", "video": f"/m/{clip_id}.mp4",
                     "image": f"/m/image_large_{clip_id}.{cover_ext}"}
            audio = silent_mp3(seconds)
            cover = cover_image(clip_id, (96, 96), "PNG" if cover_ext == "png" else "JPEG")
            media.update({paths["audio"]: audio, paths["video"]: VIDEO, paths["image"]: cover})
            sources.update({(clip_id, "audio"): audio, (clip_id, "video"): VIDEO,
                            (clip_id, "image"): cover})
            clips.append(_clip_json(clip_id, rng.choice(TITLES), seconds, paths))
        payloads.append(_task_json(_uuid(rng), clips, list_shape=number % 2 == 1))
    return Library(tuple(p["data"]["task_id"] for p in payloads), tuple(payloads), media,
                   sources)


def _clip_json(clip_id: str, title: str, seconds: float, paths: dict[str, str]) -> Any:
    return {
        "id": clip_id, "title": title, "status": "complete", "is_video_pending": False,
        "audio_url": paths["audio"], "video_url": paths["video"],
        "image_url": paths["image"].replace("image_large_", "image_"),
        "image_large_url": paths["image"], "model_name": "chirp-v3-5",
        "major_model_version": "v3.5", "created_at": "2024-09-21T09:43:21.637Z",
        "display_name": "Chaos", "handle": "chaos",
        "metadata": {"tags": "chaos, noise", "prompt": "[Verse]\nla la", "duration": seconds,
                     "type": "gen", "error_type": "", "error_message": ""},
    }


def _task_json(task_id: str, clips: list[Any], *, list_shape: bool) -> Any:
    return {"code": 200, "message": "success", "data": {
        "task_id": task_id, "model": "suno",
        "task_type": "music" if list_shape else "generate_music", "status": "completed",
        "config": {"service_mode": "public",
                   "webhook_config": {"endpoint": "", "secret": "wh_chaos_secret"}},
        "input": {}, "meta": {}, "detail": None, "logs": [],
        "output": clips if list_shape else {"clips": {c["id"]: c for c in clips}},
        "error": {"code": 0, "raw_message": "", "message": "", "detail": None}}}


# payloads, tags aside ----------------------------------------------------------------------


def payload(kind: str, data: bytes) -> bytes:
    """What tagging must leave untouched: the audio frames, the movie data, the whole cover."""
    if kind == "audio" and data[:3] == b"ID3":
        size = 10 + sum(byte << (7 * (3 - index)) for index, byte in enumerate(data[6:10]))
        return data[size + (10 if data[5] & 0x10 else 0):]
    if kind == "video":
        return b"".join(_boxes(data, b"mdat"))
    return data


def _boxes(data: bytes, wanted: bytes) -> Iterator[bytes]:
    at = 0
    while at + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = len(data) - at
        if size < header:
            raise AssertionError(f"broken box {name!r} at {at}")
        if name == wanted:
            yield data[at + header:at + size]
        at += size
    if at != len(data):
        raise AssertionError(f"boxes end at {at}, the file at {len(data)}")


# the invariants ----------------------------------------------------------------------------


@dataclass
class Check:
    files: int = 0  # files verified
    corrupted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_archive(dest: Path, library: Library) -> tuple[Check, set[tuple[str, str]]]:
    """Every invariant that must hold between runs; returns what is done."""
    check, done = Check(), set()
    rows = _rows(dest)
    by_path = {path: (clip_id, kind, size, sha) for clip_id, kind, state, path, size, sha in rows
               if state == "done"}
    for path, (clip_id, kind, size, sha) in by_path.items():
        done.add((clip_id, kind))
        _check_file(dest, path, clip_id, kind, size, sha, library, check)
    for found in dest.rglob("*"):
        relative = found.relative_to(dest).as_posix()
        if found.is_dir() or relative.startswith(STATE_DIR + "/"):
            continue
        if relative.endswith((".part", ".info.json")) or relative in ("index.html",
                                                                       "playlist.m3u8"):
            continue
        if relative not in by_path:
            check.problems.append(f"{relative}: a final name without a done manifest row")
    return check, done


def _rows(dest: Path) -> list[tuple[Any, ...]]:
    if not (dest / STATE_DIR / DB_NAME).exists():
        return []
    db = sqlite3.connect(f"file:{dest / STATE_DIR / DB_NAME}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT clip_id, kind, state, path, size, sha256 FROM files").fetchall()
    finally:
        db.close()


def _check_file(dest: Path, path: str, clip_id: str, kind: str, size: int, sha: str,
                library: Library, check: Check) -> None:
    final = dest / path
    if not final.is_file():
        check.problems.append(f"{path}: done in the manifest, not on disk")
        return
    data = final.read_bytes()
    check.files += 1
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        check.problems.append(f"{path}: not the size and hash its manifest row records")
    try:
        same = payload(kind, data) == payload(kind, library.sources[(clip_id, kind)])
    except AssertionError as exc:
        same = False
        check.problems.append(f"{path}: {exc}")
    if not same:
        check.corrupted.append(path)
        check.problems.append(f"{path}: payload differs from the source")
    sidecar = _sidecar(final)
    recorded = sidecar.get("archiver", {}).get("files", {}).get(kind, {}) if sidecar else {}
    if recorded.get("sha256") != sha or recorded.get("path") != path:
        check.problems.append(f"{path}: its sidecar does not record it as saved")


def _sidecar(final: Path) -> Any:
    path = final.with_name(final.name.rsplit(".", 1)[0] + ".info.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def key_leaks(server: ChaosServer) -> list[str]:
    """Requests that carry the key but are not PiAPI's task endpoint on PiAPI's origin."""
    leaks = []
    for seen in server.requests:
        carried = seen.headers.get("x-api-key")
        real_path = "/" + seen.path.split("/", 4)[4] if seen.path.startswith("/hop/") else (
            seen.path)
        legit = seen.role == "api" and real_path.startswith(TASK_PATH)
        if carried is not None and not (legit and carried == KEY):
            leaks.append(f"{seen.role} {seen.target}")
        if KEY in seen.target:
            leaks.append(f"{seen.role} {seen.target} (in the URL)")
    return leaks


# the program, quick and impatient ----------------------------------------------------------


class _QuickBackoff(Backoff):
    """The real Backoff, its sleeps scaled to 1 % (the decisions are the same)."""

    def __init__(self, policy: RetryPolicy,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        async def quick(delay: float) -> None:
            await sleep(min(delay / 100, 0.05))

        super().__init__(policy, quick, rng)


def _impatient_client(transport: httpx.AsyncBaseTransport | None, *, follow: bool,
                      connections: int) -> httpx.AsyncClient:
    client = http_client(transport, follow=follow, connections=connections)
    client.timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
    return client


@contextlib.contextmanager
def quick_program() -> Iterator[None]:
    with mock.patch.object(archiver.download, "Backoff", _QuickBackoff), \
            mock.patch.object(archiver.api, "Backoff", _QuickBackoff), \
            mock.patch.object(archiver.run, "http_client", _impatient_client), \
            mock.patch.dict(os.environ, {"PIAPI_API_KEY": KEY}):
        yield


def run_archive(server: ChaosServer, library: Library, dest: Path, jobs: int,
                *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main([*library.task_ids, "-d", str(dest), "--base-url", server.api_url,
                 "--no-progress", "--give-up-after", "1000", "-j", str(jobs), *extra],
                stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def serve(server: ChaosServer, library: Library) -> None:
    for task in library.payloads:
        server.publish(task, {})
    server.media.update(library.media)


@dataclass(frozen=True)
class Schedule:
    seed: int
    rate: float
    faults: frozenset[str]
    faulty_runs: int
    jobs: int
    tasks: int
    expiring: bool = False  # the CDN honours only the newest signed URL of each file
    audio_first: bool = False  # the first run keeps only the audio; the others widen it


def chaos_round(schedule: Schedule, dest: Path) -> Counter[str]:
    """Faulty runs, a clean run that must complete, reruns that must ask nothing; the faults
    acted out."""
    library = make_library(schedule.seed, schedule.tasks)
    with quick_program(), ChaosServer(schedule.seed, schedule.rate, schedule.faults) as server:
        serve(server, library)
        server.expiring = schedule.expiring
        FIGURES.examples += 1
        try:
            for number in range(schedule.faulty_runs):
                narrow = schedule.audio_first and number == 0
                _one_run(server, library, dest, schedule.jobs,
                         *(["--assets", "audio"] if narrow else []))
            server.enabled = False
            code, err = _one_run(server, library, dest, schedule.jobs)
            _, done = check_archive(dest, library)
            lost = set(library.sources) - done
            FIGURES.lost += len(lost)
            assert not lost, f"lost after a clean run: {sorted(lost)}\n{err}"
            assert code == 0, err
            assert not list(dest.rglob("*.part")), "a clean run left .part files"
            before = len(server.requests)
            code, err = _one_run(server, library, dest, schedule.jobs)
            assert code == 0 and len(server.requests) == before, err
            _rebuilt_alike(dest)
            code, err = _one_run(server, library, dest, schedule.jobs)
            assert code == 0 and len(server.requests) == before, err
        finally:
            FIGURES.faults.update(server.injected)
            FIGURES.requests += len(server.requests)
    return server.injected


def _rebuilt_alike(dest: Path) -> None:
    """The sidecars the faulty runs left describe the archive: a manifest rebuilt from them
    records the same files, and the next run still asks for nothing."""
    rows = sorted(row for row in _rows(dest) if row[2] == "done")
    result = rebuild_manifest(dest)
    assert (result.missing, result.changed, result.skipped) == ((), (), ())
    assert sorted(row for row in _rows(dest) if row[2] == "done") == rows


def _one_run(server: ChaosServer, library: Library, dest: Path, jobs: int,
             *extra: str) -> tuple[int, str]:
    code, err = run_archive(server, library, dest, jobs, *extra)
    FIGURES.runs += 1
    check, _ = check_archive(dest, library)
    FIGURES.files_verified += check.files
    FIGURES.corrupted += len(check.corrupted)
    assert code in (0, 1), err
    assert not check.problems, "\n".join(check.problems) + "\n" + err
    assert not key_leaks(server), key_leaks(server)
    assert "Traceback" not in err
    return code, err


schedules = st.builds(
    Schedule,
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([0.15, 0.3, 0.5, 0.7]),
    faults=st.frozensets(st.sampled_from(PROPERTY_FAULTS), min_size=1),
    faulty_runs=st.integers(1, 3),
    jobs=st.sampled_from([1, 3, 8]),
    tasks=st.integers(1, 4),
    expiring=st.booleans(),
    audio_first=st.booleans(),
)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(schedule=schedules)
def test_random_fault_schedules_never_lose_or_corrupt(schedule: Schedule) -> None:
    with tempfile.TemporaryDirectory(prefix="chaos-") as folder:
        chaos_round(schedule, Path(folder) / "archive")


@pytest.mark.parametrize("fault", PROPERTY_FAULTS)
def test_each_fault_on_every_request_still_converges(fault: str, tmp_path: Path) -> None:
    """One fault alone, on half the requests (and all of them where a fault leads to more
    requests, like a refresh after a 403), for two runs; then the clean runs."""
    schedule = Schedule(seed=sum(map(ord, fault)), rate=0.5, faults=frozenset({fault}),
                        faulty_runs=2, jobs=4, tasks=2)
    assert chaos_round(schedule, tmp_path / "archive")[fault] > 0


def _kind_of(path: str) -> str:
    return {".mp3": "audio", ".mp4": "video"}.get(path[-4:], "image")


@contextlib.contextmanager
def cut_on_close(library: Library, kind: str, share: float) -> Iterator[ChaosServer]:
    """A server whose first answer for each `kind` file is cut at `share` of it, with no
    Content-Length to tell (the connection just closes); no other fault."""
    with quick_program(), ChaosServer(seed=7, rate=0.0) as server:
        serve(server, library)
        for path in library.media:
            if _kind_of(path) == kind:
                server.force(path, "short-close", share)
        yield server


@pytest.mark.parametrize("kind", ["video", "image"])
@pytest.mark.parametrize("share", [0.5, 0.99])
def test_a_body_cut_short_without_content_length_is_never_saved(
    kind: str, share: float, tmp_path: Path
) -> None:
    """Regression: a cut mp4 (its mdat runs past the end) and a cut cover (no EOI / IEND)
    were saved under their final names. A body that ends with the connection is now
    confirmed with a Range request for the bytes after it, which resumes the cut file."""
    library, dest = make_library(11, 2), tmp_path / "archive"
    with cut_on_close(library, kind, share) as server:
        code, err = run_archive(server, library, dest, 4)
        check, done = check_archive(dest, library)
        assert code == 0 and not check.problems, "\n".join(check.problems) + err
        assert done == set(library.sources), err


def test_an_mp3_cut_short_without_content_length_is_never_saved(tmp_path: Path) -> None:
    library, dest = make_library(11, 2), tmp_path / "archive"
    with cut_on_close(library, "audio", 0.97) as server:
        run_archive(server, library, dest, 4)
        check, _ = check_archive(dest, library)
        assert not check.corrupted, check.problems


def test_a_key_rejected_while_asking_for_fresh_urls_stops_the_run_with_exit_3(
    tmp_path: Path
) -> None:
    """Regression: the AuthError of the fresh-URL request came out of the clip's task group
    wrapped in an ExceptionGroup, which the pipeline re-raised as is: a traceback."""
    library, dest = make_library(5, 1), tmp_path / "archive"
    with quick_program(), ChaosServer(seed=5, rate=0.0) as server:
        serve(server, library)
        audio = next(path for path in library.media if path.endswith(".mp3"))
        server.force(audio, "403-then-ok")
        task_path = TASK_PATH + library.task_ids[0]
        original = server.handle

        def reject_the_second_ask(role: str, target: str, headers: dict[str, str],
                                  *rest: Any) -> None:
            asked = [seen for seen in server.requests if seen.path == task_path]
            if role == "api" and target == task_path and asked:
                rest[0].write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                server.requests.append(Seen(role, target, headers, "401"))
                return
            original(role, target, headers, *rest)

        server.handle = reject_the_second_ask  # type: ignore[method-assign]
        code, err = run_archive(server, library, dest, 4)
    assert code == 3, err
    assert "PiAPI rejected the API key" in err and KEY not in err


def test_the_checks_see_corruption_strays_and_leaks(tmp_path: Path) -> None:
    """The checker itself: a flipped byte, a file nobody recorded, a key sent to the CDN."""
    library = make_library(1, 1)
    schedule = Schedule(seed=1, rate=0.0, faults=frozenset({"reset"}), faulty_runs=1, jobs=2,
                        tasks=1)
    dest = tmp_path / "archive"
    chaos_round(schedule, dest)
    song = next(dest.glob("*.mp3"))
    data = bytearray(song.read_bytes())
    data[-100] ^= 0xFF
    song.write_bytes(bytes(data))
    (dest / "stray.mp3").write_bytes(b"")
    check, _ = check_archive(dest, library)
    assert check.corrupted == [song.name]
    assert "stray.mp3: a final name without a done manifest row" in check.problems
    with ChaosServer(seed=1, rate=0.0) as server:
        server.requests.append(Seen("cdn", "/m/x.mp3", {"x-api-key": KEY}, None))
        server.requests.append(Seen("api", TASK_PATH + "x", {"x-api-key": KEY}, None))
        assert key_leaks(server) == ["cdn /m/x.mp3"]
