"""MP4 tagging of m4a and real H.264 mp4 files, with and without `moov.udta` before tagging.

Read back with ffprobe and tinytag. ffmpeg drops every `----` freeform atom that comes before
the first track, which is where mutagen puts a new `udta`: the SUNO_* tags in ffprobe's output
are the proof that the tagger moved it.
"""

from __future__ import annotations

import re
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mutagen.mp4 import MP4, Atoms, MP4FreeForm
from tinytag import TinyTag

from archiver.errors import TaggingError
from archiver.models import AssetKind
from archiver.samplemedia import cover_image, silent_m4a
from archiver.tagging import TagOptions, make_cover, tag_file
from archiver.tagging.mp4 import move_udta_after_tracks

from .clipfactory import (
    CLIP_ID,
    DESCRIPTION,
    READ_BACK,
    TASK_ID,
    decode_errors,
    demo_video,
    ffprobe,
    format_tags,
    make_clip,
    require_tool,
    stream_md5,
)


def _m4a(directory: Path) -> Path:
    path = directory / "song.m4a"
    path.write_bytes(silent_m4a(3.0))
    return path


def _m4a_with_udta(directory: Path) -> Path:
    path = directory / "song.m4a"
    path.write_bytes(silent_m4a(3.0, udta=True))
    return path


def _video_without_udta(directory: Path) -> Path:
    """The demo video remuxed with `moov` last, then its `udta` cut out of `moov` by hand."""
    source = demo_video(directory)
    remuxed = directory / "remuxed.mp4"
    ffmpeg = require_tool("ffmpeg")
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(source), "-map", "0", "-c", "copy"] + [str(remuxed)],
        check=True,
    )
    data = remuxed.read_bytes()
    moov = data.rindex(b"moov") - 4
    assert struct.unpack_from(">I", data, moov)[0] == len(data) - moov, "moov is not last"
    udta = data.index(b"udta", moov) - 4
    udta_size = struct.unpack_from(">I", data, udta)[0]
    stripped = bytearray(data[:udta] + data[udta + udta_size :])
    struct.pack_into(">I", stripped, moov, len(data) - moov - udta_size)
    remuxed.write_bytes(bytes(stripped))
    return remuxed


LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "m4a-without-udta": _m4a,
    "m4a-with-udta": _m4a_with_udta,
    "video-with-udta": demo_video,
    "video-without-udta": _video_without_udta,
}


