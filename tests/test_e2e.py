"""The whole program through main([...]) against the embedded sample server over HTTP."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from PIL import Image

from archiver.cli import main
from archiver.demo import DemoServer
from archiver.lock import ArchiveLock
from archiver.manifest import STATE_DIR

from .samples import load_sample

KEY = "sk-e2e-secret-key-0123456789"


def _ids(server: DemoServer, *expect: str) -> list[str]:
    return [s.task_id for s in server.samples if s.expect in expect]


def _run(server: DemoServer, dest: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args, "-d", str(dest), "--base-url", server.api_url], stdin=io.StringIO(stdin),
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)


def test_archive_then_rerun_sends_no_request(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "archive"
    ids = _ids(demo_server, "archived")
    code, _, err = _run(demo_server, dest, *ids)
    assert code == 0, err
    assert "archived 14 clips (14 new)" in err
    mp3s = sorted(dest.glob("*.mp3"))
    assert len(mp3s) == 14 and not list(dest.rglob("*.part"))
    tags = ID3(mp3s[0])
    assert tags.getall("TXXX:SUNO_CLIP_ID") and tags.getall("APIC")
    assert MP4(sorted(dest.glob("*.mp4"))[0]).tags["©nam"]
    before = len(demo_server.requests)

    code, _, err = _run(demo_server, dest, "archive", *ids)
    assert code == 0, err
    assert len(demo_server.requests) == before  # not one request, API or CDN
    assert "archived 14 clips (0 new)" in err


def test_every_sample_ends_as_its_catalog_says(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "archive"
    listing = tmp_path / "ids.txt"
    listing.write_text("# all samples\n" + "\n".join(s.task_id for s in demo_server.samples))
    code, _, err = _run(demo_server, dest, "-i", str(listing))
    assert code == 1
    assert "PiAPI failed it: failed to generate music" in err
    assert "errored on Suno" in err and "task not found" in err
    assert "audio is dead: HTTP 403 (Missing Key-Pair-Id)" in err
    from archiver.demorun import outcome
    from archiver.manifest import Manifest

    manifest = Manifest.open(dest)
    try:
        assert {s.task_id: outcome(manifest, s.task_id) for s in demo_server.samples} == {
            s.task_id: s.expect for s in demo_server.samples}
    finally:
        manifest.close()


def test_second_run_asks_again_only_about_unfinished_tasks(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "archive"
    ids = [s.task_id for s in demo_server.samples]
    _run(demo_server, dest, *ids)
    first = len(demo_server.requests)
    code, _, err = _run(demo_server, dest, *ids)
    asked = {r.path.rsplit("/", 1)[-1] for r in demo_server.requests[first:] if r.server == "api"}
    pending = set(_ids(demo_server, "pending")) | {s.task_id for s in demo_server.samples
                                                   if s.refuse}
    not_found = set(_ids(demo_server, "not_found"))
    assert asked == pending | not_found
    assert code == 1  # the 403 asset is still an error (run 2 of 6)
    assert "PiAPI failed it" not in err and "errored on Suno" not in err


def test_pending_video_is_fetched_later_without_the_audio_again(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "archive"
    payload = load_sample("09")
    task_id = payload["data"]["task_id"]
    _run(demo_server, dest, task_id)
    assert len(list(dest.glob("*.mp4"))) == 1
    for clip in payload["data"]["output"]["clips"].values():
        clip["is_video_pending"] = False
    demo_server.publish(payload)
    first = len(demo_server.requests)
    code, _, err = _run(demo_server, dest, "--pending")
    assert code == 0, err
    cdn = [r.path for r in demo_server.requests[first:] if r.server == "cdn"]
    assert [p.rsplit(".", 1)[-1] for p in cdn] == ["mp4"]
    assert len(list(dest.glob("*.mp4"))) == 2
    code, _, _ = _run(demo_server, dest, task_id)
    assert code == 0 and len(demo_server.requests) == first + 1 + len(cdn)


def test_failed_task_is_final_unless_retry_failed(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "archive"
    (failed,) = _ids(demo_server, "failed")
    assert _run(demo_server, dest, failed)[0] == 1
    count = len(demo_server.requests)
    assert _run(demo_server, dest, failed)[0] == 0
    assert len(demo_server.requests) == count
    code, out, _ = _run(demo_server, dest, "--retry-failed")
    assert code == 1 and len(demo_server.requests) == count + 1
    status = io.StringIO()
    assert main(["status", "-d", str(dest), "--json"], stdout=status) == 0
    document = json.loads(status.getvalue())
    assert document["failed_tasks"][0]["task_id"] == failed
    assert "Unable to generate lyrics" in document["failed_tasks"][0]["error"]


def test_secrets_never_leave(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "archive"
    secret = load_sample("01")["data"]["config"]["webhook_config"]["secret"]
    ids = [s.task_id for s in demo_server.samples]
    code, out, err = _run(demo_server, dest, "--json", *ids)
    assert code == 1
    for path in dest.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and secret.encode() not in data, path
    assert KEY not in out + err and secret not in out + err
    cdn = [r for r in demo_server.requests if r.server == "cdn"]
    api = [r for r in demo_server.requests if r.server == "api"]
    assert cdn and all("x-api-key" not in {k.lower() for k in r.headers} for r in cdn)
    assert api and all(r.headers.get("x-api-key") == KEY for r in api)


def test_json_output_is_only_json_lines(demo_server: DemoServer, tmp_path: Path) -> None:
    code, out, err = _run(demo_server, tmp_path / "a", "--json", *_ids(demo_server, "archived"))
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and events[-1]["event"] == "summary"
    assert {"task_fetched", "file_saved"} <= {e["event"] for e in events}
    assert err.strip() == events[-1]["message"]


def test_from_json_needs_no_key_and_no_api(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIAPI_API_KEY")
    saved = tmp_path / "task.json"
    demo_path = f"/api/v1/task/{load_sample('01')['data']['task_id']}"
    saved.write_bytes(demo_server._tasks[demo_path])
    code, _, err = _run(demo_server, tmp_path / "a", "--from-json", str(saved))
    assert code == 0, err
    assert not [r for r in demo_server.requests if r.server == "api"]
    assert len(list((tmp_path / "a").glob("*.mp3"))) == 2


def test_missing_key_is_a_usage_error(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIAPI_API_KEY")
    code, _, err = _run(demo_server, tmp_path / "a", _ids(demo_server, "archived")[0])
    assert code == 2 and "PIAPI_API_KEY" in err
    assert not demo_server.requests


def test_rejected_key_stops_with_exit_3(demo_server: DemoServer, tmp_path: Path) -> None:
    from archiver.demo import Reply

    ids = _ids(demo_server, "archived")
    for task_id in ids:
        demo_server.script(f"/api/v1/task/{task_id}", Reply(401, b'{"message":"Unauthorized"}'))
    code, _, err = _run(demo_server, tmp_path / "a", *ids)
    assert code == 3
    assert "PIAPI_API_KEY" in err and KEY not in err
    assert not [r for r in demo_server.requests if r.server == "cdn"]


def test_bad_input_line_is_named_and_the_rest_runs(demo_server: DemoServer, tmp_path: Path) -> None:
    good = _ids(demo_server, "archived")[0]
    code, _, err = _run(demo_server, tmp_path / "a", "-i", "-", stdin=f"{good}\nnot-an-id\n")
    assert code == 1
    assert "<stdin>:2: not a task id: 'not-an-id'" in err
    assert list((tmp_path / "a").glob("*.mp3"))


def test_second_run_on_a_locked_archive_exits_4(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "a"
    with ArchiveLock(dest / STATE_DIR / "lock"):
        code, _, err = _run(demo_server, dest, _ids(demo_server, "archived")[0])
    assert code == 4 and "holds" in err


def test_error_file_reads_back_with_i(demo_server: DemoServer, tmp_path: Path) -> None:
    errors = tmp_path / "failed.txt"
    ids = [s.task_id for s in demo_server.samples]
    _run(demo_server, tmp_path / "a", "--error-file", str(errors), *ids)
    named = errors.read_text().split()
    assert set(named) == set(_ids(demo_server, "failed", "not_found", "partial"))


def test_manifest_rows_match_the_files(demo_server: DemoServer, tmp_path: Path) -> None:
    dest = tmp_path / "a"
    _run(demo_server, dest, *[s.task_id for s in demo_server.samples])
    db = sqlite3.connect(dest / STATE_DIR / "archive.sqlite3")
    rows = db.execute("SELECT path, size FROM files WHERE state = 'done'").fetchall()
    assert rows
    for path, size in rows:
        assert (dest / path).stat().st_size == size
    on_disk = {p.name for p in dest.iterdir() if p.suffix in (".mp3", ".mp4", ".jpg", ".png")}
    assert on_disk == {path for path, _ in rows}


def test_demo_command_exits_0(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["demo", "-d", str(tmp_path / "demo")], stderr=err) == 0, err.getvalue()
    assert "every sample ended as expected" in err.getvalue()


def test_unusable_urls_are_never_requested(demo_server: DemoServer, tmp_path: Path) -> None:
    _run(demo_server, tmp_path / "a", *[s.task_id for s in demo_server.samples])
    paths = [r.path for r in demo_server.requests if r.server == "cdn"]
    assert paths and not [p for p in paths if p.endswith("/None.mp3") or "audiopipe" in p]


def test_key_does_not_follow_a_cdn_redirect(demo_server: DemoServer, tmp_path: Path) -> None:
    """A CDN redirect to another origin (here: the API server's port) carries no key."""
    from archiver.demo import Reply

    payload = load_sample("10")
    clip = payload["data"]["output"]["clips"][0] if isinstance(
        payload["data"]["output"]["clips"], list) else next(
        iter(payload["data"]["output"]["clips"].values()))
    path = demo_server.cdn_path(clip["audio_url"])
    demo_server.script(path, Reply(302, headers={"location": f"{demo_server.api_url}/moved.mp3"}))
    back = Reply(302, headers={"location": f"{demo_server.cdn_url}{path}"})
    demo_server.script("/moved.mp3", back)
    code, _, err = _run(demo_server, tmp_path / "a", payload["data"]["task_id"])
    assert code == 0, err
    moved = [r for r in demo_server.requests if r.path == "/moved.mp3"]
    assert moved and all("x-api-key" not in {k.lower() for k in r.headers} for r in moved)


def test_unknown_task_status_is_queued_and_logged(demo_server: DemoServer, tmp_path: Path) -> None:
    payload = load_sample("01")
    payload["data"]["status"] = "Thinking"
    demo_server.publish(payload)
    code, _, err = _run(demo_server, tmp_path / "a", payload["data"]["task_id"])
    assert code == 0
    assert "unknown status 'Thinking'; treated as not finished" in err
    assert "1 task pending" in err


def test_python_dash_m_runs_the_same_program(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "archiver", "--version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("suno-archiver ")


def test_dead_url_is_retried_once_with_a_fresh_url(demo_server: DemoServer, tmp_path: Path) -> None:
    from archiver.demo import Reply

    payload = load_sample("01")
    task_id = payload["data"]["task_id"]
    clip = next(iter(payload["data"]["output"]["clips"].values()))
    old_path = demo_server.cdn_path(clip["audio_url"])
    demo_server.refused[old_path] = 403  # the signed URL expired
    stale = json.dumps({"code": 200, "data": json.loads(
        demo_server._tasks[f"/api/v1/task/{task_id}"])["data"]}).encode()
    demo_server.script(f"/api/v1/task/{task_id}", Reply(200, stale))
    clip["audio_url"] = clip["audio_url"].replace(".mp3", ".mp3?fresh=1").replace(
        "cdn1.suno.ai/", "cdn1.suno.ai/fresh/")
    demo_server.publish(payload)
    demo_server.media[demo_server.cdn_path(clip["audio_url"])] = demo_server.media[old_path]
    code, _, err = _run(demo_server, tmp_path / "a", task_id)
    assert code == 0, err
    api = [r for r in demo_server.requests if r.server == "api"]
    assert len(api) == 2  # the task, then once more for fresh URLs
    assert len(list((tmp_path / "a").glob("*.mp3"))) == 2


def test_dead_asset_given_up_after_n_runs_stops_failing(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    (task_id,) = [s.task_id for s in demo_server.samples if s.refuse]
    dest = tmp_path / "a"
    codes = [_run(demo_server, dest, "--give-up-after", "1", task_id)[0] for _ in range(3)]
    assert codes == [1, 0, 0]
    status = io.StringIO()
    main(["status", "-d", str(dest), "--json"], stdout=status)
    dead = json.loads(status.getvalue())["dead_assets"]
    assert len(dead) == 1 and "403" in dead[0]["reason"] and dead[0]["runs"] == 2
    before = len(demo_server.requests)
    assert _run(demo_server, dest, "--give-up-after", "1", task_id)[0] == 0
    assert len(demo_server.requests) == before  # final now: not even the API is asked


def test_assets_selection_and_widening_it_later_needs_no_api(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    task_id = load_sample("01")["data"]["task_id"]
    code, _, err = _run(demo_server, dest, "--assets", "audio", task_id)
    assert code == 0, err
    media = {p.suffix for p in dest.iterdir() if p.is_file()} - {".html", ".m3u8"}
    assert media == {".mp3", ".json"}
    assert ID3(next(dest.glob("*.mp3"))).getall("APIC")  # the cover is still embedded
    before = [r for r in demo_server.requests if r.server == "api"]
    code, _, err = _run(demo_server, dest, "--assets", "audio,video", task_id)
    assert code == 0, err
    assert [r for r in demo_server.requests if r.server == "api"] == before
    assert len(list(dest.glob("*.mp4"))) == 2


def test_audio_shorter_than_piapi_says_is_not_accepted(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    payload = load_sample("10")
    clips = payload["data"]["output"]["clips"]
    clip = clips[0] if isinstance(clips, list) else next(iter(clips.values()))
    clip["metadata"]["duration"] = float(clip["metadata"]["duration"]) * 2  # served at 1x
    demo_server.publish(payload)
    code, _, err = _run(demo_server, tmp_path / "a", payload["data"]["task_id"])
    assert code == 1
    assert "audio is dead: audio is" in err and "PiAPI says" in err
    assert len(list((tmp_path / "a").glob("*.mp3"))) == 1
    assert not list((tmp_path / "a").rglob("*.part"))


def test_the_cover_is_decoded_once_per_clip_for_tags_and_gallery(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One decode per clip makes the picture its mp3 and mp4 embed and the gallery's
    thumbnail; the gallery written at the end of the run has none left to make."""
    import archiver.covers
    import archiver.gallery
    from archiver.thumbs import THUMB_SIDE, thumbnail_path

    calls: list[tuple[int, ...]] = []
    real = archiver.covers.make_covers

    def counted(data: bytes, sides: tuple[int, ...]) -> list[bytes]:
        calls.append(tuple(sides))
        return real(data, sides)

    def not_again(data: bytes) -> bytes:
        raise AssertionError("the gallery decoded a cover the run had decoded")

    monkeypatch.setattr(archiver.covers, "make_covers", counted)
    monkeypatch.setattr(archiver.covers, "make_cover", not_again)
    monkeypatch.setattr(archiver.gallery, "make_thumbnail", not_again)
    task = load_sample("01")["data"]
    code, _, err = _run(demo_server, tmp_path / "a", task["task_id"])
    assert code == 0, err
    assert calls == [(1000, THUMB_SIDE)] * 2  # two clips, each with an mp3 and an mp4
    for clip in task["output"]["clips"].values():
        with Image.open(tmp_path / "a" / thumbnail_path(clip["id"])) as thumbnail:
            assert max(thumbnail.size) == THUMB_SIDE


def test_the_command_flushes_its_output_before_its_quick_exit(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    """`python -m archiver` (and the console script) end with os._exit after main(): every
    line printed must still reach a pipe, and the exit status must be main()'s."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "archiver", "--json", "--base-url", demo_server.api_url,
               "-d", str(tmp_path / "a"), *_ids(demo_server, "archived")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]  # none cut short
    assert sum(event["event"] == "file_saved" for event in events) > 20
    assert events[-1]["event"] == "summary"
    missing = subprocess.run([sys.executable, "-m", "archiver", "status", "-d",
                              str(tmp_path / "nothing here")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "suno-archiver: error:" in missing.stderr


def test_the_demo_server_takes_a_client_hanging_up_quietly(
    demo_server: DemoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that stops (a rejected key, Ctrl-C) resets connections mid-answer; the demo's
    servers used to print a traceback for each, in the middle of the user's output."""
    import socket
    import struct
    import time
    import urllib.request
    from urllib.parse import urlsplit

    task_id = load_sample("01")["data"]["task_id"]
    with urllib.request.urlopen(f"{demo_server.api_url}/api/v1/task/{task_id}") as answer:
        clip = next(iter(json.load(answer)["data"]["output"]["clips"].values()))
    url = urlsplit(clip["audio_url"])
    for _ in range(3):
        with socket.create_connection((url.hostname, url.port)) as raw:
            raw.sendall(f"GET {url.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            raw.recv(1)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)  # the handlers notice while they write the rest
    assert "Traceback" not in capsys.readouterr().err
