"""ID3 tagging of MP3 files, read back with eyeD3, tinytag and ffprobe (not only mutagen)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eyed3.id3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutagen.id3 import APIC, POPM, TCON, TXXX
from mutagen.mp3 import MP3
from tinytag import TinyTag

from archiver.errors import TaggingError
from archiver.models import AssetKind
from archiver.samplemedia import cover_image, silent_m4a, silent_mp3
from archiver.tagging import TagOptions, make_cover, tag_file
from archiver.tagging.fields import GENRE_GUARD, literal_genre

from .clipfactory import (
    CLIP_ID,
    DESCRIPTION,
    READ_BACK,
    TASK_ID,
    decode_errors,
    eyed3_tag,
    ffprobe,
    format_tags,
    make_clip,
    stream_md5,
)

VERSIONS = pytest.mark.parametrize("version", [3, 4], ids=["v2.3", "v2.4"])
ID3V1_GENRE_NAMES = set(eyed3.id3.ID3_GENRES)


@pytest.fixture
def mp3(tmp_path: Path) -> Path:
    path = tmp_path / "Neon Rain [0f6e1c2a].mp3.part"  # the archiver tags the .part file
    path.write_bytes(silent_mp3(3.0))
    return path


@pytest.fixture(scope="module")
def cover() -> bytes:
    return make_cover(cover_image("neon rain", (1400, 1400)))


def tag(path: Path, version: int = 3, cover: bytes | None = None, **clip: object) -> float | None:
    options = TagOptions(id3_version=version)
    return tag_file(path, AssetKind.AUDIO, make_clip(**clip), options, cover).duration


def visible(text: str | None) -> str | None:
    return None if text is None else text.replace(GENRE_GUARD, "")


@VERSIONS
def test_every_field_reads_back_in_eyed3(mp3: Path, cover: bytes, version: int) -> None:
    tag(mp3, version, cover)
    tags = eyed3_tag(mp3)
    assert tags.version == (2, version, 0)
    assert (tags.title, tags.artist, tags.album_artist, tags.album) == (
        "Neon Rain",
        "synthfan",
        "synthfan",
        "Suno",
    )
    assert tags.non_std_genre.name == "synthwave, dreamy female vocals"
    assert [(c.lang, c.description, c.text) for c in tags.comments] == [
        (b"eng", "", "a synthwave song about rain at night")
    ]
    assert [(lyr.lang, lyr.description) for lyr in tags.lyrics] == [(b"eng", "")]
    user_text = {frame.description: frame.text for frame in tags.user_text_frames}
    assert user_text == {
        "SUNO_CLIP_ID": CLIP_ID,
        "SUNO_TASK_ID": TASK_ID,
        "SUNO_MODEL": "chirp-v3-5",
        "SUNO_CREATED_AT": "2024-05-01T12:34:56.789Z",
    }
    # mutagen ends a URL with a NUL (the spec allows it); eyeD3 does not strip it
    urls = [frame.url.rstrip("\x00") for frame in tags.frame_set[b"WOAS"]]
    assert urls == [f"https://suno.com/song/{CLIP_ID}"]
    date = tags.recording_date
    if version == 4:
        assert (date.year, date.month, date.day, date.hour, date.minute) == (2024, 5, 1, 12, 34)
    else:  # eyeD3 0.9.9 parses v2.3's TDAT ("DDMM", per the spec) as a date and gives up on it
        assert date.year == 2024
    assert tags.frame_set[b"TLEN"][0].text == "3000"


@VERSIONS
def test_every_field_reads_back_in_tinytag_and_ffprobe(mp3: Path, version: int) -> None:
    tag(mp3, version)
    found = TinyTag.get(mp3)
    assert (found.title, found.artist, found.albumartist, found.album, found.genre) == READ_BACK
    assert found.comment == DESCRIPTION
    assert found.other["suno_clip_id"] == [CLIP_ID]
    assert found.other["woas"] == [f"https://suno.com/song/{CLIP_ID}"]
    probed = format_tags(mp3)
    assert probed["title"] == "Neon Rain"
    assert probed["genre"] == "synthwave, dreamy female vocals"
    assert probed["SUNO_CLIP_ID"] == CLIP_ID
    assert probed["SUNO_TASK_ID"] == TASK_ID
    assert probed["SUNO_MODEL"] == "chirp-v3-5"
    assert probed["lyrics-eng"] == make_clip().lyrics
    assert probed["date"] == ("2024-05-01 12:34" if version == 3 else "2024-05-01T12:34:56")


def test_v23_has_only_v23_date_frames(mp3: Path) -> None:
    tag(mp3, 3)
    assert mp3.read_bytes()[:4] == b"ID3\x03"
    raw = mp3.read_bytes()[:4096]
    assert b"TDRC" not in raw and b"TYER" in raw and b"TDAT" in raw and b"TIME" in raw


def test_v24_has_tdrc(mp3: Path) -> None:
    tag(mp3, 4)
    raw = mp3.read_bytes()[:4096]
    assert raw[:4] == b"ID3\x04"
    assert b"TDRC" in raw and b"TYER" not in raw


@pytest.mark.parametrize("hour, minute", [(12, 0), (0, 30), (0, 0)])
def test_v23_keeps_the_time_when_hour_or_minute_is_zero(mp3: Path, hour: int, minute: int) -> None:
    # mutagen's update_to_v23() drops TIME in these cases; the tagger restores it
    tag(mp3, 3, created=datetime(2024, 5, 1, hour, minute, 5, tzinfo=UTC))
    assert format_tags(mp3)["date"] == f"2024-05-01 {hour:02d}:{minute:02d}"
    assert TinyTag.get(mp3).year == "2024"


TITLES = {
    "emoji": "Neon 🌧️ Rain 🎶",
    "cjk": "夜の雨 · 밤비 · 夜雨",
    "arabic": "أغنية المطر",
    "hebrew": "שיר הגשם",
    "mixed": "Rain — مطر — 雨 — גשם 🎵",
}


@VERSIONS
@pytest.mark.parametrize("title", TITLES.values(), ids=TITLES.keys())
def test_titles_in_any_script_read_back(mp3: Path, version: int, title: str) -> None:
    tag(mp3, version, title=title, creator="مُغنّي 🎤")
    assert eyed3_tag(mp3).title == title
    assert TinyTag.get(mp3).title == title
    probed = format_tags(mp3)
    assert (probed["title"], probed["artist"]) == (title, "مُغنّي 🎤")


def test_empty_title_is_untitled_and_no_creator_means_no_artist(mp3: Path) -> None:
    tag(mp3, title="  ", creator="")
    tags = eyed3_tag(mp3)
    assert (tags.title, tags.artist, tags.album_artist) == ("Untitled", None, None)
    assert "artist" not in format_tags(mp3)


NUMERIC_STYLES = ["1980", "13", "(13)", "80s synthwave", "90s hip hop, boom bap", "((17))", "CR"]


@VERSIONS
@pytest.mark.parametrize("style", NUMERIC_STYLES)
def test_numeric_style_is_not_read_as_an_id3v1_genre(mp3: Path, version: int, style: str) -> None:
    tag(mp3, version, style=style)
    genre = eyed3_tag(mp3).genre  # raises on a bare "1980" written as is
    shown = {
        "eyeD3": visible(genre.name),
        "tinytag": visible(TinyTag.get(mp3).genre),
        "ffprobe": visible(format_tags(mp3)["genre"]),
        "mutagen": visible(MP3(mp3).tags["TCON"].genres[0]),
    }
    assert shown == dict.fromkeys(shown, style)


@VERSIONS
def test_style_without_a_leading_number_is_written_as_is(mp3: Path, version: int) -> None:
    tag(mp3, version, style="lo-fi, 808 bass, (dreamy)")
    assert eyed3_tag(mp3).non_std_genre.name == "lo-fi, 808 bass, (dreamy)"
    assert format_tags(mp3)["genre"] == "lo-fi, 808 bass, (dreamy)"


# The number rules of each reader, to check literal_genre against every text hypothesis finds.
# ffprobe (libavformat id3v2.c): sscanf "(%d)" or "%d" on the text, then a lookup if <= 191.
_FFPROBE_NUMBER = re.compile(r"\((?:[ \t\n\v\f\r]*[+-]?[0-9])|[ \t\n\v\f\r]*[+-]?[0-9]")
# eyeD3 (id3.Genre.parse), on the stripped text
_EYED3_NUMBER = re.compile(r"[0-9][0-9]*$|\(([0-9][0-9]*)\)(.*)$")


def _tinytag_number(text: str) -> bool:
    end = text.find(")")
    return text.isdecimal() or (text.startswith("(") and end > 0 and text[1:end].isdecimal())


@given(st.text(min_size=1).map(str.strip).filter(bool))
def test_literal_genre_is_never_a_genre_number_and_reverses(style: str) -> None:
    text = literal_genre(style)
    assert text.removeprefix(GENRE_GUARD) == style
    assert not _FFPROBE_NUMBER.match(text)
    assert not _EYED3_NUMBER.match(text.strip())
    assert not _tinytag_number(text)


@given(st.text(st.characters(exclude_characters="\n\0"), min_size=1))
def test_mutagen_genre_parser_leaves_literal_genre_alone(style: str) -> None:
    text = literal_genre(style)
    assert TCON(encoding=3, text=[text]).genres == [text]


@VERSIONS
def test_multiline_style_is_not_cut(mp3: Path, version: int) -> None:
    # update_to_v23() runs TCON through mutagen's genre parser, which stops at a newline
    tag(mp3, version, style="synthwave\ndreamy")
    assert eyed3_tag(mp3).non_std_genre.name == "synthwave\ndreamy"
    assert TinyTag.get(mp3).genre == "synthwave\ndreamy"
    assert format_tags(mp3)["genre"] == "synthwave\ndreamy"


@VERSIONS
def test_multiline_lyrics(mp3: Path, version: int) -> None:
    lyrics = "[Verse 1]\nNeon rain\n\n[Chorus]\nWe glow 🌧️\nأنا هنا"
    tag(mp3, version, lyrics=lyrics)
    assert eyed3_tag(mp3).lyrics[0].text == lyrics
    assert TinyTag.get(mp3).other["lyrics"] == [lyrics]
    assert format_tags(mp3)["lyrics-eng"] == lyrics


def test_instrumental_has_no_lyrics_even_after_a_retag(mp3: Path) -> None:
    tag(mp3)
    assert len(eyed3_tag(mp3).lyrics) == 1
    tag(mp3, lyrics="")
    assert len(eyed3_tag(mp3).lyrics) == 0
    assert "USLT" not in MP3(mp3).tags
    assert not any(key.startswith("lyrics") for key in format_tags(mp3))


@VERSIONS
def test_cover_is_one_front_cover_apic(mp3: Path, cover: bytes, version: int) -> None:
    tag(mp3, version, cover)
    images = eyed3_tag(mp3).images
    assert [(i.mime_type, i.picture_type, i.description) for i in images] == [
        ("image/jpeg", 3, "Cover")
    ]
    assert images[0].image_data == cover
    assert MP3(mp3).tags.getall("APIC")[0].encoding == 0  # Latin-1
    assert TinyTag.get(mp3, image=True).images.front_cover.data == cover


@VERSIONS
def test_retag_keeps_foreign_frames_and_leaves_one_picture(
    mp3: Path, cover: bytes, version: int
) -> None:
    tag(mp3, version, cover)
    audio = MP3(mp3)
    audio.tags.add(TXXX(encoding=3, desc="MY_RATING", text=["5"]))
    audio.tags.add(POPM(email="me@example.org", rating=255, count=3))
    audio.save(v2_version=version)
    second = make_cover(cover_image("other", (800, 600), "PNG"))
    tag(mp3, version, second, title="Neon Rain (Remix)")
    tags = eyed3_tag(mp3)
    assert tags.title == "Neon Rain (Remix)"
    assert {f.description: f.text for f in tags.user_text_frames}["MY_RATING"] == "5"
    assert [p.email for p in tags.popularities] == [b"me@example.org"]
    assert [image.image_data for image in tags.images] == [second]
    assert len(tags.frame_set[b"TIT2"]) == len(tags.frame_set[b"TXXX"]) - 4 == 1
    pictures = [s for s in _streams(mp3) if s["disposition"]["attached_pic"] == 1]
    assert len(pictures) == 1


def test_a_cover_replaces_every_earlier_picture(mp3: Path, cover: bytes) -> None:
    tag(mp3)
    audio = MP3(mp3)
    audio.tags.add(_apic(desc="", picture_type=0))
    audio.save(v2_version=3)
    tag(mp3, cover=cover)
    assert [(i.description, i.picture_type) for i in eyed3_tag(mp3).images] == [("Cover", 3)]


def test_no_cover_removes_only_the_archivers_picture(mp3: Path, cover: bytes) -> None:
    tag(mp3, cover=cover)
    audio = MP3(mp3)
    audio.tags.add(_apic(desc="back", picture_type=4))
    audio.save(v2_version=3)
    tag(mp3, cover=None)
    assert [(i.description, i.picture_type) for i in eyed3_tag(mp3).images] == [("back", 4)]


@VERSIONS
def test_audio_payload_is_unchanged(mp3: Path, cover: bytes, version: int) -> None:
    before = stream_md5(mp3)
    tag(mp3, version, cover)
    tag(mp3, version, None, title="again")
    assert stream_md5(mp3) == before
    assert decode_errors(mp3) == ""


def test_never_writes_id3v1_and_removes_an_old_one(mp3: Path) -> None:
    old_v1 = b"TAG" + b"Old Title".ljust(30, b"\0") + bytes(94) + b"\x0d"
    mp3.write_bytes(mp3.read_bytes() + old_v1)
    tag(mp3)
    assert mp3.read_bytes()[-128:-125] != b"TAG"
    assert mp3.read_bytes().endswith(silent_mp3(3.0))
    assert eyed3_tag(mp3).title == "Neon Rain"


def test_length_is_measured_from_the_file_not_claimed(mp3: Path) -> None:
    assert tag(mp3, duration=999.0) == pytest.approx(3.0)
    assert eyed3_tag(mp3).frame_set[b"TLEN"][0].text == "3000"


def test_missing_date_and_empty_fields_write_nothing(mp3: Path) -> None:
    tag(mp3, created=None, description="", model="")
    tags = eyed3_tag(mp3)
    assert tags.recording_date is None
    assert tags.comments.get("") is None
    assert "SUNO_MODEL" not in {frame.description for frame in tags.user_text_frames}


@pytest.mark.parametrize(
    "content",
    [b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", b"", b"ID3" + bytes(20)],
    ids=["html", "empty", "id3-header-only"],
)
def test_not_mpeg_audio_is_a_tagging_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "Song [0f6e1c2a].mp3.part"
    path.write_bytes(content)
    with pytest.raises(TaggingError, match=re.escape(path.name)):
        tag(path)


def test_format_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    mislabelled_mp3 = tmp_path / "song.mp4.part"
    mislabelled_mp3.write_bytes(silent_mp3(1.0))
    tag_file(mislabelled_mp3, AssetKind.VIDEO, make_clip(), TagOptions(), None)
    assert eyed3_tag(mislabelled_mp3).title == "Neon Rain"
    mislabelled_m4a = tmp_path / "song.mp3.part"
    mislabelled_m4a.write_bytes(silent_m4a(1.0))
    tag_file(mislabelled_m4a, AssetKind.AUDIO, make_clip(), TagOptions(), None)
    assert format_tags(mislabelled_m4a)["SUNO_CLIP_ID"] == CLIP_ID


def test_pictures_are_not_tagged(tmp_path: Path) -> None:
    path = tmp_path / "cover.jpg.part"
    path.write_bytes(cover_image("x"))
    with pytest.raises(TaggingError):
        tag_file(path, AssetKind.IMAGE, make_clip(), TagOptions(), None)


def test_id3_version_must_be_3_or_4() -> None:
    with pytest.raises(ValueError, match="3 or 4"):
        TagOptions(id3_version=2)


def _apic(desc: str, picture_type: int) -> APIC:
    return APIC(encoding=0, mime="image/png", type=picture_type, desc=desc, data=b"\x89PNG")


def _streams(path: Path) -> list[dict[str, Any]]:
    streams: list[dict[str, Any]] = ffprobe(path)["streams"]
    return streams
