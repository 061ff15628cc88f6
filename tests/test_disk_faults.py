"""Disk faults: a full disk during each kind of write, a read-only destination, a damaged
manifest. (SIGKILL at random moments is tests/test_interrupt.py.)

How each fault is made, real where it can be:

- Disk full: a 4 MiB tmpfs mounted on the archive's parent and filled to leave N bytes free,
  for a sweep of N that runs out in the manifest, a download, a cover, the tags, the sidecar.
  Mounting needs root with CAP_SYS_ADMIN (a plain `docker run` has not): without it those
  tests skip. Everywhere, each stage is also made to fail by a write that raises ENOSPC
  half-way (monkeypatched), which needs no privilege.
- Read-only: root writes through `chmod 0555` (the kernel does not check modes for it), so as
  root the folder becomes a read-only bind mount (`mount --bind` + `remount,bind,ro`), else
  `chattr +i` (CAP_LINUX_IMMUTABLE, ext4/xfs/btrfs); as anyone else `chmod 0555` is enough.
  The tests skip when no method works; READ_ONLY_METHOD says which one ran.
- Damaged manifest: garbage over the whole file, over the start of each page, or half of it
  cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mutagen import File as MutagenFile

import archiver.fileops
import archiver.lock
import archiver.partfile
import archiver.sidecar
from archiver.cli import main
from archiver.clipwork import archive_clip
from archiver.config import Config
from archiver.context import RunContext
from archiver.demo import DemoServer
from archiver.download import Downloader, DownloadOptions, Fetched
from archiver.errors import ManifestError, StorageError
from archiver.manifest import DB_NAME, STATE_DIR, Manifest, translate
from archiver.models import AssetKind
from archiver.parse import parse_task
from archiver.progress import TextReporter
from archiver.samplemedia import cover_image, silent_mp3
from archiver.sidecar import write_sidecar
from archiver.sniff import MediaType
from archiver.tagging import TagOptions, tag_file
from archiver.verify import Problem, check_files

from .clipfactory import make_clip
from .samples import load_sample

KEY = "sk-disk-faults-0123456789"


def _run(dest: Path, *args: str, server: DemoServer | None = None) -> tuple[int, str]:
    err = io.StringIO()
    extra = ["--base-url", server.api_url] if server else []
    code = main([*args, "-d", str(dest), "--no-progress", *extra], stdin=io.StringIO(""),
                stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)


def _consistent(dest: Path) -> None:
    """No final-named file is partial or unrecorded; every done row matches its file."""
    manifest = Manifest.open(dest)
    try:
        assert [item for item in check_files(dest, manifest) if isinstance(item, Problem)] == []
        recorded = {row.path for row, _ in manifest.done_files()}
    finally:
        manifest.close()
    for path in dest.iterdir():
        if path.suffix in (".mp3", ".mp4", ".jpg", ".png"):
            assert path.name in recorded, f"{path.name}: final name, no manifest row"
        if path.suffix in (".mp3", ".mp4"):
            media = MutagenFile(path)
            assert media is not None and media.info.length > 1, path
    assert not list(dest.rglob("*.tmp")), "a sidecar's temporary file was left"


# mounts --------------------------------------------------------------------------------------


def _sh(*command: str) -> bool:
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as probe:
        if not _sh("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe):
            return False
        return _sh("umount", probe)


CAN_MOUNT = _can_mount()
needs_mount = pytest.mark.skipif(not CAN_MOUNT, reason="needs root with CAP_SYS_ADMIN (mount)")


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    assert _sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        if not _sh("umount", str(path)):
            _sh("umount", "-l", str(path))


def leave_free(folder: Path, free: int) -> Path:
    """Fill the filesystem of `folder` until `free` bytes are left; the filler's path."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    filler.write_bytes(bytes(max(0, stats.f_bavail * stats.f_frsize - free)))
    return filler


def _read_only_method() -> str | None:
    if os.geteuid() != 0:
        return "chmod"
    if CAN_MOUNT:
        return "bind-mount"
    with tempfile.TemporaryDirectory() as probe:
        if shutil.which("chattr") and _sh("chattr", "+i", probe):
            _sh("chattr", "-i", probe)
            return "chattr"
    return None


