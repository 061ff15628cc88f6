"""Tiny real media, built without an encoder, for the demo server and the tests.

- `silent_mp3`: MPEG-1 Layer III frames (32 kbit/s, 48 kHz, mono) whose side info and main
  data are all zero, which every decoder plays as 1152 samples of silence.
- `silent_m4a`: an audio-only MP4 put together box by box: one AAC-LC track whose every sample
  is the 4-byte raw frame `01 18 20 07` (digital silence), `moov` before `mdat` like a
  `-movflags +faststart` file, so a tagger that grows `moov` must fix the chunk offsets.
- `cover_image`: a deterministic picture (gradient and shapes coloured from a hash of a seed).
"""

from __future__ import annotations

import hashlib
import io
import struct

from PIL import Image, ImageDraw

__all__ = ["cover_image", "silent_m4a", "silent_mp3"]

MP3_FRAME = b"\xff\xfb\x14\xc4" + bytes(92)
MP3_SAMPLES_PER_FRAME = 1152
SAMPLE_RATE = 48_000
AAC_SILENT_FRAME = b"\x01\x18\x20\x07"
AAC_SAMPLES_PER_FRAME = 1024
AUDIO_SPECIFIC_CONFIG = b"\x11\x88"  # AAC-LC, 48 kHz, mono
MOVIE_TIMESCALE = 1000
_UNITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def silent_mp3(seconds: float) -> bytes:
    """`seconds` of silence as bare MP3 frames (no ID3 tag, no Xing header)."""
    frames = round(seconds * SAMPLE_RATE / MP3_SAMPLES_PER_FRAME)
    return MP3_FRAME * max(frames, 1)


def silent_m4a(seconds: float, *, udta: bool = False) -> bytes:
    """`seconds` of AAC silence in an M4A; `udta=True` adds `moov.udta` after the track."""
    samples = max(round(seconds * SAMPLE_RATE / AAC_SAMPLES_PER_FRAME), 1)
    ftyp = _box(b"ftyp", b"M4A " + struct.pack(">I", 0x200) + b"M4A isomiso2mp41")
    moov_without_offset = _moov(samples, chunk_offset=0, udta=udta)
    chunk_offset = len(ftyp) + len(moov_without_offset) + 8  # past mdat's header
    moov = _moov(samples, chunk_offset=chunk_offset, udta=udta)
    return ftyp + moov + _box(b"mdat", AAC_SILENT_FRAME * samples)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _moov(samples: int, *, chunk_offset: int, udta: bool) -> bytes:
    ticks = samples * AAC_SAMPLES_PER_FRAME
    movie_duration = ticks * MOVIE_TIMESCALE // SAMPLE_RATE
    mvhd = _full_box(
        b"mvhd",
        struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, movie_duration)
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + _UNITY_MATRIX
        + bytes(24)
        + struct.pack(">I", 2),
    )
    tkhd = _full_box(
        b"tkhd",
        struct.pack(">IIII", 0, 0, 1, 0)
        + struct.pack(">I", movie_duration)
        + bytes(8)
        + struct.pack(">hhhH", 0, 0, 0x100, 0)
        + _UNITY_MATRIX
        + struct.pack(">II", 0, 0),
        flags=3,
    )
    trak = _box(b"trak", tkhd + _mdia(samples, ticks, chunk_offset))
    return _box(b"moov", mvhd + trak + (_ffmpeg_like_udta() if udta else b""))


def _mdia(samples: int, ticks: int, chunk_offset: int) -> bytes:
    language_und = 0x55C4
    mdhd = _full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, SAMPLE_RATE, ticks, language_und, 0))
    hdlr = _full_box(b"hdlr", struct.pack(">I", 0) + b"soun" + bytes(12) + b"SoundHandler\x00")
    smhd = _full_box(b"smhd", struct.pack(">hH", 0, 0))
    dref = _full_box(b"dref", struct.pack(">I", 1) + _full_box(b"url ", b"", flags=1))
    minf = _box(b"minf", smhd + _box(b"dinf", dref) + _stbl(samples, chunk_offset))
    return _box(b"mdia", mdhd + hdlr + minf)


