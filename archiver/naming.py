"""Output templates and safe names: a template and a clip become a relative path inside DEST.

The template is trusted to make folders (a ``/`` in its literal text), field values never are:
a ``/`` or ``\\`` in a title becomes the full-width ``／`` / ``＼``, which reads the same
("AC／DC") and is legal everywhere. The other characters Windows refuses (``<>:"|?*``) get
full-width twins too, as yt-dlp does, rather than vanishing or turning into ``_``.

Every component is NFC, free of control and bidi-override characters, without leading dot or
trailing dots/spaces, never a Windows device name, and at most 240 UTF-8 bytes so that
``NAME.part`` fits in 255. Long names lose the end of their free-text fields (title, tags,
model), never the ``[id8]`` or the extension. Only the first ``_FIELD_CHARS`` characters a
value keeps are ever looked at, so a 10 MB title costs no more than a long one.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import PurePosixPath

from archiver.errors import UsageError
from archiver.models import Clip

__all__ = [
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "MAX_COMPONENT_BYTES",
    "check_template",
    "render",
    "safe_component",
    "unique",
]

DEFAULT_TEMPLATE = "{title} [{id8}].{ext}"
FIELDS = ("title", "id8", "clip_id", "task_id", "created", "model", "tags", "n", "ext")
MAX_COMPONENT_BYTES = 240  # 255 minus room for ".part"
_SHRINKABLE = frozenset({"title", "tags", "model"})  # free text: cut these, keep ids and ext
_DEFAULT_DATE = "%Y-%m-%d"
_EXT = re.compile(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*")
_MAX_ATTEMPTS = 10_000  # a `taken` that never says "free" is a caller bug, not a loop forever
# Kept characters are 1 to 4 bytes and NFC at most thirds them (Hangul jamo): past this many,
# a value is cut to MAX_COMPONENT_BYTES whatever follows, so the rest is never read.
_FIELD_CHARS = 4 * MAX_COMPONENT_BYTES

_UNSAFE = str.maketrans('<>:"/\\|?*', "＜＞：＂／＼｜？＊")
_SPACES = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")
# Bidi embeddings, overrides, isolates and marks: they can make "evil.exe.mp3" display reversed.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789¹²³"]
)
_ZWJ = "\u200d"
# What continues the grapheme before it, besides combining marks: ZWJ, Hangul medial/final
# jamo, variation selectors, skin tones, emoji tags (and supplementary variation selectors).
_EXTENDER = re.compile(
    "[\u200d\u1160-\u11ff\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e01ef]"
)
_FLAGS = (0x1F1E6, 0x1F1FF)  # regional indicators: a pair is one flag
_FORMATTER = string.Formatter()

_Segment = tuple[str, bool]  # (text, may be shortened)
_Piece = tuple[str, str | None, str]  # (literal text, field name or None, format spec)


def check_template(template: str) -> None:
    """Raise UsageError naming what is wrong with an output template; return if it is usable."""
    _parse(template)


def render(template: str, clip: Clip, ext: str) -> PurePosixPath:
    """The relative path, inside DEST, of `clip`'s file with extension `ext` (e.g. "info.json")."""
    if not _EXT.fullmatch(ext):
        raise ValueError(f"not a file extension: {ext!r}")
    values = _values(clip, ext)
    return PurePosixPath(*(_fit(_segments(part, values)) for part in _parse(template)))


