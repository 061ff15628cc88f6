"""The gallery: index.html and playlist.m3u8 from an archive made by the real CLI, and a
synthetic 5,000-clip archive for the time it takes to write them again."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image

from archiver.cli import main
from archiver.demo import DemoServer
from archiver.gallery import (
    INDEX_NAME,
    PLAYLIST_NAME,
    GalleryResult,
    playlist_text,
    style_tags,
    write_gallery,
)
from archiver.gallery_page import embed_json
from archiver.manifest import DB_NAME, STATE_DIR, Manifest, TaskState
from archiver.models import AssetKind
from archiver.naming import safe_component
from archiver.parse import parse_task
from archiver.thumbs import THUMB_SIDE

from .samples import load_sample

KEY = "sk-gallery-test-key"
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_LYRICS = "</script><img src=x onerror=alert(2)>\n<!-- <b>bold</b> & ]]>"
AWKWARD_TITLE = "C# minor 100% [live] ?&= 「夜」🎧 ？"
_DATA_BLOCK = re.compile(r'<script type="application/json" id="gallery-data">(.*?)</script>', re.S)


@dataclass(frozen=True)
class Gallery:
    dest: Path
    result: GalleryResult
    html: str
    items: list[dict[str, Any]]
    playlist: str

    def item(self, item_id: str) -> dict[str, Any]:
        (found,) = [item for item in self.items if item["id"] == item_id]
        return found


def archive_tasks(server: DemoServer, dest: Path, *task_ids: str) -> None:
    """The real CLI over HTTP against the sample server (PIAPI_API_KEY must be set)."""
    err = io.StringIO()
    code = main([*task_ids, "-d", str(dest), "--base-url", server.api_url], stderr=err)
    assert code in (0, 1), err.getvalue()  # 1: some samples fail on purpose


def gallery_of(dest: Path) -> Gallery:
    manifest = Manifest.open_existing(dest)
    try:
        result = write_gallery(dest, manifest)
    finally:
        manifest.close()
    html = (dest / INDEX_NAME).read_text(encoding="utf-8")
    return Gallery(dest, result, html, page_items(html),
                   (dest / PLAYLIST_NAME).read_text(encoding="utf-8"))


def page_items(html: str) -> list[dict[str, Any]]:
    (block,) = _DATA_BLOCK.findall(html)
    items: list[dict[str, Any]] = json.loads(block)["items"]
    return items


def hostile_sample() -> dict[str, Any]:
    """Sample 01 with a script for a title, markup for lyrics and a name full of URL syntax."""
    payload = copy.deepcopy(load_sample("01"))
    first, second = payload["data"]["output"]["clips"].values()
    first["title"] = HOSTILE_TITLE
    first["metadata"]["prompt"] = HOSTILE_LYRICS
    second["title"] = AWKWARD_TITLE
    return payload


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gallery]:
    """Every sample archived once by the CLI (the module's tests only read it)."""
    dest = tmp_path_factory.mktemp("gallery") / "archive"
    with pytest.MonkeyPatch.context() as patch, DemoServer() as server:
        patch.setenv("XDG_CONFIG_HOME", str(dest.parent / "xdg"))
        patch.setenv("PIAPI_API_KEY", KEY)
        archive_tasks(server, dest, *(sample.task_id for sample in server.samples))
    yield gallery_of(dest)


@pytest.fixture
def hostile(demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)
    payload = hostile_sample()
    demo_server.publish(payload)
    dest = tmp_path / "archive"
    archive_tasks(demo_server, dest, payload["data"]["task_id"])
    return dest


def _stored_clips(dest: Path) -> list[tuple[str, str, str, float | None]]:
    """(clip id, title, creator, duration) of every clip, in archive order."""
    manifest = Manifest.open_existing(dest)
    try:
        return [(clip.clip_id, clip.title, clip.creator, clip.duration)
                for task_id, _, text in manifest.stored_tasks()
                for clip in parse_task(json.loads(text), task_id).clips]
    finally:
        manifest.close()


def _clips(prefix: str) -> list[dict[str, Any]]:
    """The clip objects of a sample task, whether `output.clips` is a list or an object."""
    clips = load_sample(prefix)["data"]["output"]["clips"]
    return list(clips.values()) if isinstance(clips, dict) else list(clips)


def _done(dest: Path, kind: AssetKind) -> dict[str, str]:
    manifest = Manifest.open_existing(dest)
    try:
        return {row.clip_id: row.path or "" for row, _ in manifest.done_files()
                if row.kind is kind}
    finally:
        manifest.close()


# -- what the page lists --------------------------------------------------------------------


def test_every_archived_clip_is_on_the_page_in_archive_order(demo: Gallery) -> None:
    clips = _stored_clips(demo.dest)
    on_page = [item["id"] for item in demo.items if item["kind"] == "clip"]
    assert on_page == [clip_id for clip_id, *_ in clips]
    assert demo.result.clips == len(clips) == 22
    for clip_id, path in _done(demo.dest, AssetKind.AUDIO).items():
        assert unquote(demo.item(clip_id)["audio"]) == path
    for clip_id, path in _done(demo.dest, AssetKind.VIDEO).items():
        assert unquote(demo.item(clip_id)["video"]) == path


def test_lost_failed_and_pending_items_show_their_reason(demo: Gallery) -> None:
    refused = _clips("13")[0]["id"]
    assert demo.item(refused)["state"] == "lost" and "audio" not in demo.item(refused)
    assert any("HTTP 403" in note for note in demo.item(refused)["notes"])
    moderated = _clips("08")[1]["id"]
    assert demo.item(moderated)["state"] == "error"
    assert "moderation" in demo.item(moderated)["notes"][0]
    failed = demo.item(load_sample("07")["data"]["task_id"])
    assert failed["kind"] == "task" and failed["state"] == "error"
    assert "Unable to generate lyrics" in failed["notes"][0]
    queued = demo.item(load_sample("12")["data"]["task_id"])
    assert queued["state"] == "pending" and "pending" in queued["notes"][0]
    for clip in _clips("06"):
        assert demo.item(clip["id"])["state"] == "pending"
    waiting = [clip["id"] for clip in _clips("09") if clip.get("is_video_pending")]
    assert waiting and all("video still rendering" in " ".join(demo.item(clip_id)["notes"])
                           for clip_id in waiting)
    not_found = [item for item in demo.items if item.get("notes") == ["task not found (HTTP 404)"]]
    assert len(not_found) == 1 and not_found[0]["kind"] == "task"


def test_clip_fields_for_the_cards(demo: Gallery) -> None:
    neon = demo.item(_clips("01")[0]["id"])
    assert neon["title"] == "Neon Harbor" and neon["creator"] == "LunarTide"
    assert neon["tags"] == ["synthpop", "dreamy", "upbeat", "female vocals"]
    assert neon["duration"] == 142.56 and neon["created"] == "2024-09-21T09:43:21+00:00"
    assert neon["lyrics"].startswith("[Verse]") and neon["state"] == "ok"
    untitled = [item for item in demo.items if item["title"] == "Untitled"]
    assert len(untitled) == 2 and {"1980"} in [set(item["tags"]) for item in untitled]


def test_every_link_resolves_to_a_file_in_the_archive(demo: Gallery) -> None:
    links = [item[key] for item in demo.items for key in ("audio", "video", "cover", "thumb")
             if key in item]
    assert len(links) > 60
    for link in links:
        assert not re.search(r"[\s#?\"'<>]", link), link
        assert (demo.dest / unquote(link)).is_file(), link
    assert 'href="playlist.m3u8"' in demo.html


def test_the_page_requests_nothing_outside_its_folder(demo: Gallery) -> None:
    page = _DATA_BLOCK.sub("", demo.html)
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", demo.html)
    assert "innerHTML" not in page and "eval(" not in page


# -- escaping and awkward names -----------------------------------------------------------


def test_hostile_title_and_lyrics_stay_text(hostile: Path) -> None:
    gallery = gallery_of(hostile)
    assert gallery.html.count("<script") == 2 and gallery.html.count("</script>") == 2
    assert "alert(" not in _DATA_BLOCK.sub("", gallery.html)
    assert "<img src=x" not in gallery.html and HOSTILE_TITLE not in gallery.html
    (item,) = [item for item in gallery.items if item["title"] == HOSTILE_TITLE]
    assert item["lyrics"] == HOSTILE_LYRICS  # the data round-trips exactly
    assert f"#EXTINF:143,LunarTide - {HOSTILE_TITLE}" in gallery.playlist


def test_names_with_url_syntax_link_to_the_right_file(hostile: Path) -> None:
    gallery = gallery_of(hostile)
    (item,) = [item for item in gallery.items if item["title"] == AWKWARD_TITLE]
    name = unquote(item["audio"])
    assert "#" in name and "%" in name and "[live]" in name and "「夜」🎧" in name
    assert "%23" in item["audio"] and "%25" in item["audio"] and "%5B" in item["audio"]
    for key in ("audio", "video", "cover", "thumb"):
        assert (hostile / unquote(item[key])).is_file()
    assert f"\n{name}\n" in gallery.playlist  # the playlist's paths are plain, not encoded


def test_embedded_json_cannot_close_its_script_block() -> None:
    text = embed_json({"title": "</script><!-- <script> ]]> & \u2028"})
    assert not re.search(r"[<>&\u2028]", text)
    assert json.loads(text) == {"title": "</script><!-- <script> ]]> & \u2028"}


# -- playlist -------------------------------------------------------------------------------


def test_playlist_lists_saved_audio_in_archive_order(demo: Gallery) -> None:
    saved = _done(demo.dest, AssetKind.AUDIO)
    expected = ["#EXTM3U"]
    for clip_id, title, creator, duration in _stored_clips(demo.dest):
        if clip_id in saved:
            title = title or "Untitled"
            label = f"{creator} - {title}" if creator else title
            expected += [f"#EXTINF:{round(duration) if duration else -1},{label}", saved[clip_id]]
    assert demo.playlist.splitlines() == expected
    assert "#EXTINF:184,gravelroad - AC/DC: Back in Black? *Tribute*" in demo.playlist
    for line in demo.playlist.splitlines()[2::2]:
        assert not line.startswith("/") and (demo.dest / line).is_file()


def test_playlist_entries_stay_on_one_line() -> None:
    items = [{"kind": "clip", "title": "two\nlines\r\u2028here", "audio": "a%20b.mp3"},
             {"kind": "clip", "title": "no audio"}]
    assert playlist_text(items) == "#EXTM3U\n#EXTINF:-1,two lines here\na b.mp3\n"


def test_style_tags() -> None:
    assert style_tags("Synthwave, retro;  dreamy\nSynthwave,, ") == ["synthwave", "retro", "dreamy"]
    assert style_tags("") == [] and style_tags("(13)") == ["(13)"]


# -- thumbnails -----------------------------------------------------------------------------


def test_thumbnails_are_small_baseline_jpegs(demo: Gallery) -> None:
    thumbs = sorted((demo.dest / STATE_DIR / "thumbs").iterdir())
    covers = _done(demo.dest, AssetKind.IMAGE)
    assert [path.name for path in thumbs] == sorted(f"{clip_id}.jpg" for clip_id in covers)
    for path in thumbs:
        with Image.open(path) as picture:
            assert picture.format == "JPEG" and picture.mode == "RGB"
            assert max(picture.size) == THUMB_SIDE
            assert "progressive" not in picture.info and "progression" not in picture.info
        assert path.stat().st_size < 30_000


def test_thumbnails_are_made_again_only_for_newer_covers(demo: Gallery) -> None:
    thumbs = demo.dest / STATE_DIR / "thumbs"
    before = {path.name: path.stat().st_mtime_ns for path in thumbs.iterdir()}
    assert gallery_of(demo.dest).result.thumbnails_made == 0
    assert {path.name: path.stat().st_mtime_ns for path in thumbs.iterdir()} == before
    clip_id, cover = next(iter(_done(demo.dest, AssetKind.IMAGE).items()))
    later = time.time() + 5
    os.utime(demo.dest / cover, (later, later))
    assert gallery_of(demo.dest).result.thumbnails_made == 1
    assert (thumbs / f"{clip_id}.jpg").stat().st_mtime_ns > before[f"{clip_id}.jpg"]


def test_a_cover_that_is_no_picture_gives_a_placeholder(hostile: Path) -> None:
    clip_id, cover = next(iter(_done(hostile, AssetKind.IMAGE).items()))
    (hostile / cover).write_bytes(b"<html>not a picture</html>")
    later = time.time() + 5
    os.utime(hostile / cover, (later, later))
    item = gallery_of(hostile).item(clip_id)
    assert "thumb" not in item and item["cover"]


def test_a_file_gone_from_disk_is_shown_as_lost(hostile: Path) -> None:
    clip_id, audio = next(iter(_done(hostile, AssetKind.AUDIO).items()))
    (hostile / audio).unlink()
    gallery = gallery_of(hostile)
    assert gallery.item(clip_id)["state"] == "lost" and "audio" not in gallery.item(clip_id)
    assert "verify --repair" in gallery.item(clip_id)["notes"][0]
    assert audio not in gallery.playlist


def test_outputs_are_replaced_atomically(hostile: Path) -> None:
    gallery_of(hostile)
    assert not list(hostile.glob("*.tmp")) and not list(hostile.rglob("*.jpg.tmp"))


# -- 5,000 clips ----------------------------------------------------------------------------

_STYLES = ("synthwave", "lo-fi", "jazz", "k-pop", "sea shanty", "drum and bass", "ambient",
           "female vocals", "male vocals", "acoustic", "80s", "orchestral", "trap", "folk")
_WORDS = ("neon", "river", "lantern", "midnight", "harbor", "static", "paper", "glass", "rain",
          "dust", "signal", "echo", "velvet", "ember", "tide", "orbit", "hollow", "summer")
_NAMESPACE = uuid.UUID("6f1c0b1e-1b7e-4a51-9e0c-9d4b7c1e2a30")


_BIG_ARCHIVES: dict[int, Path] = {}


def big_archive(factory: pytest.TempPathFactory, clips: int = 5000) -> Path:
    """`build_big_archive`, once per test session: both gallery test modules use it."""
    if clips not in _BIG_ARCHIVES:
        _BIG_ARCHIVES[clips] = build_big_archive(factory.mktemp("big") / "archive", clips)
    return _BIG_ARCHIVES[clips]


def build_big_archive(dest: Path, clips: int = 5000) -> Path:
    """A synthetic archive of `clips` clips (2 a task) written straight into the manifest.

    Files are tiny stand-ins (the gallery only looks at names and covers); every 50th audio is
    dead, every 7th clip has no video, every 97th no cover. Thumbnails are written as a run
    before would have left them, so that writing the gallery measures the regular rerun.
    """
    thumb, cover = _jpeg(THUMB_SIDE), _jpeg(48)
    thumbs = dest / STATE_DIR / "thumbs"
    thumbs.mkdir(parents=True)
    Manifest.open(dest).close()  # the schema; then one transaction for all the rows
    connection = sqlite3.connect(dest / STATE_DIR / DB_NAME, isolation_level=None)
    manifest = Manifest(connection)
    connection.execute("BEGIN")
    try:
        for number in range(0, clips, 2):
            task = parse_task(_synthetic_task(number))
            manifest.record_task(task)
            for clip in task.clips:
                manifest.record_clip(clip)
                serial = number + clip.index - 1
                stem = f"{safe_component(clip.title)} [{clip.id8}]"
                kinds = [(AssetKind.AUDIO, "mp3", b"ID3\x03" + bytes(64))]
                kinds += [(AssetKind.VIDEO, "mp4", b"\0\0\0\x18ftypmp42")] if serial % 7 else []
                kinds += [(AssetKind.IMAGE, "jpg", cover)] if serial % 97 else []
                for kind, ext, body in kinds:
                    if kind is AssetKind.AUDIO and serial % 50 == 49:
                        manifest.record_file_dead(clip, kind, "HTTP 403 (Missing Key-Pair-Id)")
                        continue
                    (dest / f"{stem}.{ext}").write_bytes(body)
                    manifest.record_file_done(clip, kind, f"{stem}.{ext}", len(body), "0" * 64)
                if serial % 97:
                    (thumbs / f"{clip.clip_id}.jpg").write_bytes(thumb)
            manifest.set_task_state(task.task_id, TaskState.DONE)
        connection.execute("COMMIT")
    finally:
        manifest.close()
    return dest


def _synthetic_task(number: int) -> dict[str, Any]:
    task_id = str(uuid.uuid5(_NAMESPACE, f"task-{number}"))
    return {"code": 200, "message": "success", "data": {
        "task_id": task_id, "model": "music-s", "task_type": "generate_music",
        "status": "completed", "output": {"clips": [
            _synthetic_clip(number + offset) for offset in (0, 1)]}}}


def _synthetic_clip(serial: int) -> dict[str, Any]:
    clip_id = str(uuid.uuid5(_NAMESPACE, f"clip-{serial}"))
    words = [_WORDS[(serial * 7 + step * 5) % len(_WORDS)] for step in range(3)]
    lyrics = "\n".join(" ".join(_WORDS[(serial + line * 3 + i) % len(_WORDS)] for i in range(7))
                       for line in range(24))
    return {
        "id": clip_id, "status": "complete", "model_name": "chirp-v4",
        "title": f"{' '.join(words).title()} {serial}",
        "display_name": f"creator{serial % 40}",
        "created_at": f"{2023 + serial % 3}-{1 + serial % 12:02d}-{1 + serial % 28:02d}T12:00:00Z",
        "audio_url": f"https://cdn1.suno.ai/{clip_id}.mp3",
        "video_url": f"https://cdn1.suno.ai/{clip_id}.mp4",
        "image_large_url": f"https://cdn2.suno.ai/image_large_{clip_id}.jpeg",
        "metadata": {
            "tags": ", ".join(_STYLES[(serial + k * 5) % len(_STYLES)] for k in range(3)),
            "prompt": f"[Verse]\n{lyrics}\nmarker{serial}x", "duration": 60 + serial % 240},
    }


def _jpeg(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (90, 80, 200)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def test_5000_clips_are_written_again_quickly(tmp_path_factory: pytest.TempPathFactory) -> None:
    dest = big_archive(tmp_path_factory)
    started = time.perf_counter()
    gallery = gallery_of(dest)
    seconds = time.perf_counter() - started
    size = (dest / INDEX_NAME).stat().st_size
    print(f"\ngallery of 5,000 clips with thumbnails present: {seconds:.2f} s, "
          f"index.html {size / 1e6:.1f} MB")
    assert gallery.result.clips == 5000 and gallery.result.thumbnails_made == 0
    assert sum(item["state"] == "lost" for item in gallery.items) == 100
    assert sum("video" in item for item in gallery.items) == 5000 - 715
    assert sum("thumb" not in item for item in gallery.items) == 52
    assert gallery.playlist.count("#EXTINF:") == 4900
    assert seconds < 10  # about 1 s here; generous for slow CI machines
