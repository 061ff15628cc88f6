"""The tag mapping of TAGGING.md, as one table: a row per logical field, a key per format.

Adding a field is one line in `FIELDS`. The ID3 keys are mutagen `HashKey`s (`TIT2`,
`TXXX:SUNO_CLIP_ID`, `USLT::eng` = desc "" in English), so the same string both names the frame
to build and the frame the archiver owns: a re-tag deletes exactly those keys and nothing else.
The MP4 keys are mutagen `MP4Tags` keys; `----:mean:name` ones are freeform atoms.

A field whose value is "" is not written, and any old value of it is removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from archiver.models import Clip

__all__ = [
    "FIELDS",
    "FREEFORM_MEAN",
    "GENRE_GUARD",
    "ID3_COVER",
    "ID3_COVER_DESC",
    "MP4_COVER",
    "Field",
    "FieldSource",
    "literal_genre",
]

FREEFORM_MEAN = "com.apple.iTunes"
ID3_COVER = "APIC"
ID3_COVER_DESC = "Cover"
MP4_COVER = "covr"

# A WORD JOINER (invisible, not whitespace anywhere) in front of a genre that readers would
# otherwise take for an ID3v1 genre number: ffprobe maps any text that *starts* with a number up
# to 191 ("80s synthwave" shows as "Folk"), tinytag and mutagen map "13" and "(13)", eyeD3 raises
# on "1980", mutagen also maps "CR"/"(RX)" and unescapes "((". Checked with ffprobe 5.1, eyeD3
# 0.9.9, tinytag 2.3, mutagen 1.48. A style that already starts with the guard gets one more, so
# removing one leading guard always gives the style back.
GENRE_GUARD = "\u2060"
_GENRE_NUMBER = re.compile(
    r"\s*(?:\(\s*)?[+-]?\d|\s*\(\(|\s*\((?:RX|CR)\)|(?:RX|CR)$|" + GENRE_GUARD
)


@dataclass(frozen=True, slots=True)
class FieldSource:
    """Everything a field value is made from."""

    clip: Clip
    album: str
    duration: float | None  # seconds, measured from the file being tagged


@dataclass(frozen=True, slots=True)
class Field:
    """One logical field: where its value comes from and where each format stores it."""

    name: str
    value: Callable[[FieldSource], str]
    id3: tuple[str, ...]  # mutagen HashKeys, each written with the same value
    mp4: tuple[str, ...]  # MP4Tags keys
    id3_text: Callable[[str], str] = str  # ID3-only spelling of the value
    id3_v23: tuple[str, ...] = ()  # frames update_to_v23() derives from this one: owned too


def literal_genre(style: str) -> str:
    """The TCON text that every reader shows as `style` rather than an ID3v1 genre name."""
    return GENRE_GUARD + style if _GENRE_NUMBER.match(style) else style


def _provenance(name: str, tag: str, value: Callable[[FieldSource], str]) -> Field:
    """A Suno-specific field: `TXXX:TAG` in ID3, a `----` freeform atom in MP4."""
    return Field(name, value, id3=(f"TXXX:{tag}",), mp4=(f"----:{FREEFORM_MEAN}:{tag}",))


def _title(source: FieldSource) -> str:
    return source.clip.title.strip() or "Untitled"


def _date(source: FieldSource) -> str:
    """ISO 8601 in UTC without a zone: what ID3's TDRC allows; the original is SUNO_CREATED_AT."""
    created = source.clip.created
    if created is None:
        return ""
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    return created.strftime("%Y-%m-%dT%H:%M:%S")


def _length_ms(source: FieldSource) -> str:
    measured = source.duration
    return str(round(measured * 1000)) if measured is not None and measured > 0 else ""


FIELDS: tuple[Field, ...] = (
    Field("title", _title, id3=("TIT2",), mp4=("©nam",)),
    Field("artist", lambda s: s.clip.creator.strip(), ("TPE1", "TPE2"), ("©ART", "aART")),
    Field("album", lambda s: s.album.strip(), id3=("TALB",), mp4=("©alb",)),
    Field("genre", lambda s: s.clip.style.strip(), ("TCON",), ("©gen",), id3_text=literal_genre),
    Field("lyrics", lambda s: s.clip.lyrics.strip(), id3=("USLT::eng",), mp4=("©lyr",)),
    Field("comment", lambda s: s.clip.description.strip(), ("COMM::eng",), ("©cmt",)),
    Field("date", _date, ("TDRC",), ("©day",), id3_v23=("TYER", "TDAT", "TIME")),
    Field("length", _length_ms, id3=("TLEN",), mp4=()),
    _provenance("clip_id", "SUNO_CLIP_ID", lambda s: s.clip.clip_id),
    _provenance("task_id", "SUNO_TASK_ID", lambda s: s.clip.task_id),
    _provenance("model", "SUNO_MODEL", lambda s: s.clip.model.strip()),
    _provenance("created_at", "SUNO_CREATED_AT", lambda s: s.clip.created_at),
    Field("song_url", lambda s: s.clip.song_url, ("WOAS",), (f"----:{FREEFORM_MEAN}:SUNO_URL",)),
)
