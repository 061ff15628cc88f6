"""Tests for archiver.naming: one named test per rule, plus a property test over any title."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver.errors import UsageError
from archiver.models import Asset, AssetKind, AssetState, Clip, ClipStatus
from archiver.naming import (
    DEFAULT_TEMPLATE,
    MAX_COMPONENT_BYTES,
    check_template,
    render,
    safe_component,
    unique,
)

CLIP_ID = "1a2b3c4d-1111-2222-3333-444455556666"
NO_ASSET = Asset(AssetKind.AUDIO, "", AssetState.ABSENT)
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def make_clip(**changes: Any) -> Clip:
    fields: dict[str, Any] = {
        "clip_id": CLIP_ID,
        "task_id": "0f0e0d0c-aaaa-bbbb-cccc-000011112222",
        "index": 2,
        "status": ClipStatus.COMPLETE,
        "title": "Song Title",
        "creator": "someone",
        "style": "lo-fi, jazz",
        "lyrics": "",
        "description": "",
        "duration": 123.4,
        "created_at": "2024-05-06T07:08:09Z",
        "created": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "model": "chirp-v3-5",
        "error": "",
        "audio": NO_ASSET,
        "video": NO_ASSET,
        "image": NO_ASSET,
        "raw_json": "{}",
    }
    fields.update(changes)
    return Clip(**fields)


def name_for(title: str, template: str = DEFAULT_TEMPLATE, ext: str = "mp3") -> str:
    return str(render(template, make_clip(title=title), ext))


def size(text: str) -> int:
    return len(text.encode())


# -- fields ---------------------------------------------------------------------------------


def test_default_template() -> None:
    assert name_for("Song Title") == "Song Title [1a2b3c4d].mp3"


def test_empty_title_is_untitled() -> None:
    assert name_for("") == "Untitled [1a2b3c4d].mp3"
    assert name_for(" \x00 ") == "Untitled [1a2b3c4d].mp3"


def test_id8_drops_m_prefix() -> None:
    clip = make_clip(clip_id="m_" + CLIP_ID)
    assert str(render("{id8}.{ext}", clip, "mp3")) == "1a2b3c4d.mp3"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{clip_id}.{ext}", f"{CLIP_ID}.mp3"),
        ("{task_id}.{ext}", "0f0e0d0c-aaaa-bbbb-cccc-000011112222.mp3"),
        ("{model}.{ext}", "chirp-v3-5.mp3"),
        ("{tags}.{ext}", "lo-fi, jazz.mp3"),
        ("{n} {title}.{ext}", "2 Song Title.mp3"),
        ("{n:02d} {title}.{ext}", "02 Song Title.mp3"),
        ("{created}.{ext}", "2024-05-06.mp3"),
        ("{created:%Y-%m}.{ext}", "2024-05.mp3"),
        ("{created:%Y%m%d-%H%M%S}.{ext}", "20240506-070809.mp3"),
        ("{created:%H:%M}.{ext}", "07：08.mp3"),
        ("{title:.4}.{ext}", "Song.mp3"),
    ],
)
def test_every_field(template: str, expected: str) -> None:
    assert str(render(template, make_clip(), "mp3")) == expected


def test_created_none_is_unknown() -> None:
    clip = make_clip(created=None)
    assert str(render("{created:%Y}/{created}.{ext}", clip, "mp3")) == "unknown/unknown.mp3"


def test_empty_model_is_unknown() -> None:
    assert str(render("{model}.{ext}", make_clip(model=""), "mp3")) == "unknown.mp3"


def test_ext_with_a_dot() -> None:
    assert name_for("Song", ext="info.json") == "Song [1a2b3c4d].info.json"


def test_bad_ext_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        name_for("Song", ext="../mp3")


def test_folders_in_template() -> None:
    path = render("{created:%Y}/{model}/{n:02d} {title}.{ext}", make_clip(), "mp3")
    assert path == PurePosixPath("2024/chirp-v3-5/02 Song Title.mp3")
    assert path.parts == ("2024", "chirp-v3-5", "02 Song Title.mp3")


# -- component rules ------------------------------------------------------------------------


def test_nfc() -> None:
    decomposed = "Cafe\u0301"
    assert name_for(decomposed) == "Caf\u00e9 [1a2b3c4d].mp3"
    assert safe_component("Cafe\u0301") == "Café"


def test_control_characters_removed() -> None:
    assert name_for("A\x00B\x07C\x7fD\x9f") == "ABCD [1a2b3c4d].mp3"
    assert name_for("line one\nline two\ttab") == "line one line two tab [1a2b3c4d].mp3"


def test_bidi_overrides_removed() -> None:
    assert name_for("evil\u202egpj.exe") == "evilgpj.exe [1a2b3c4d].mp3"
    assert not set(safe_component(f"a{BIDI}b")) & set(BIDI)


def test_zero_width_joiner_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert safe_component(family) == family


def test_windows_unsafe_characters_replaced() -> None:
    assert safe_component('a<b>c:d"e|f?g*h') == "a＜b＞c：d＂e｜f？g＊h"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CON", "CON_"),
        ("con", "con_"),
        ("CON.mp3", "CON_.mp3"),
        ("nul.info.json", "nul_.info.json"),
        ("Aux", "Aux_"),
        ("PRN", "PRN_"),
        ("COM1", "COM1_"),
        ("lpt9.jpg", "lpt9_.jpg"),
        ("COM¹", "COM¹_"),
        ("CONSOLE", "CONSOLE"),
        ("COM0", "COM0"),
    ],
)
def test_reserved_names(text: str, expected: str) -> None:
    assert safe_component(text) == expected


def test_reserved_name_as_title() -> None:
    assert name_for("CON", "{title}.{ext}") == "CON_.mp3"
    assert name_for("con", DEFAULT_TEMPLATE) == "con [1a2b3c4d].mp3"


def test_trailing_dots_and_spaces_stripped() -> None:
    assert safe_component("name. . ..  ") == "name"
    assert str(render("{tags}/x.{ext}", make_clip(style="jazz..."), "mp3")) == "jazz/x.mp3"


def test_leading_dot_gets_prefix() -> None:
    assert safe_component(".hidden") == "_.hidden"
    assert name_for(".hidden") == "_.hidden [1a2b3c4d].mp3"


def test_empty_component_becomes_underscore() -> None:
    assert safe_component("") == "_"
    assert safe_component("..") == "_"
    assert str(render("{tags}/{title}.{ext}", make_clip(style=""), "mp3")) == "_/Song Title.mp3"


def test_traversal_in_title() -> None:
    path = render(DEFAULT_TEMPLATE, make_clip(title="../../etc/passwd"), "mp3")
    assert len(path.parts) == 1
    assert path.name == "_..／..／etc／passwd [1a2b3c4d].mp3"


def test_traversal_in_folder_field() -> None:
    path = render("{tags}/{title}.{ext}", make_clip(style=".."), "mp3")
    assert path.parts == ("_", "Song Title.mp3")


def test_slashes_in_title_never_make_folders() -> None:
    assert name_for("AC/DC") == "AC／DC [1a2b3c4d].mp3"
    assert name_for("back\\slash") == "back＼slash [1a2b3c4d].mp3"


# -- byte limit -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "a" * 500,
        "日本語の歌" * 100,  # 3 bytes a character
        "\U0001f3b5" * 200,  # 4 bytes a character
        "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466" * 40,  # ZWJ family
        "\U0001f1ef\U0001f1f5" * 100,  # flags: pairs of regional indicators
        "e\u0301" * 300,  # decomposed: NFC first, then cut
        "q\u0301" * 300,  # an accent with no precomposed form: never cut off its letter
        "\U0001f44d\U0001f3fd" * 100,  # emoji with a skin tone modifier
    ],
)
def test_byte_limit_keeps_id_and_ext(title: str) -> None:
    name = name_for(title)
    assert size(name) <= MAX_COMPONENT_BYTES
    assert name.endswith(" [1a2b3c4d].mp3")
    kept = name.removesuffix(" [1a2b3c4d].mp3")
    assert unicodedata.normalize("NFC", title).startswith(kept)  # whole graphemes only
    assert size(kept) > MAX_COMPONENT_BYTES - 20  # and no more cut than needed (± a grapheme)


def test_byte_limit_never_splits_a_zwj_sequence() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    kept = name_for(family * 40).removesuffix(" [1a2b3c4d].mp3")
    assert kept == family * (len(kept) // len(family))


def test_byte_limit_in_folder_component() -> None:
    path = render("{tags}/{title}.{ext}", make_clip(style="ジャズ" * 200), "mp3")
    assert 0 < size(path.parts[0]) <= MAX_COMPONENT_BYTES


def test_safe_component_max_bytes() -> None:
    assert safe_component("日本語", max_bytes=7) == "日本"
    assert safe_component("CONSOLE", max_bytes=3) == "CO"  # "CON" would become "CON_"
    with pytest.raises(ValueError):
        safe_component("x", max_bytes=0)


# -- template errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{foo} [{id8}].{ext}", "unknown field {foo}"),
        ("{title.upper}.{ext}", "unknown field"),
        ("{0}.{ext}", "unknown field"),
        ("{title} [{id8}]", "must end with .{ext}"),
        ("{title} [{id8}].mp3", "must end with .{ext}"),
        ("{title}{ext}", "must end with .{ext}"),
        (".{ext}", "needs a name"),
        ("{title", "bad format syntax"),
        ("{title}}.{ext}", "bad format syntax"),
        ("/{title}.{ext}", "absolute"),
        ("../{title}.{ext}", "'..'"),
        ("a/../{title}.{ext}", "'..'"),
        ("./{title}.{ext}", "'.'"),
        ("a//{title}.{ext}", "empty folder name"),
        ("{model}\\{title}.{ext}", "use /"),
        ("{created:%Y/%m} {title}.{ext}", "cannot make folders"),
        ("{title!r}.{ext}", "conversions"),
        ("{title:{n}}.{ext}", "nested"),
        ("{n:q}.{ext}", "bad format for {n}"),
        ("", "empty"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        check_template(template)
    with pytest.raises(UsageError):
        render(template, make_clip(), "mp3")


@pytest.mark.parametrize(
    "template",
    [DEFAULT_TEMPLATE, "{created:%Y}/{created:%m}/{title}.{ext}", "..{title}.{ext}", "{n}.{ext}"],
)
def test_good_templates(template: str) -> None:
    check_template(template)


# -- unique ---------------------------------------------------------------------------------


def test_unique_free_name_unchanged() -> None:
    path = PurePosixPath("Song.mp3")
    assert unique(path, lambda name: False, make_clip()) == path


def test_unique_two_clips_with_equal_titles() -> None:
    first = make_clip(title="Same")
    second = make_clip(title="Same", clip_id="99999999-0000-0000-0000-000000000000")
    owned: set[str] = set()
    for clip in (first, second):
        path = unique(render("{title}.{ext}", clip, "mp3"), owned.__contains__, clip)
        owned.add(str(path))
    assert owned == {"Same.mp3", "Same [99999999-0000-0000-0000-000000000000].mp3"}


def test_unique_counts_when_the_id_name_is_taken_too() -> None:
    taken = {"d/Same.mp3", f"d/Same [{CLIP_ID}].mp3", f"d/Same [{CLIP_ID}] (2).mp3"}
    path = unique(PurePosixPath("d/Same.mp3"), taken.__contains__, make_clip())
    assert path == PurePosixPath(f"d/Same [{CLIP_ID}] (3).mp3")


def test_unique_keeps_a_dotted_extension() -> None:
    path = unique(
        PurePosixPath("Same.info.json"), lambda n: "[" not in n, make_clip(), ext="info.json"
    )
    assert path.name == f"Same [{CLIP_ID}].info.json"


def test_unique_respects_byte_limit() -> None:
    long_name = render(DEFAULT_TEMPLATE, make_clip(title="歌" * 200), "mp3")
    path = unique(long_name, lambda name: name == str(long_name), make_clip())
    assert size(path.name) <= MAX_COMPONENT_BYTES
    assert path.name.endswith(f" [{CLIP_ID}].mp3")


# -- property -------------------------------------------------------------------------------

_FORBIDDEN = set('<>:"\\|?*/') | set(BIDI)
_TRICKY = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "\\",
        "CON",
        "nul.",
        " ",
        "\x00",
        "\u202e",
        "e\u0301",
        "\u200d",
        "🇯🇵",
        "👨‍👩‍👧",
        "日本",
        ":",
        "\ud800",
    ]
)
_TITLES = st.lists(st.one_of(st.text(), _TRICKY), max_size=40).map("".join)


def _assert_safe(path: PurePosixPath, ext: str) -> None:
    assert not path.is_absolute()
    assert str(path).endswith(f".{ext}" if ext else "")
    for part in path.parts:
        assert part not in ("", ".", "..")
        assert not part.startswith(".")
        assert part == part.rstrip(". ")
        assert size(part) <= MAX_COMPONENT_BYTES
        assert unicodedata.is_normalized("NFC", part)
        assert not _FORBIDDEN & set(part)
        assert all(unicodedata.category(char) not in ("Cc", "Cs") for char in part)


@given(title=_TITLES | st.text(min_size=200, max_size=400))
def test_property_any_title_gives_a_safe_name(title: str) -> None:
    _assert_safe(render(DEFAULT_TEMPLATE, make_clip(title=title), "mp3"), "mp3")


@given(title=_TITLES, tags=_TITLES, model=_TITLES)
def test_property_any_values_in_folders_give_a_safe_path(title: str, tags: str, model: str) -> None:
    clip = make_clip(title=title, style=tags, model=model)
    path = render("{model}/{tags}/{title} [{id8}].{ext}", clip, "info.json")
    assert len(path.parts) == 3
    _assert_safe(path, "info.json")


_ANY_CHAR = st.characters(exclude_categories=())  # surrogates too


@given(text=st.text(alphabet=_ANY_CHAR) | _TITLES, limit=st.integers(1, MAX_COMPONENT_BYTES))
def test_property_safe_component(text: str, limit: int) -> None:
    part = safe_component(text, max_bytes=limit)
    assert 0 < size(part) <= limit
    _assert_safe(PurePosixPath(part), "")
