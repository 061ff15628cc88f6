"""`rebuild_manifest`: a damaged manifest is moved aside and remade from the sidecars."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.demo import DemoServer
from archiver.errors import LockedError, ManifestError, UsageError
from archiver.lock import ArchiveLock
from archiver.manifest import DB_NAME, STATE_DIR, Manifest, TaskState
from archiver.rebuild import OLD_MANIFESTS, rebuild_manifest
from archiver.verify import Problem, check_files

KEY = "sk-rebuild-0123456789"
GARBAGE = b"this is not an SQLite database \x00\xff" * 64


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)


def _archived(server: DemoServer) -> list[str]:
    return [s.task_id for s in server.samples if s.expect == "archived"]


def _run(server: DemoServer, dest: Path, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main([*args, "-d", str(dest), "--base-url", server.api_url, "--no-progress"],
                stderr=err)
    return code, err.getvalue()


def _done_rows(dest: Path) -> set[tuple[str, str, str, int, str]]:
    db = sqlite3.connect(dest / STATE_DIR / DB_NAME)
    try:
        return set(db.execute(
            "SELECT clip_id, kind, path, size, sha256 FROM files WHERE state = 'done'"))
    finally:
        db.close()


def _task_states(dest: Path, task_ids: list[str]) -> dict[str, tuple[str, str, str]]:
    manifest = Manifest.open(dest)
    try:
        return {task_id: row for task_id in task_ids if (row := manifest.task_row(task_id))}
    finally:
        manifest.close()


def _damage(dest: Path) -> bytes:
    (dest / STATE_DIR / DB_NAME).write_bytes(GARBAGE)
    for suffix in ("-wal", "-shm"):
        (dest / STATE_DIR / (DB_NAME + suffix)).unlink(missing_ok=True)
    return GARBAGE


def _archive(server: DemoServer, dest: Path, *extra: str) -> None:
    code, err = _run(server, dest, *extra, *_archived(server))
    assert code == 0, err


def test_rebuild_gives_back_the_manifest_the_runs_made(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    rows, states = _done_rows(dest), _task_states(dest, _archived(demo_server))
    _damage(dest)

    code, err = _run(demo_server, dest, *_archived(demo_server))
    assert code == 1 and "Traceback" not in err
    assert "the manifest is damaged" in err and f"suno-archiver rebuild -d {dest}" in err
    assert (dest / STATE_DIR / DB_NAME).read_bytes() == GARBAGE  # the error touched nothing

    result = rebuild_manifest(dest)
    assert result.kept_as is not None
    assert (result.kept_as / DB_NAME).read_bytes() == GARBAGE  # kept, never deleted
    assert result.kept_as.parent == dest / STATE_DIR / OLD_MANIFESTS
    assert (result.sidecars, result.files, result.clips) == (14, len(rows), 14)
    assert result.missing == result.changed == result.skipped == ()
    assert _done_rows(dest) == rows
    assert _task_states(dest, _archived(demo_server)) == states

    before = len(demo_server.requests)
    code, err = _run(demo_server, dest, *_archived(demo_server))
    assert code == 0, err
    assert len(demo_server.requests) == before  # fully archived again: not one request
    assert "archived 14 clips (0 new)" in err


def test_a_missing_file_keeps_its_name_and_the_next_run_fetches_it(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    rows = _done_rows(dest)
    gone = sorted(dest.glob("*.mp3"))[0]
    gone.unlink()
    _damage(dest)
    result = rebuild_manifest(dest)
    assert result.missing == (gone.name,) and result.files == len(rows) - 1
    code, err = _run(demo_server, dest, *_archived(demo_server))
    assert code == 0, err
    assert gone.is_file() and _done_rows(dest) - rows == set()
    assert {row[2] for row in _done_rows(dest)} == {row[2] for row in rows}


def test_a_changed_file_is_recorded_as_found_and_named(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    changed = sorted(dest.glob("*.jpg"))[0]
    changed.write_bytes(changed.read_bytes() + b"edited")
    _damage(dest)
    result = rebuild_manifest(dest)
    assert result.changed == (changed.name,)
    manifest = Manifest.open(dest)
    try:
        assert not [item for item in check_files(dest, manifest) if isinstance(item, Problem)]
    finally:
        manifest.close()


def test_only_some_assets_archived_stays_done_for_those(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest, "--assets", "audio")
    _damage(dest)
    rebuild_manifest(dest)
    states = _task_states(dest, _archived(demo_server))
    assert {state for state, _, _ in states.values()} == {TaskState.DONE}
    # done for audio; for video too where no clip has one (Udio): nothing to fetch there
    assert {assets for _, assets, _ in states.values()} == {"audio", "audio,video"}
    before = len(demo_server.requests)
    code, err = _run(demo_server, dest, "--assets", "audio", *_archived(demo_server))
    assert code == 0 and len(demo_server.requests) == before, err


def test_hostile_and_broken_sidecars_are_skipped_by_name(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    outside = tmp_path / "outside.mp3"
    outside.write_bytes(b"not yours")
    sidecar = sorted(dest.glob("*.info.json"))[0]
    document = json.loads(sidecar.read_text(encoding="utf-8"))
    document["archiver"]["files"]["audio"]["path"] = "../outside.mp3"
    document["archiver"]["files"]["bogus"] = {"state": "done", "path": "x.mp3"}
    sidecar.write_text(json.dumps(document), encoding="utf-8")
    (dest / "garbage.info.json").write_bytes(b"\xff{not json")
    (dest / "empty.info.json").write_text("{}")
    _damage(dest)

    result = rebuild_manifest(dest)
    skipped = "\n".join(result.skipped)
    assert "unsafe path '../outside.mp3'" in skipped and "bogus: not a file entry" in skipped
    assert "garbage.info.json: not a usable sidecar" in skipped
    assert "empty.info.json: not a usable sidecar (no 'archiver')" in skipped
    assert outside.read_bytes() == b"not yours"
    assert not [row for row in _done_rows(dest) if "outside" in row[2]]


def test_two_rebuilds_keep_both_old_manifests(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    first = rebuild_manifest(dest)
    second = rebuild_manifest(dest)
    assert first.kept_as and second.kept_as and first.kept_as != second.kept_as
    assert (first.kept_as / DB_NAME).is_file() and (second.kept_as / DB_NAME).is_file()
    assert second.files == first.files


def test_no_archive_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no archive here"):
        rebuild_manifest(tmp_path)


def test_a_running_archive_is_not_rebuilt_under_it(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    with ArchiveLock(dest / STATE_DIR / "lock"), pytest.raises(LockedError):
        rebuild_manifest(dest)
    assert _done_rows(dest)  # untouched


def test_an_emptied_manifest_beside_sidecars_is_an_error_not_a_new_archive(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    """SQLite takes an empty file for a new database: the archive would be forgotten."""
    dest = tmp_path / "a"
    _archive(demo_server, dest)
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        path = dest / STATE_DIR / name
        if path.exists():
            os.truncate(path, 0)
    with pytest.raises(ManifestError, match="the file is empty.*rebuild"):
        Manifest.open(dest)
    assert rebuild_manifest(dest).files == len(list(dest.glob("*.mp[34]"))) + len(
        list(dest.glob("*.jpg")) + list(dest.glob("*.png")))


def test_an_empty_manifest_in_a_new_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / STATE_DIR).mkdir()
    (tmp_path / STATE_DIR / DB_NAME).write_bytes(b"")
    Manifest.open(tmp_path).close()


def test_rebuild_command_line(tmp_path: Path) -> None:
    """`suno-archiver rebuild` on a folder with no archive is a usage error (exit 2)."""
    err = io.StringIO()
    assert main(["rebuild", "-d", str(tmp_path / "none")], stderr=err) == 2
    assert "no archive here" in err.getvalue()


def test_rebuild_command_restores_a_damaged_manifest(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)
    dest = tmp_path / "a"
    task_id = demo_server.samples[0].task_id
    assert main([task_id, "-d", str(dest), "--base-url", demo_server.api_url]) == 0
    (dest / ".suno-archiver" / "archive.sqlite3").write_bytes(b"garbage" * 1000)
    err = io.StringIO()
    assert main(["rebuild", "-d", str(dest)], stderr=err) == 0, err.getvalue()
    assert "rebuilt the manifest from 2 sidecars" in err.getvalue()
    assert "the old manifest is kept in" in err.getvalue()
    before = len(demo_server.requests)
    assert main([task_id, "-d", str(dest), "--base-url", demo_server.api_url]) == 0
    assert len(demo_server.requests) == before
    assert main(["verify", "-d", str(dest)], stdout=io.StringIO()) == 0