def unique(
    path: PurePosixPath, taken: Callable[[str], bool], clip: Clip, *, ext: str | None = None
) -> PurePosixPath:
    """`path`, or if `taken(name)` says another clip owns it, a name derived from the clip id.

    Tries "NAME [clip_id].EXT", then "NAME [clip_id] (2).EXT", (3)...: stable across runs,
    since it depends on the clip, not on which clip came first. `taken` must answer False for
    a name this very clip already owns. Pass `ext` when it has a dot in it ("info.json").
    """
    if not taken(str(path)):
        return path
    dotted = f".{ext}" if ext else ""
    suffix = dotted if dotted and path.name.endswith(dotted) else path.suffix
    stem = path.name[: len(path.name) - len(suffix)]
    clip_id = _clean(clip.clip_id, _FIELD_CHARS)
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        marker = f" [{clip_id}]" if attempt == 1 else f" [{clip_id}] ({attempt})"
        candidate = path.with_name(_fit([(stem, True), (marker, False), (suffix, False)]))
        if not taken(str(candidate)):
            return candidate
    raise RuntimeError(f"no free name for {path} after {_MAX_ATTEMPTS} attempts")


def safe_component(text: str, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """`text` as one safe path component (file or folder name) of at most `max_bytes` bytes."""
    if max_bytes < 1:
        raise ValueError("max_bytes must be at least 1")
    cleaned = _clean(text, max(_FIELD_CHARS, 4 * max_bytes))
    budget = max_bytes
    while True:  # _finish may add a "_"; then cut one byte more
        name = _finish(_truncate(cleaned, budget))
        if _size(name) <= max_bytes:
            return name
        budget -= 1


# -- templates ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _parse(template: str) -> tuple[tuple[_Piece, ...], ...]:
    """The template split into path components, each a tuple of pieces; checked."""
    if not template:
        raise UsageError("output template is empty")
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise UsageError(f"output template {template!r}: bad format syntax: {exc}") from None
    components: list[list[_Piece]] = [[]]
    for literal, name, spec, conversion in parsed:
        if "\\" in literal:
            raise UsageError(f"output template {template!r}: use / (not \\) to make folders")
        for index, chunk in enumerate(literal.split("/")):
            if index:
                components.append([])
            if chunk:
                components[-1].append((chunk, None, ""))
        if name is not None:
            _check_field(template, name, spec or "", conversion)
            components[-1].append(("", name, spec or ""))
    _check_components(template, components)
    return tuple(tuple(component) for component in components)


def _check_field(template: str, name: str, spec: str, conversion: str | None) -> None:
    where = f"output template {template!r}"
    if name not in FIELDS:
        known = " ".join(f"{{{field}}}" for field in FIELDS)
        raise UsageError(f"{where}: unknown field {{{name}}}; known fields: {known}")
    if conversion:
        raise UsageError(f"{where}: conversions like !{conversion} are not supported")
    if "{" in spec:
        raise UsageError(f"{where}: nested fields in {{{name}:{spec}}} are not supported")
    if "/" in spec or "\\" in spec:
        raise UsageError(
            f"{where}: a field's format cannot make folders; write e.g. "
            "{created:%Y}/{created:%m} instead of {created:%Y/%m}"
        )
    sample: object = {"created": datetime(2024, 1, 2), "n": 1}.get(name, "x")
    try:
        _format(name, spec, sample)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{where}: bad format for {{{name}}}: {exc}") from None


def _check_components(template: str, components: list[list[_Piece]]) -> None:
    where = f"output template {template!r}"
    if template.startswith("/"):
        raise UsageError(f"{where}: must be relative to the archive folder, not absolute")
    for component in components:
        literal = "".join(text for text, name, _ in component if name is None)
        only_literal = all(name is None for _, name, _ in component)
        if not component:
            raise UsageError(f"{where}: has an empty folder name (// or a trailing /)")
        if only_literal and literal.strip() in (".", ".."):
            raise UsageError(f"{where}: '.' and '..' are not allowed as folder names")
    *head, (last_text, last_name, last_spec) = components[-1]
    ends_with_ext = last_name == "ext" and not last_spec
    if not ends_with_ext or not head or not head[-1][0].endswith("."):
        raise UsageError(f"{where}: must end with .{{ext}} (e.g. {DEFAULT_TEMPLATE})")
    if len(head) == 1 and head[0][0] == ".":
        raise UsageError(f"{where}: needs a name before .{{ext}}")


def _values(clip: Clip, ext: str) -> dict[str, object]:
    return {
        "title": clip.title if _clean(clip.title, _FIELD_CHARS).strip(" .") else "Untitled",
        "id8": clip.id8,
        "clip_id": clip.clip_id,
        "task_id": clip.task_id,
        "created": clip.created,
        "model": clip.model or "unknown",
        "tags": clip.style,
        "n": clip.index,
        "ext": ext,
    }


def _segments(component: tuple[_Piece, ...], values: dict[str, object]) -> list[_Segment]:
    return [
        (text, False) if name is None else (_format(name, spec, values[name]), name in _SHRINKABLE)
        for text, name, spec in component
    ]


def _format(name: str, spec: str, value: object) -> str:
    if name == "created":
        if not isinstance(value, datetime):
            return "unknown"
        return value.strftime(spec or _DEFAULT_DATE)
    return format(value, spec)


# -- components -----------------------------------------------------------------------------


def _fit(segments: list[_Segment], max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """Join segments into one safe component, shortening the longest shrinkable one first."""
    texts = [_clean(text, _FIELD_CHARS) for text, _ in segments]
    while True:
        name = _finish(_clean("".join(texts)))
        excess = _size(name) - max_bytes
        if excess <= 0:
            return name
        candidates = [i for i, (_, shrinkable) in enumerate(segments) if shrinkable and texts[i]]
        if not candidates:  # the fixed parts alone are too long: plain truncation
            return safe_component(name, max_bytes)
        longest = max(candidates, key=lambda i: _size(texts[i]))
        texts[longest] = _truncate(texts[longest], _size(texts[longest]) - excess).rstrip()


def _clean(text: str, limit: int | None = None) -> str:
    """Controls out, whitespace controls to spaces, unsafe characters to full-width, NFC; with
    `limit`, only the first `limit` characters that are kept, from at most 64 times as many."""
    kept: list[str] = []
    for char in text if limit is None else text[: limit * 64]:
        if char in _SPACES:
            kept.append(" ")
        elif char not in _BIDI and unicodedata.category(char) not in ("Cc", "Cs"):
            kept.append(char)
        else:
            continue
        if limit is not None and len(kept) >= limit:
            break
    return unicodedata.normalize("NFC", "".join(kept).translate(_UNSAFE))


def _finish(text: str) -> str:
    """The rules that depend on the whole component: ends, emptiness, device names."""
    text = text.lstrip(" ").rstrip(". ")
    if not text:
        return "_"
    if text.startswith("."):
        text = "_" + text
    head, dot, rest = text.partition(".")
    if head.rstrip(" ").upper() in _DEVICES:
        text = f"{head}_{dot}{rest}"
    return text


def _truncate(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` within `max_bytes` that ends on a grapheme boundary."""
    kept: list[str] = []
    used = 0
    for cluster in _graphemes(text):
        used += _size(cluster)
        if used > max_bytes:
            break
        kept.append(cluster)
    if kept or not text:
        return "".join(kept)
    # A single cluster bigger than the budget (a letter with hundreds of marks): cut inside it.
    return text.encode()[: max(max_bytes, 0)].decode(errors="ignore")


def _graphemes(text: str) -> Iterator[str]:
    """Approximate extended grapheme clusters, enough not to split accents, emoji or flags."""
    cluster = ""
    for char in text:
        if cluster and (_extends(char) or cluster[-1] == _ZWJ or _pairs_flag(cluster, char)):
            cluster += char
            continue
        if cluster:
            yield cluster
        cluster = char
    if cluster:
        yield cluster


def _extends(char: str) -> bool:
    if unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    return _EXTENDER.match(char) is not None


def _pairs_flag(cluster: str, char: str) -> bool:
    low, high = _FLAGS
    return len(cluster) == 1 and low <= ord(cluster) <= high and low <= ord(char) <= high


def _size(text: str) -> int:
    return len(text.encode())