READ_ONLY_METHOD = _read_only_method()
needs_read_only = pytest.mark.skipif(
    READ_ONLY_METHOD is None, reason="as root, needs CAP_SYS_ADMIN or CAP_LINUX_IMMUTABLE")


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only for this process by READ_ONLY_METHOD, then writable again."""
    if READ_ONLY_METHOD == "chmod":
        folder.chmod(0o555)
        undo = [["chmod", "755", str(folder)]]
    elif READ_ONLY_METHOD == "bind-mount":
        assert _sh("mount", "--bind", str(folder), str(folder))
        assert _sh("mount", "-o", "remount,bind,ro", str(folder))
        undo = [["umount", str(folder)]]
    else:
        assert _sh("chattr", "+i", str(folder))
        undo = [["chattr", "-i", str(folder)]]
    try:
        yield
    finally:
        for command in undo:
            assert _sh(*command)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in folder.rglob("*") if path.is_file()}


# a saved task that needs no server --------------------------------------------------------


def _offline_task(folder: Path, clips: int = 2) -> Path:
    """A saved task whose clips have no URLs: archived without any request."""
    payload = load_sample("01")
    template = next(iter(payload["data"]["output"]["clips"].values()))
    fresh = {}
    for number in range(clips):
        clip = dict(template, id=f"{number:08x}-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
                    title=f"Offline {number}")
        for key in ("audio_url", "video_url", "image_url", "image_large_url"):
            clip[key] = ""
        fresh[clip["id"]] = clip
    payload["data"]["output"]["clips"] = fresh
    path = folder / "offline.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


# disk full ----------------------------------------------------------------------------------


@needs_mount
def test_disk_full_at_any_point_is_exit_1_and_damages_nothing(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    """Each level of free space runs out somewhere else (manifest, a download, a cover, the
    tags, the sidecar): always one clear line and exit 1, never a damaged file; the next run
    with room completes the archive."""
    task_id = load_sample("01")["data"]["task_id"]
    with tmpfs(tmp_path / "disk") as disk:
        for free in range(8_192, 2_300_000, 110_000):
            dest = disk / "a"
            filler = leave_free(disk, free)
            code, err = _run(dest, task_id, server=demo_server)
            assert code in (0, 1) and "Traceback" not in err, (free, err)
            if code == 1:
                assert "no space left on device" in err and f"cannot write {dest}" in err, err
            filler.unlink()  # (reading the manifest takes room too: SQLite's -shm file)
            _consistent(dest)
            code, err = _run(dest, task_id, server=demo_server)
            assert code == 0, (free, err)
            _consistent(dest)
            assert len(list(dest.glob("*.mp3"))) == 2 and not list(dest.rglob("*.part"))
            shutil.rmtree(dest)


@needs_mount
def test_disk_full_before_the_first_byte_is_exit_1(tmp_path: Path) -> None:
    """Room for the archive lock but not for the manifest: a clean error (no pipeline yet)."""
    with tmpfs(tmp_path / "disk") as disk:
        leave_free(disk, 8_192)
        code, err = _run(disk / "a", "--from-json", str(_offline_task(tmp_path)))
    assert code == 1, err
    assert f"cannot write {disk / 'a' / STATE_DIR / DB_NAME}: no space left on device" in err


@needs_mount
def test_disk_full_to_the_last_byte_is_exit_1(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        leave_free(disk, 0)
        code, err = _run(disk / "a", "--from-json", str(_offline_task(tmp_path)))
    assert code == 1 and "no space left on device" in err


class _FillingUp:
    """`open` for partfile.py whose files take `room` bytes in all, then raise ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = open(path, mode, *args, **kwargs)  # noqa: SIM115 - returned to a `with`
        if "b" not in mode or not any(flag in mode for flag in "wa+"):
            return handle
        outer, write = self, handle.write

        def limited(data: bytes) -> int:
            if len(data) > outer.room:
                write(data[:outer.room])
                outer.room = 0
                handle.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            outer.room -= len(data)
            return int(write(data))

        handle.write = limited
        return handle


