"""The cover thumbnail embedded in the tags: a small baseline RGB JPEG that every player reads.

Baseline, not progressive (Rockbox and other small decoders cannot read progressive JPEG), RGB,
longest side at most `MAX_SIDE`, no EXIF, ICC profile or comment, EXIF orientation applied, alpha
flattened onto white. The downloaded original is untrusted: its size is checked before a single
pixel is decoded, and Pillow's global settings (`MAX_IMAGE_PIXELS`, `LOAD_TRUNCATED_IMAGES`) are
left alone. Every way it can fail becomes a `CoverError`, which never fails the audio.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

from PIL import Image, ImageOps, UnidentifiedImageError

from archiver.errors import CoverError

__all__ = ["MAX_PIXELS", "MAX_SIDE", "make_cover", "make_covers", "picture_problem"]

MAX_SIDE = 1000
MIN_DRAFT_SIDE = 600  # a cover decoded at a fraction of its size is never made smaller
MAX_PIXELS = 50_000_000  # ~7000 x 7000; Suno's covers are about 1 megapixel
JPEG_QUALITY = 90
BACKGROUND = (255, 255, 255)
# Formats a cover is served in; not EPS (Pillow runs Ghostscript on it) nor anything exotic.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_SIXTEEN_BIT_GREY = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# What Pillow's decoders raise on damaged data, besides OSError ("image file is truncated").
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


def make_cover(data: bytes, max_side: int = MAX_SIDE) -> bytes:
    """The thumbnail of the picture in `data`, as JPEG bytes; `CoverError` says why not.

    `max_side` bounds the longest side: MAX_SIDE for the embedded cover, smaller for the
    gallery's thumbnails (a big JPEG is then decoded at a fraction of its size).
    """
    return make_covers(data, (max_side,))[0]


def make_covers(data: bytes, sides: Sequence[int]) -> list[bytes]:
    """`make_cover` for each of `sides` (largest first), from one decode of `data`."""
    if not sides or list(sides) != sorted(sides, reverse=True):
        raise ValueError(f"sides must be given largest first: {sides}")
    try:
        return _thumbnails(data, sides)
    except Image.DecompressionBombError as exc:
        raise CoverError(f"cover refused, too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        names = ", ".join(ACCEPTED_FORMATS)
        raise CoverError(f"cover is not a picture Pillow can read as {names}") from exc
    except _DECODE_ERRORS as exc:
        raise CoverError(f"cover is truncated or corrupt: {exc}") from exc


def picture_problem(data: bytes) -> str | None:
    """Why `data` is not a whole JPEG, PNG or WebP file, or None (other formats: None).

    Judged by structure, without decoding: a body cut short lacks the end a whole file has
    (JPEG: an EOI marker after the last scan; PNG: IEND after the last IDAT; WebP: the bytes
    its RIFF header counts). Pillow would decode most of them anyway, as far as they go.
    """
    if data.startswith(b"\xff\xd8\xff"):
        scan = data.rfind(b"\xff\xda")
        if scan < 0 or data.rfind(b"\xff\xd9") < scan:
            return "the JPEG ends before its end marker (cut short)"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        end = data.rfind(b"IEND\xaeB`\x82")  # the IEND chunk's type and (fixed) CRC
        if end < 0 or end < data.rfind(b"IDAT"):
            return "the PNG ends before its IEND chunk (cut short)"
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8
        if len(data) < declared:
            return f"the WebP file has {len(data)} of its {declared} bytes (cut short)"
    return None


def _thumbnails(data: bytes, sides: Sequence[int]) -> list[bytes]:
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
        _refuse_bomb(image)
        side = _decoded_side(image, sides[0])
        image.draft("RGB", (side, side))  # a big JPEG decodes at 1/2, 1/4 or 1/8 scale
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        picture = _to_rgb(image)
    pictures = []
    for wanted in sides:  # each made from the one before: smaller, then smaller still
        wanted = min(wanted, side)
        picture.thumbnail((wanted, wanted), Image.Resampling.LANCZOS)
        pictures.append(_encode(picture))
    return pictures


def _decoded_side(image: Image.Image, max_side: int) -> int:
    """The longest side to make. A JPEG shrinks by 2, 4 or 8 almost for free while it is
    decoded; when one of those sizes lands between MIN_DRAFT_SIDE and `max_side`, it is used
    as it is, instead of a full decode and a resize (a 1500 px cover: 5x less CPU)."""
    longest = max(image.size)
    if image.format != "JPEG" or longest <= max_side:
        return max_side
    for scale in (2, 4, 8):
        side = -(-longest // scale)
        if side <= max_side:
            return side if side >= min(MIN_DRAFT_SIDE, max_side) else max_side
    return max_side


def _refuse_bomb(image: Image.Image) -> None:
    """Check the size the header claims, before `load()` allocates anything for it."""
    width, height = image.size
    if width < 1 or height < 1:
        raise CoverError(f"cover has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise CoverError(
            f"cover refused: {width}x{height} is more than {MAX_PIXELS} pixels "
            "(a decompression bomb, or far bigger than any cover)"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency (alpha, or a palette/`tRNS` colour) laid onto `BACKGROUND`."""
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in _SIXTEEN_BIT_GREY:
        # convert() would clip 16-bit values to white; scale them to 8 bits first
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image if image.mode == "RGB" else image.convert("RGB")  # (convert() copies)


def _encode(picture: Image.Image) -> bytes:
    picture.info.clear()  # Pillow copies a JPEG comment from `info` into the output
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False)
    return out.getvalue()
