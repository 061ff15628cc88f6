"""ID3v2 tags for MPEG audio, written in place with mutagen from the table in fields.py.

Only the frames the archiver owns (the keys in `FIELDS`, and `APIC`) are replaced: a user's
`TXXX:MY_RATING` or `POPM` survives a re-tag. ID3v1 is never written and an old one is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import mutagen.id3
import mutagen.mp3
from mutagen import MutagenError

from archiver.errors import TaggingError
from archiver.models import Clip
from archiver.tagging.fields import FIELDS, ID3_COVER, ID3_COVER_DESC, Field, FieldSource

__all__ = ["tag_mp3"]

# mutagen has no annotations: bind what is used as Any, so `mypy --strict` checks our code only.
_MP3: Any = mutagen.mp3.MP3
_FRAMES: dict[str, Any] = mutagen.id3.Frames
_APIC: Any = mutagen.id3.APIC
_TIME: Any = mutagen.id3.TIME
_UTF8 = 3  # mutagen stores it as UTF-16 when it saves ID3v2.3
_LATIN1 = 0
_FRONT_COVER = 3
_NO_ID3V1 = 0  # mutagen's ID3v1SaveOptions.REMOVE
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # reserved and already-escaped characters stay as they are


def tag_mp3(path: Path, clip: Clip, album: str, id3_version: int, cover: bytes | None) -> float:
    """Write the archiver's ID3v2.`id3_version` frames into `path`; return its measured length."""
    if id3_version not in (3, 4):
        raise ValueError(f"ID3v2 version must be 3 or 4, not {id3_version}")
    try:
        audio = _MP3(path)
        if audio.tags is None:
            audio.add_tags()
        duration = float(audio.info.length)
        source = FieldSource(clip=clip, album=album, duration=duration)
        _write(audio.tags, source, id3_version, cover)
        audio.save(v2_version=id3_version, v1=_NO_ID3V1)
    except (MutagenError, OSError) as exc:
        raise TaggingError(f"{path.name}: cannot tag as MPEG audio: {exc}") from exc
    return duration


def _write(tags: Any, source: FieldSource, id3_version: int, cover: bytes | None) -> None:
    for field in FIELDS:
        _replace(tags, field, source)
    _replace_cover(tags, cover)
    if id3_version == 3:
        _to_v23(tags)


def _replace(tags: Any, field: Field, source: FieldSource) -> None:
    for key in field.id3 + field.id3_v23:
        tags.delall(key)
    value = field.value(source)
    if value:
        for key in field.id3:
            tags.add(_frame(key, field.id3_text(value)))


def _frame(key: str, text: str) -> Any:
    """The frame whose mutagen HashKey is `key`, holding `text`."""
    text = text.replace("\0", "")  # NUL separates values in ID3
    frame_id, _, qualifier = key.partition(":")
    frame_class = _FRAMES[frame_id]
    if frame_id == "TXXX":
        return frame_class(encoding=_UTF8, desc=qualifier, text=[text])
    if frame_id in ("COMM", "USLT"):
        desc, _, lang = qualifier.partition(":")
        return frame_class(encoding=_UTF8, lang=lang, desc=desc, text=text)
    if frame_id.startswith("W"):  # URL frames are Latin-1: a clip id from JSON may not be
        return frame_class(url=quote(text, safe=_URL_SAFE))
    return frame_class(encoding=_UTF8, text=[text])


def _replace_cover(tags: Any, cover: bytes | None) -> None:
    """Exactly one picture when there is a cover (players show the first APIC whatever its type);
    without one, only the archiver's own old picture goes."""
    if cover is None:
        tags.delall(f"{ID3_COVER}:{ID3_COVER_DESC}")
        return
    tags.delall(ID3_COVER)
    tags.add(
        _APIC(
            encoding=_LATIN1,
            mime="image/jpeg",
            type=_FRONT_COVER,
            desc=ID3_COVER_DESC,
            data=cover,
        )
    )


def _to_v23(tags: Any) -> None:
    """update_to_v23(), minus two kinds of damage it does to what was just written: it runs TCON
    through its genre parser (numbers become ID3v1 names, text is cut at a newline), and it drops
    TIME when the hour or the minute is 0 (it tests them for truth)."""
    genre = list(tags["TCON"].text) if "TCON" in tags else None  # the frame is edited in place
    recorded = tags.get("TDRC")
    tags.update_to_v23()
    if genre is not None:
        tags["TCON"].text = genre
    if recorded is None or not recorded.text or "TIME" in tags:
        return
    stamp = recorded.text[0]
    if stamp.hour is not None and stamp.minute is not None:
        tags.add(_TIME(encoding=recorded.encoding, text=[f"{stamp.hour:02d}{stamp.minute:02d}"]))