@pytest.fixture(params=LAYOUTS.values(), ids=LAYOUTS.keys())
def media(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    made: Path = request.param(tmp_path)
    part = tmp_path / "Neon Rain [0f6e1c2a].mp4.part"  # the archiver tags the .part file
    made.rename(part)
    return part


@pytest.fixture(scope="module")
def cover() -> bytes:
    return make_cover(cover_image("neon rain", (1200, 1200)))


def tag(path: Path, cover: bytes | None = None, **clip: object) -> float | None:
    return tag_file(path, AssetKind.VIDEO, make_clip(**clip), TagOptions(), cover).duration


def moov_children(path: Path) -> list[bytes]:
    with path.open("rb") as stream:
        return [atom.name for atom in Atoms(stream)[b"moov"].children]


def has_video(path: Path) -> bool:
    return any(s["codec_type"] == "video" and s["codec_name"] == "h264" for s in _streams(path))


def test_layouts_are_what_they_claim(media: Path, request: pytest.FixtureRequest) -> None:
    children = moov_children(media)
    assert request.node.callspec.id.endswith("-with-udta") == (b"udta" in children)
    if b"udta" in children:
        assert children.index(b"udta") > children.index(b"trak")


def test_freeform_tags_show_in_ffprobe(media: Path, cover: bytes) -> None:
    tag(media, cover)
    probed = format_tags(media)
    assert {key: probed.get(key) for key in _FREEFORM} == {
        "SUNO_CLIP_ID": CLIP_ID,
        "SUNO_TASK_ID": TASK_ID,
        "SUNO_MODEL": "chirp-v3-5",
        "SUNO_CREATED_AT": "2024-05-01T12:34:56.789Z",
        "SUNO_URL": f"https://suno.com/song/{CLIP_ID}",
    }
    assert (probed["title"], probed["artist"], probed["album_artist"], probed["album"]) == (
        "Neon Rain",
        "synthfan",
        "synthfan",
        "Suno",
    )
    assert probed["genre"] == "synthwave, dreamy female vocals"
    assert probed["comment"] == "a synthwave song about rain at night"
    assert probed["lyrics"] == make_clip().lyrics
    assert probed["date"] == "2024-05-01T12:34:56"
    children = moov_children(media)
    assert children.count(b"udta") == 1
    assert children.index(b"udta") > max(i for i, c in enumerate(children) if c == b"trak")


def test_tags_read_back_in_tinytag(media: Path, cover: bytes) -> None:
    tag(media, cover)
    found = TinyTag.get(media, image=True)
    assert (found.title, found.artist, found.albumartist, found.album, found.genre) == READ_BACK
    assert found.comment == DESCRIPTION
    assert found.other["suno_clip_id"] == [CLIP_ID]
    assert found.other["suno_url"] == [f"https://suno.com/song/{CLIP_ID}"]
    assert found.other["lyrics"] == [make_clip().lyrics]
    assert found.images.front_cover.data == cover


def test_cover_is_one_attached_picture(media: Path, cover: bytes) -> None:
    tag(media, cover)
    pictures = [s for s in _streams(media) if s["disposition"]["attached_pic"] == 1]
    assert [p["codec_name"] for p in pictures] == ["mjpeg"]
    assert [bytes(c) for c in MP4(media).tags["covr"]] == [cover]


def test_streams_are_unchanged_and_decode_cleanly(media: Path, cover: bytes) -> None:
    video = has_video(media)
    before = (stream_md5(media, "a:0"), stream_md5(media, "v:0") if video else None)
    tag(media, cover)
    tag(media, None, title="again")
    after = (stream_md5(media, "a:0"), stream_md5(media, "v:0") if video else None)
    assert after == before
    assert decode_errors(media) == ""


def test_retag_keeps_foreign_atoms_and_leaves_one_cover(media: Path, cover: bytes) -> None:
    tag(media, cover)
    movie = MP4(media)
    movie.tags["----:com.apple.iTunes:MY_RATING"] = [MP4FreeForm(b"5")]
    movie.tags["\xa9grp"] = ["my favourites"]
    movie.save()
    second = make_cover(cover_image("other", (640, 480), "WEBP"))
    tag(media, second, title="Neon Rain (Remix)")
    probed = format_tags(media)
    assert (probed["title"], probed["MY_RATING"], probed["grouping"]) == (
        "Neon Rain (Remix)",
        "5",
        "my favourites",
    )
    assert [bytes(c) for c in MP4(media).tags["covr"]] == [second]
    assert sum(s["disposition"]["attached_pic"] for s in _streams(media)) == 1


def test_no_cover_removes_the_cover(media: Path, cover: bytes) -> None:
    tag(media, cover)
    tag(media, None)
    assert "covr" not in MP4(media).tags
    assert not any(s["disposition"]["attached_pic"] for s in _streams(media))


@pytest.mark.parametrize("title", ["Neon 🌧️ Rain 🎶", "夜の雨 · 밤비", "أغنية المطر", "שיר הגשם"])
def test_titles_in_any_script_read_back(media: Path, title: str) -> None:
    tag(media, title=title, style="13")
    probed = format_tags(media)
    assert (probed["title"], probed["genre"]) == (title, "13")  # ©gen is text: no guard
    assert TinyTag.get(media).title == title


def test_instrumental_and_missing_fields_are_not_written(media: Path) -> None:
    tag(media)
    tag(media, lyrics="", description="", created=None, creator="")
    probed = format_tags(media)
    assert not {"lyrics", "comment", "date", "artist", "album_artist"} & probed.keys()
    assert probed["SUNO_CLIP_ID"] == CLIP_ID


def test_length_is_measured_from_the_file(media: Path) -> None:
    # mutagen ignores the edit list (AAC priming), so allow the slack TAGGING.md gives
    assert tag(media, duration=999.0) == pytest.approx(3.0, abs=0.05)


def test_moving_udta_is_idempotent(media: Path) -> None:
    tag(media)
    snapshot = media.read_bytes()
    assert move_udta_after_tracks(media) is False
    assert media.read_bytes() == snapshot


def test_udta_before_the_tracks_is_moved_without_touching_the_media(tmp_path: Path) -> None:
    path = _m4a(tmp_path)
    movie = MP4(path)
    movie.add_tags()
    movie.tags["----:com.apple.iTunes:SUNO_CLIP_ID"] = [MP4FreeForm(b"x")]
    movie.save()  # plain mutagen: udta goes first, and ffprobe loses the freeform tag
    assert moov_children(path)[0] == b"udta"
    assert "SUNO_CLIP_ID" not in format_tags(path)
    size, before = path.stat().st_size, stream_md5(path)
    assert move_udta_after_tracks(path) is True
    assert moov_children(path)[-1] == b"udta"
    assert format_tags(path)["SUNO_CLIP_ID"] == "x"
    assert (path.stat().st_size, stream_md5(path)) == (size, before)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:8] + b"\xff" * 64,  # ftyp, then garbage sizes
        lambda data: data[: len(data) // 3],  # cut inside moov
        lambda data: data[:32],  # ftyp only
    ],
    ids=["garbage", "truncated-moov", "ftyp-only"],
)
def test_broken_mp4_is_a_tagging_error_naming_the_file(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / "Song [0f6e1c2a].mp4.part"
    path.write_bytes(damage(silent_m4a(3.0)))
    with pytest.raises(TaggingError, match=re.escape(path.name)):
        tag(path)


_FREEFORM = ("SUNO_CLIP_ID", "SUNO_TASK_ID", "SUNO_MODEL", "SUNO_CREATED_AT", "SUNO_URL")


def _streams(path: Path) -> list[dict[str, Any]]:
    return list(ffprobe(path)["streams"])