def _stbl(samples: int, chunk_offset: int) -> bytes:
    stsd = _full_box(b"stsd", struct.pack(">I", 1) + _mp4a())
    stts = _full_box(b"stts", struct.pack(">III", 1, samples, AAC_SAMPLES_PER_FRAME))
    stsc = _full_box(b"stsc", struct.pack(">IIII", 1, 1, samples, 1))
    stsz = _full_box(b"stsz", struct.pack(">II", len(AAC_SILENT_FRAME), samples))
    stco = _full_box(b"stco", struct.pack(">II", 1, chunk_offset))
    return _box(b"stbl", stsd + stts + stsc + stsz + stco)


def _mp4a() -> bytes:
    entry = bytes(6) + struct.pack(">H", 1) + bytes(8)
    entry += struct.pack(">HHHHI", 1, 16, 0, 0, SAMPLE_RATE << 16)
    return _box(b"mp4a", entry + _esds())


def _descriptor(tag: int, payload: bytes) -> bytes:
    return bytes([tag, len(payload)]) + payload


def _esds() -> bytes:
    decoder_specific = _descriptor(0x05, AUDIO_SPECIFIC_CONFIG)
    # objectTypeIndication 0x40 = MPEG-4 audio; streamType 5 (audio) << 2 | 1 (reserved bit)
    decoder_config = _descriptor(
        0x04, bytes([0x40, 0x15]) + bytes(3) + struct.pack(">II", 0, 0) + decoder_specific
    )
    sl_config = _descriptor(0x06, b"\x02")
    es = _descriptor(0x03, struct.pack(">HB", 1, 0) + decoder_config + sl_config)
    return _full_box(b"esds", es)


def _ffmpeg_like_udta() -> bytes:
    """`udta/meta/ilst` holding only an encoder name, as ffmpeg writes it after the tracks."""
    hdlr = _full_box(b"hdlr", struct.pack(">I", 0) + b"mdirappl" + bytes(9))
    encoder = _box(b"\xa9too", _box(b"data", struct.pack(">II", 1, 0) + b"samplemedia"))
    meta = _full_box(b"meta", hdlr + _box(b"ilst", encoder))
    return _box(b"udta", meta)


def cover_image(
    seed: str,
    size: tuple[int, int] = (640, 640),
    fmt: str = "JPEG",
    *,
    mode: str = "RGB",
    progressive: bool = False,
    exif_orientation: int | None = None,
) -> bytes:
    """A deterministic picture for `seed`, encoded as `fmt` in `mode`.

    A white square marks the stored top-left corner, so a test can see a rotation. The mode must
    be one the format can store (Pillow raises `OSError` otherwise, e.g. RGBA as JPEG).
    """
    picture = _convert(_draw(seed, size), mode)
    options: dict[str, object] = {}
    if fmt.upper() == "JPEG":
        options.update(quality=90, progressive=progressive)
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    picture.save(out, format=fmt, **options)
    return out.getvalue()


def _convert(picture: Image.Image, mode: str) -> Image.Image:
    if mode.startswith("I;16"):  # 16-bit grey: use the whole range, as a real one would
        return picture.convert("L").convert("I").point(lambda value: value * 257).convert(mode)
    return picture.convert(mode)


def _draw(seed: str, size: tuple[int, int]) -> Image.Image:
    digest = hashlib.sha256(seed.encode()).digest()
    start, end, shape = digest[0:3], digest[3:6], digest[6:9]
    width, height = size
    gradient = Image.linear_gradient("L").resize(size)
    picture = Image.composite(
        Image.new("RGBA", size, (*end, 255)), Image.new("RGBA", size, (*start, 255)), gradient
    )
    draw = ImageDraw.Draw(picture)
    box = (width // 4, height // 4, width * 3 // 4, height * 3 // 4)
    draw.ellipse(box, fill=(*shape, 255))
    marker = max(min(width, height) // 8, 1)
    draw.rectangle((0, 0, marker - 1, marker - 1), fill=(255, 255, 255, 255))
    # a half-transparent band, so RGBA/LA output carries a real alpha channel
    draw.rectangle((0, height - marker, width - 1, height - 1), fill=(*shape, 96))
    return picture