def test_a_download_that_fills_the_disk_stops_the_run_with_one_clear_line(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest, task_id = tmp_path / "a", load_sample("01")["data"]["task_id"]
    with monkeypatch.context() as patched:
        patched.setattr(archiver.partfile, "open", _FillingUp(300_000), raising=False)
        code, err = _run(dest, task_id, server=demo_server)
    assert code == 1 and "Traceback" not in err, err
    assert "no space left on device" in err and ".part" in err
    _consistent(dest)
    assert [part for part in dest.rglob("*.part") if part.stat().st_size > 0]  # kept
    code, err = _run(dest, task_id, server=demo_server)
    assert code == 0, err
    _consistent(dest)


def _context(dest: Path, **options: Any) -> RunContext:
    config = Config(dest=dest, **options)
    downloader = Downloader(httpx.AsyncClient(), DownloadOptions())
    return RunContext(config, Manifest.open(dest), TextReporter(io.StringIO(), quiet=True),
                      downloader)


def test_a_failed_write_leaves_archive_clip_as_one_bare_storage_error(tmp_path: Path) -> None:
    """Regression: the OSError came out of the clip's task group as an ExceptionGroup, so
    nothing above could tell it from a bug; now a StorageError naming the `.part`, with the
    part kept, no final file and no row saying otherwise."""
    dest = tmp_path / "a"
    task = parse_task(load_sample("01"))
    clip = task.clips[0]
    ctx = _context(dest)

    async def fill_the_disk(url: str, part: Path, kind: AssetKind, progress: Any = None) -> Any:
        part.write_bytes(b"\xff\xfb\x14\xc4" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    ctx.downloader.fetch = fill_the_disk  # type: ignore[method-assign]
    try:
        with pytest.raises(StorageError) as caught:
            asyncio.run(archive_clip(ctx, task, clip))
        assert "no space left on device" in str(caught.value)
        assert ".part" in str(caught.value) and str(dest) in str(caught.value)
        assert [row for row in ctx.manifest.files() if row.state == "done"] == []
    finally:
        ctx.manifest.close()
    assert list(dest.glob("*.part")) and not list(dest.glob("*.mp3"))


def test_a_file_whose_row_cannot_be_written_goes_back_to_its_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (found by the disk-full sweep): the rename succeeded, the manifest row did
    not (SQLite's disk full), and a final name was left that no row recorded."""
    dest = tmp_path / "a"
    task = parse_task(load_sample("01"))
    clip = task.clips[0]
    ctx = _context(dest, assets=frozenset({AssetKind.AUDIO}))

    async def fetch(url: str, part: Path, kind: AssetKind, progress: Any = None) -> Fetched:
        data = silent_mp3(clip.duration or 1) if kind is AssetKind.AUDIO else cover_image(
            "x", (32, 32))
        part.write_bytes(data)
        return Fetched(part, len(data), MediaType.MP3 if kind is AssetKind.AUDIO
                       else MediaType.JPEG)

    def no_room(*args: Any) -> None:
        raise StorageError(dest / STATE_DIR / DB_NAME, "no space left on device")

    ctx.downloader.fetch = fetch  # type: ignore[method-assign]
    monkeypatch.setattr(ctx.manifest, "record_file_done", no_room)
    try:
        with pytest.raises(StorageError):
            asyncio.run(archive_clip(ctx, task, clip))
    finally:
        ctx.manifest.close()
    assert not list(dest.glob("*.mp3"))
    (part,) = dest.glob("*.mp3.part")
    assert part.read_bytes().endswith(silent_mp3(clip.duration or 1))  # tagged, whole


def test_a_disk_full_while_tagging_is_not_an_unplayable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: mutagen turns the OSError into its own error, which became "not playable
    media": the asset was recorded dead (and given up after 5 runs) for a full disk."""
    import mutagen.id3._file

    def no_room(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(mutagen.id3._file, "insert_bytes", no_room)
    song = tmp_path / "song.mp3.part"
    song.write_bytes(silent_mp3(2.0))
    with pytest.raises(StorageError, match="song.mp3.part: no space left on device"):
        tag_file(song, AssetKind.AUDIO, make_clip(), TagOptions(), None)


def test_a_disk_full_while_writing_a_sidecar_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = tmp_path / "song.info.json"
    sidecar.write_text('{"old": true}', encoding="utf-8")
    task = parse_task(load_sample("01"))

    def no_room(source: Any, target: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(archiver.fileops.os, "replace", no_room)
    with pytest.raises(StorageError, match="song.info.json: no space left on device"):
        write_sidecar(sidecar, task, task.clips[0], [], [])
    monkeypatch.undo()
    assert json.loads(sidecar.read_text(encoding="utf-8")) == {"old": True}
    assert [path.name for path in tmp_path.iterdir()] == ["song.info.json"]


def _sqlite_error(kind: type[sqlite3.Error], code: int, message: str) -> sqlite3.Error:
    error = kind(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


def test_sqlite_errors_become_the_archivers(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / STATE_DIR / DB_NAME
    full = translate(_sqlite_error(sqlite3.OperationalError, 13, "database or disk is full"),
                     path)
    assert isinstance(full, StorageError) and str(full) == (
        f"cannot write {path}: no space left on device")
    corrupt = translate(_sqlite_error(sqlite3.DatabaseError, 11, "malformed"), path)
    assert isinstance(corrupt, ManifestError)
    assert f"suno-archiver rebuild -d {tmp_path}" in str(corrupt)
    assert isinstance(translate(_sqlite_error(sqlite3.OperationalError, 14, "cannot open"),
                                path), ManifestError)
    clash = _sqlite_error(sqlite3.IntegrityError, 2067, "UNIQUE constraint failed")
    assert translate(clash, path) is clash  # a bug of ours: shown as it is
    io_error = _sqlite_error(sqlite3.OperationalError, 10 | (3 << 8), "disk I/O error")
    assert str(translate(io_error, path)) == f"cannot write {path}: disk I/O error"
    monkeypatch.setattr(os, "statvfs", lambda _: os.statvfs_result((4096, 4096, 0, 0, 2, 0, 0,
                                                                    0, 0, 255)))
    assert "no space left on device" in str(translate(io_error, path))


def test_no_room_for_the_lock_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_room(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(archiver.lock.os, "pwrite", no_room)
    code, err = _run(tmp_path / "a", "--from-json", str(_offline_task(tmp_path)))
    assert code == 1 and "no space left on device" in err


# read-only ----------------------------------------------------------------------------------


@needs_read_only
def test_a_read_only_archive_is_exit_2_and_untouched(tmp_path: Path) -> None:
    saved, dest = _offline_task(tmp_path), tmp_path / "a"
    assert _run(dest, "--from-json", str(saved))[0] == 0
    before = _snapshot(dest)
    with read_only(dest):
        code, err = _run(dest, "--from-json", str(saved))
    assert code == 2, err
    assert err.strip() == f"suno-archiver: error: {dest}: the archive folder is not writable"
    assert _snapshot(dest) == before


@needs_read_only
def test_a_new_archive_under_a_read_only_folder_is_exit_2(tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    with read_only(parent):
        code, err = _run(parent / "a", "--from-json", str(_offline_task(tmp_path)))
    assert code == 2, err
    assert f"{parent / 'a'}: cannot create the archive folder" in err
    assert not (parent / "a").exists()


@needs_read_only
def test_status_and_verify_read_a_read_only_archive(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    """A backup drive or a snapshot is mounted read-only: SQLite cannot make the `-shm` file
    of a WAL database there, so these used to fail; they open it read-only now, check every
    file, and change nothing."""
    dest = tmp_path / "a"
    assert _run(dest, load_sample("01")["data"]["task_id"], server=demo_server)[0] == 0
    before = _snapshot(dest)
    with read_only(dest):
        outputs = {}
        for command in ("status", "verify"):
            out, err = io.StringIO(), io.StringIO()
            code = main([command, "-d", str(dest)], stdout=out, stderr=err)
            assert code == 0, err.getvalue()
            outputs[command] = out.getvalue()
    assert "2 clips" in outputs["status"], outputs["status"]
    checked = re.search(r"verified (\d+) files: (\d+) ok", outputs["verify"])
    assert checked and int(checked[1]) == int(checked[2]) >= 4, outputs["verify"]
    assert _snapshot(dest) == before


@needs_read_only
def test_a_read_only_archive_left_by_a_killed_run_shows_its_last_rows(tmp_path: Path) -> None:
    """A run killed before it closed leaves its last rows in the `-wal` file: status on a
    read-only copy must read them there, not show the main file's older state."""
    saved, dest = _offline_task(tmp_path), tmp_path / "a"
    assert _run(dest, "--from-json", str(saved))[0] == 0
    database = dest / STATE_DIR / DB_NAME
    writer = sqlite3.connect(database)  # a WAL write, left open as a killed run leaves it
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE tasks SET state='pending'")
    writer.commit()
    assert Path(f"{database}-wal").stat().st_size > 0
    with read_only(dest):
        try:
            out, err = io.StringIO(), io.StringIO()
            code = main(["status", "-d", str(dest), "--json"], stdout=out, stderr=err)
        finally:
            writer.close()  # (before the read-only mount goes: it holds the files open)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["tasks"] == {"pending": 1}


@needs_read_only
def test_retag_of_a_read_only_archive_is_a_clean_error(tmp_path: Path) -> None:
    saved, dest = _offline_task(tmp_path), tmp_path / "a"
    assert _run(dest, "--from-json", str(saved))[0] == 0
    with read_only(dest):
        err = io.StringIO()
        code = main(["retag", "-d", str(dest)], stdout=io.StringIO(), stderr=err)
    assert code in (1, 2), err.getvalue()


# a damaged manifest -------------------------------------------------------------------------

COMMANDS = {
    "archive": lambda saved: ["--from-json", str(saved)],
    "status": lambda saved: ["status"],
    "verify": lambda saved: ["verify"],
    "retag": lambda saved: ["retag"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_garbage_manifest_is_a_clear_error_that_says_how_to_rebuild(
    command: str, tmp_path: Path
) -> None:
    saved, dest = _offline_task(tmp_path), tmp_path / "a"
    assert _run(dest, "--from-json", str(saved))[0] == 0
    garbage = b"SQLite format 2\x00" + bytes(range(256)) * 64
    (dest / STATE_DIR / DB_NAME).write_bytes(garbage)
    err = io.StringIO()
    code = main([*COMMANDS[command](saved), "-d", str(dest)], stdout=io.StringIO(), stderr=err)
    assert code == 1, err.getvalue()
    assert "the manifest is damaged" in err.getvalue()
    assert f"`suno-archiver rebuild -d {dest}`" in err.getvalue()
    assert (dest / STATE_DIR / DB_NAME).read_bytes() == garbage  # never overwritten


def _pristine_manifest(tmp_path: Path) -> tuple[Path, Path, bytes]:
    saved, dest = _offline_task(tmp_path, clips=300), tmp_path / "a"
    assert _run(dest, "--from-json", str(saved))[0] == 0
    path = dest / STATE_DIR / DB_NAME
    db = sqlite3.connect(path)
    db.execute("VACUUM")  # every page in use
    db.close()
    return saved, dest, path.read_bytes()


_BTREE_PAGE_TYPES = frozenset({2, 5, 10, 13})  # index/table, interior/leaf


def test_every_damaged_page_is_found_before_the_run(tmp_path: Path) -> None:
    """Regression: a damaged page that the command's own queries did not read went unnoticed
    (`status` said all was well) or failed half-way through a run; now `quick_check` at open
    finds it. Each b-tree page in turn gets its first 64 bytes zeroed (a torn write). (The
    content of an overflow page, a long task JSON, has no checksum: SQLite cannot tell; those
    pages are zeroed too, and must only never crash.)"""
    saved, dest, pristine = _pristine_manifest(tmp_path)
    page_size = int.from_bytes(pristine[16:18], "big")
    path = dest / STATE_DIR / DB_NAME
    pages = range(1, len(pristine) // page_size)  # page 0 holds the header and the schema
    btree = [page for page in pages if pristine[page * page_size] in _BTREE_PAGE_TYPES]
    assert len(btree) > 8
    for page in pages:
        damaged = bytearray(pristine)
        damaged[page * page_size: page * page_size + 64] = bytes(64)
        path.write_bytes(damaged)
        for args in (["status"], ["--from-json", str(saved)]):
            err = io.StringIO()
            code = main([*args, "-d", str(dest)], stdout=io.StringIO(), stderr=err)
            if page in btree:
                assert code == 1 and "the manifest is damaged" in err.getvalue(), (page, args)
            else:
                assert code in (0, 1), (page, args, err.getvalue())


def test_a_manifest_cut_in_half_is_damaged(tmp_path: Path) -> None:
    saved, dest, pristine = _pristine_manifest(tmp_path)
    (dest / STATE_DIR / DB_NAME).write_bytes(pristine[: len(pristine) // 2])
    code, err = _run(dest, "--from-json", str(saved))
    assert code == 1 and "the manifest is damaged" in err, err
