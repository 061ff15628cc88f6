"""The bad-input corpus: broken, absurd and hostile input gets a clear error or a safe result,
never a traceback. Through `parse_task`, `read_inputs`, `naming.render`, the tagger, and the
whole program (`main`, mostly with `--from-json FILE`, so that no server is needed).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.id3 import ID3

from archiver.cli import main
from archiver.demo import DemoServer, Reply
from archiver.errors import BadResponse, TaskError
from archiver.inputs import read_inputs
from archiver.manifest import STATE_DIR
from archiver.models import AssetKind, AssetState, Clip
from archiver.naming import DEFAULT_TEMPLATE, MAX_COMPONENT_BYTES, render
from archiver.parse import parse_task
from archiver.samplemedia import cover_image, silent_mp3
from archiver.tagging import TagOptions, tag_file

TASK_ID = "5d0c2f0e-7a41-4a8e-9d57-0b8c5e6f1a23"
CLIP_ID = "0f6e1c2a-5b7d-4e3f-9a8b-1c2d3e4f5a6b"
KEY = "sk-bad-input-0123456789"
MISSING = object()
SONG = silent_mp3(2.0)
VIDEO = (Path(__file__).parents[1] / "sample_tasks" / "media" / "demo.mp4").read_bytes()
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                   *(f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789¹²³")}
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clip_json(**overrides: Any) -> dict[str, Any]:
    """A complete Suno clip with no URLs (so nothing is fetched); `metadata.x=` sets a key of
    the metadata, and MISSING removes a key."""
    clip: dict[str, Any] = {
        "id": CLIP_ID, "title": "Neon Harbor", "status": "complete", "is_video_pending": False,
        "audio_url": "", "video_url": "", "image_url": "", "image_large_url": "",
        "model_name": "chirp-v3-5", "major_model_version": "v3.5",
        "created_at": "2024-09-21T09:43:21.637Z", "display_name": "LunarTide",
        "handle": "lunartide",
        "metadata": {"tags": "synthpop", "prompt": "[Verse]\nla", "duration": 2.0,
                     "gpt_description_prompt": "a song", "type": "gen", "error_type": "",
                     "error_message": ""},
    }
    for key, value in overrides.items():
        where, name = (clip["metadata"], key[9:]) if key.startswith("metadata.") else (clip, key)
        if value is MISSING:
            where.pop(name, None)
        else:
            where[name] = value
    return clip


def task_json(clips: Any, **data: Any) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": {
        "task_id": TASK_ID, "model": "suno", "task_type": "generate_music",
        "status": "completed", "config": {"webhook_config": {"secret": "wh_s3cret"}},
        "output": {"clips": clips}, "error": {"code": 0, "message": ""}, **data}}


def assert_safe_name(name: str) -> None:
    """One path component that is safe on every system we know of. (A sidecar is named after
    its media file, ".info.json" for ".mp3": up to 246 bytes, 250 with ".tmp".)"""
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\0" not in name, repr(name)
    assert not any(unicodedata.category(char) in ("Cc", "Cs") for char in name), repr(name)
    assert not BIDI & set(name), repr(name)
    assert name == unicodedata.normalize("NFC", name), repr(name)
    extra = len(".info.json") - len(".mp3") if name.endswith(".info.json") else 0
    assert len(name.encode()) <= MAX_COMPONENT_BYTES + extra, len(name.encode())
    assert not name.startswith((".", " ")) and not name.endswith((".", " ")), repr(name)
    assert name.split(".")[0].rstrip(" ").upper() not in WINDOWS_DEVICES, repr(name)


def assert_sane_clip(clip: Clip, tmp_path: Path) -> None:
    """Whatever the JSON held, the model holds the right types and the clip can be named and
    tagged."""
    for text in (clip.title, clip.creator, clip.style, clip.lyrics, clip.description,
                 clip.model, clip.created_at, clip.error, clip.clip_id):
        assert isinstance(text, str)
    assert clip.duration is None or (math.isfinite(clip.duration) and 0 < clip.duration < 86_400)
    for kind in AssetKind:
        asset = clip.asset(kind)
        assert isinstance(asset.url, str) and isinstance(asset.state, AssetState)
    for ext in ("mp3", "mp4", "jpg", "info.json"):
        for part in render(DEFAULT_TEMPLATE, clip, ext).parts:
            assert_safe_name(part)
    song = tmp_path / "song.mp3"
    song.write_bytes(SONG)
    tag_file(song, AssetKind.AUDIO, clip, TagOptions(), None)


def parsed_or_error(payload: Any) -> tuple[Clip, ...]:
    """The clips, or () when parse_task refused the payload in the one allowed way."""
    try:
        return parse_task(payload, TASK_ID).clips
    except TaskError as exc:
        assert str(exc).startswith(f"task {TASK_ID}: ")
        return ()


# each field missing or of the wrong type ---------------------------------------------------

CLIP_FIELDS = ["id", "title", "status", "audio_url", "video_url", "image_url",
               "image_large_url", "is_video_pending", "model_name", "major_model_version",
               "created_at", "display_name", "handle", "metadata", "metadata.tags",
               "metadata.prompt", "metadata.gpt_description_prompt", "metadata.duration",
               "metadata.type", "metadata.error_type", "metadata.error_message"]
WRONG: dict[str, Any] = {
    "missing": MISSING, "null": None, "int": 7, "negative": -3.5, "bool": True,
    "list": ["a", 1, None], "object": {"k": "v"}, "empty": "", "huge-int": 10**40,
    "nan": math.nan, "inf": math.inf, "nul-and-controls": "a\x00b\x1b[31m\r\n",
    "lone-surrogate": "x\ud800y",
}


@pytest.mark.parametrize("value", WRONG, ids=str)
@pytest.mark.parametrize("field", CLIP_FIELDS)
def test_a_clip_field_missing_or_of_the_wrong_type(field: str, value: str,
                                                   tmp_path: Path) -> None:
    for clip in parsed_or_error(task_json({CLIP_ID: clip_json(**{field: WRONG[value]})})):
        assert_sane_clip(clip, tmp_path)


UDIO_FIELDS = ["id", "title", "song_path", "image_path", "duration", "tags", "lyrics",
               "prompt", "finished"]


@pytest.mark.parametrize("value", WRONG, ids=str)
@pytest.mark.parametrize("field", UDIO_FIELDS)
def test_a_udio_song_field_missing_or_of_the_wrong_type(field: str, value: str,
                                                        tmp_path: Path) -> None:
    song: dict[str, Any] = {"id": CLIP_ID, "title": "Udio", "song_path": "", "image_path": "",
                            "duration": 2.0, "tags": ["rock"], "lyrics": "", "prompt": "",
                            "finished": True}
    if WRONG[value] is MISSING:
        song.pop(field)
    else:
        song[field] = WRONG[value]
    payload = task_json(None, model="music-u", output={"generation_id": "g", "songs": [song]})
    for clip in parsed_or_error(payload):
        assert_sane_clip(clip, tmp_path)


TASK_SHAPES: dict[str, Any] = {
    "not-an-object": [1, 2], "a-string": "completed", "null": None,
    "no-data": {"code": 200, "message": "success"},
    "data-null": {"code": 404, "data": None, "message": "task not found"},
    "data-a-list": {"code": 200, "data": [1]}, "data-a-string": {"code": 200, "data": "x"},
    "task-id-a-number": {"data": {"task_id": 12345, "status": "completed"}},
    "task-id-another": {"data": {"task_id": "aaaaaaaa-0000-4000-8000-000000000000"}},
    "status-an-object": task_json({}, status={"done": True}),
    "output-a-string": task_json({}, output="clips"),
    "output-a-number": task_json({}, output=42),
    "clips-a-string": task_json("clip"),
    "clips-null": task_json(None),
    "clip-a-number": task_json({CLIP_ID: 5}),
    "clip-a-list": task_json([[clip_json()]]),
    "clip-empty-object": task_json({"": {}}),
    "error-a-string": task_json({}, status="failed", error="it broke"),
    "songs-null": task_json(None, model="music-u", output={"songs": None}),
    "legacy-clips-a-number": {"code": 200, "data": {"task_id": TASK_ID, "clips": 3}},
}


@pytest.mark.parametrize("shape", TASK_SHAPES)
def test_a_task_of_the_wrong_shape(shape: str, tmp_path: Path) -> None:
    for clip in parsed_or_error(TASK_SHAPES[shape]):
        assert_sane_clip(clip, tmp_path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(CLIP_FIELDS), value=json_values)
def test_any_json_in_any_clip_field(field: str, value: Any, tmp_path: Path) -> None:
    for clip in parsed_or_error(task_json([clip_json(**{field: value}),
                                           clip_json(id="second")])):
        assert_sane_clip(clip, tmp_path)


# absurd values -------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [-1, 0, -0.0, 1e308, "1e999", "NaN", "inf", "-5",
                                      10**30, "12,5", [], 86_400 * 365, True])
def test_absurd_durations_become_unknown(duration: Any) -> None:
    payload = task_json({CLIP_ID: clip_json(**{"metadata.duration": duration})})
    (clip,) = parse_task(payload).clips
    assert clip.duration is None


def test_a_duration_given_as_text_is_read() -> None:
    payload = task_json({CLIP_ID: clip_json(**{"metadata.duration": " 12.5 "})})
    (clip,) = parse_task(payload).clips
    assert clip.duration == 12.5


@pytest.mark.parametrize("title", ["x" * 10_000_000, "é" * 5_000_000, "🎵" * 2_500_000,
                                   "\x01" * 10_000_000 + "late", "e\u0301" * 4_000_000])
def test_a_10_mb_title_gets_a_safe_name_at_once(title: str) -> None:
    """Regression: a 10 MB title took seconds per name (every character cleaned each time)."""
    (clip,) = parse_task(task_json({CLIP_ID: clip_json(title=title)})).clips
    started = time.perf_counter()
    names = [render(DEFAULT_TEMPLATE, clip, ext).name for ext in ("mp3", "mp4", "jpg")]
    assert time.perf_counter() - started < 0.5
    for name in names:
        assert_safe_name(name)
        assert name.endswith(f" [{clip.id8}]" + name[name.index("."):])


def test_100_000_clips_in_one_task_stay_fast(tmp_path: Path) -> None:
    clips = [clip_json(id=f"{number:08x}-0000-4000-8000-000000000000", title=f"Song {number}")
             for number in range(100_000)]
    payload = task_json(clips)
    started = time.perf_counter()
    task = parse_task(payload)
    parsed = time.perf_counter() - started
    assert len(task.clips) == 100_000 and task.clips[-1].index == 100_000
    saved = tmp_path / "task.json"
    saved.write_text(json.dumps(payload), encoding="utf-8")
    started = time.perf_counter()
    code, err = run_main(tmp_path / "a", "--from-json", str(saved))
    archived = time.perf_counter() - started
    assert code == 0, err
    assert "archived 100000 clips" in err
    # Generous bounds (2-core CI): they catch a quadratic step, not a slow machine.
    assert parsed < 30 and archived < 120, (parsed, archived)


# invalid UTF-8 and malformed JSON ----------------------------------------------------------


def run_main(dest: Path, *args: str, stdin: io.TextIOBase | None = None) -> tuple[int, str]:
    err = io.StringIO()
    code = main([*args, "-d", str(dest), "--no-progress"], stdin=stdin or io.StringIO(""),
                stdout=io.StringIO(), stderr=err)
    assert "Traceback" not in err.getvalue()
    return code, err.getvalue()


VALID = json.dumps(task_json({CLIP_ID: clip_json()})).encode()
BAD_FILES: dict[str, bytes] = {
    "empty": b"", "truncated": VALID[: len(VALID) // 2], "not-json": b"<html>502</html>",
    "invalid-utf8": b'{"code": 200, "data": {"task_id": "\xff\xfe"}}',
    "utf16": VALID.decode().encode("utf-16"), "null": b"null", "a-number": b"42",
    "a-string": b'"hello"', "an-empty-list": b"[]", "an-empty-object": b"{}",
    "no-task-id": b'{"code": 200, "data": {"status": "completed"}}',
    "task-id-not-a-uuid": b'{"data": {"task_id": "../../etc"}}',
    "huge-integer": b'{"data": {"task_id": "' + TASK_ID.encode() + b'", "n": 1' + b"0" * 5000
                    + b"}}",
    "nested-100000-deep": b"[" * 100_000 + b"]" * 100_000,
    "nested-400-deep-in-a-clip": VALID.replace(b'"gen"', b'{"a":' * 400 + b"1" + b"}" * 400),
    "nan-and-infinity": VALID.replace(b"2.0", b"NaN").replace(b'"v3.5"', b"Infinity"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_saved_task_file_is_named_and_the_rest_runs(name: str, tmp_path: Path) -> None:
    """Regressions: a huge integer and a deep nesting escaped as ValueError/RecursionError."""
    bad, good = tmp_path / f"{name}.json", tmp_path / "good.json"
    bad.write_bytes(BAD_FILES[name])
    good.write_bytes(VALID.replace(TASK_ID.encode(), b"6e0c2f0e-7a41-4a8e-9d57-0b8c5e6f1a23"))
    code, err = run_main(tmp_path / "a", "--from-json", str(bad), "--from-json", str(good))
    assert code in (0, 1) and "archived 0 clips" not in err, err  # the good one was
    if code == 1:
        assert f"{bad}" in err or f"task {TASK_ID}" in err, err


def test_a_byte_order_mark_in_a_saved_task_is_not_an_error(tmp_path: Path) -> None:
    """Regression: Windows editors save JSON with a BOM; `-i` lists already allowed one."""
    saved = tmp_path / "task.json"
    saved.write_bytes(b"\xef\xbb\xbf" + VALID)
    inputs = read_inputs([], json_files=[str(saved)])
    assert inputs.errors == () and [task_id for task_id, _ in inputs.saved] == [TASK_ID]


def test_invalid_utf8_in_an_id_list_is_a_named_line(tmp_path: Path) -> None:
    listing = tmp_path / "ids.txt"
    listing.write_bytes(TASK_ID.encode() + b"\n\xff\xfe\x80garbage\n")
    inputs = read_inputs([], [str(listing)])
    assert inputs.task_ids == (TASK_ID,)
    assert str(inputs.errors[0]).startswith(f"{listing}:2: not a task id: '\ufffd\ufffd\ufffd")


def test_invalid_utf8_on_stdin_is_a_named_line_whatever_the_locale() -> None:
    """Regression: with a strict UTF-8 stdin (LANG=en_US.UTF-8), the first bad byte raised
    UnicodeDecodeError out of main."""
    stdin = io.TextIOWrapper(io.BytesIO(TASK_ID.encode() + b"\n\xff\xfe\x80\n"),
                             encoding="utf-8", errors="strict")
    inputs = read_inputs([], ["-"], stdin=stdin)
    assert inputs.task_ids == (TASK_ID,)
    assert str(inputs.errors[0]) == "<stdin>:2: not a task id: '\ufffd\ufffd\ufffd'"


def test_lone_surrogates_from_json_escapes_are_replaced(tmp_path: Path) -> None:
    """Regression: `"\\ud800"` is valid JSON but no UTF-8: the manifest, the sidecar and the
    tags all raised UnicodeEncodeError."""
    saved = tmp_path / "task.json"
    saved.write_text(json.dumps(task_json({CLIP_ID: clip_json(
        title="bad \ud800 title", **{"metadata.tags": "\udfff"})})), encoding="utf-8")
    assert "\\ud800" in saved.read_text(encoding="utf-8")
    (clip,) = parse_task(json.loads(saved.read_text(encoding="utf-8"))).clips
    assert clip.title == "bad \ufffd title" and clip.style == "\ufffd"
    assert "\ud800" not in parse_task(json.loads(saved.read_text())).raw_json
    code, err = run_main(tmp_path / "a", "--from-json", str(saved))
    assert code == 0, err


def test_an_api_answer_that_is_not_utf8_is_a_task_error(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)
    task_id = demo_server.samples[0].task_id
    demo_server.script(f"/api/v1/task/{task_id}", Reply(200, b'{"code": 200, "data": \xff}'))
    code, err = run_main(tmp_path / "a", task_id, "--base-url", demo_server.api_url)
    assert code == 1 and f"task {task_id}: PiAPI answered with non-JSON" in err


API_BODIES = {
    "huge-integer": b'{"code": 200, "data": {"task_id": "%s", "n": 1' + b"0" * 5000 + b"}}",
    "nested-100000-deep": b'{"code": 200, "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("body", API_BODIES)
def test_an_api_answer_json_cannot_hold_is_a_task_error(
    body: str, demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)
    task_id = demo_server.samples[0].task_id
    answer = API_BODIES[body].replace(b"%s", task_id.encode())
    demo_server.script(f"/api/v1/task/{task_id}", Reply(200, answer))
    code, err = run_main(tmp_path / "a", task_id, "--base-url", demo_server.api_url)
    assert code == 1 and f"task {task_id}" in err


# duplicates --------------------------------------------------------------------------------


def test_a_clip_listed_twice_is_kept_once() -> None:
    (clip,) = parse_task(task_json([clip_json(), clip_json()])).clips
    assert clip.clip_id == CLIP_ID


def test_two_different_clips_under_one_id_are_refused() -> None:
    """Regression: both downloaded into the same `.part` at once (FileNotFoundError, or a
    file made of both)."""
    with pytest.raises(BadResponse, match="two different clips have the id"):
        parse_task(task_json([clip_json(), clip_json(title="Other")]), TASK_ID)


# hostile titles and ids, end to end --------------------------------------------------------

HOSTILE_TITLES = [
    "../../../../etc/passwd", "..", ".", "/", "\\..\\..\\windows", "CON", "nul.txt", "com1",
    "LPT9.mp3", "a\x00b", "\x1b[31mred\x1b[0m", "\u202egnp.exe", "evil\u2066\u2069.mp3",
    "tab\there\nnewline", " leading and trailing. ", "...", "~", "-rf", "$(rm -rf ~)",
    "名前" * 200, "🎵" * 100, "e\u0301" * 300, "AUX .", "x" * 1000, "",
]


def served_clip(server: DemoServer, clip_id: str, **overrides: Any) -> dict[str, Any]:
    """A clip whose audio and cover are served by the demo CDN."""
    name = hashlib.sha256(clip_id.encode("utf-8", "replace")).hexdigest()[:16]
    audio, image = f"/cdn1.suno.ai/{name}.mp3", f"/img/{name}.jpeg"
    server.media[audio] = SONG
    server.media[image] = cover_image(clip_id, (64, 64))
    return clip_json(id=clip_id, audio_url=server.cdn_url + audio,
                     image_large_url=server.cdn_url + image, **overrides)


def saved_task(tmp_path: Path, clips: list[Any], task_id: str = TASK_ID) -> Path:
    payload = task_json(clips)
    payload["data"]["task_id"] = task_id
    path = tmp_path / f"{task_id}.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def final_files(dest: Path) -> list[Path]:
    return [path for path in dest.rglob("*") if path.is_file()
            and STATE_DIR not in path.relative_to(dest).parts]


def test_hostile_titles_stay_inside_the_archive_with_safe_names(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    clips = [served_clip(demo_server, f"{number:08x}-1111-4111-8111-111111111111", title=title)
             for number, title in enumerate(HOSTILE_TITLES)]
    dest = tmp_path / "a"
    code, err = run_main(dest, "--from-json", str(saved_task(tmp_path, clips)))
    assert code == 0, err
    files = final_files(dest)
    assert len([path for path in files if path.suffix == ".mp3"]) == len(HOSTILE_TITLES)
    for path in files:
        assert path.parent == dest, path  # no title made a folder
        assert_safe_name(path.name)
    assert {path for path in tmp_path.rglob("*") if path.is_file()} - set(dest.rglob("*")) == {
        tmp_path / f"{TASK_ID}.json"}
    titles = {str(ID3(path)["TIT2"]) for path in dest.glob("*.mp3")}
    assert "../../../../etc/passwd" in titles and "ab" in titles  # the tag keeps the title


# "{tmp}" becomes the test's own folder: were the bug back, an absolute id would write there.
HOSTILE_IDS = ["../../../../victim", "{tmp}/absolute-victim", "a\x00b", "\u202eevil", "CON",
               "..", "x" * 5000, "m_" + "../" * 10, "id\nwith\nnewlines"]


@pytest.mark.parametrize("clip_id", HOSTILE_IDS, ids=repr)
def test_a_hostile_clip_id_writes_nothing_outside_the_archive(
    clip_id: str, demo_server: DemoServer, tmp_path: Path
) -> None:
    """Regression: the cover fetched only to be embedded (`--assets audio`) went to
    `.suno-archiver/tmp/{clip id}.cover.part`: "../" in the id truncated, wrote and deleted a
    file outside the archive, and a NUL raised ValueError out of main."""
    dest = tmp_path / "deep" / "er" / "a"
    victim = tmp_path / "deep" / "victim.cover.part"  # where ".suno-archiver/tmp/" + the
    victim.parent.mkdir(parents=True)  # first id + ".cover.part" leads
    victim.write_bytes(b"precious")
    before = {path for path in tmp_path.rglob("*") if path.is_file()}
    clip = served_clip(demo_server, clip_id.replace("{tmp}", str(tmp_path)))
    code, err = run_main(dest, "--assets", "audio", "--from-json",
                         str(saved_task(tmp_path, [clip])))
    assert code == 0, err
    assert victim.read_bytes() == b"precious"
    after = {path for path in tmp_path.rglob("*") if path.is_file() and dest not in path.parents}
    assert after - before == {tmp_path / f"{TASK_ID}.json"}
    assert len(list(dest.glob("*.mp3"))) == 1
    for path in final_files(dest):
        assert_safe_name(path.name)


def test_hostile_clip_ids_together_with_their_covers(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "a"
    clips = [served_clip(demo_server, clip_id.replace("{tmp}", str(tmp_path)))
             for clip_id in HOSTILE_IDS]
    code, err = run_main(dest, "--from-json", str(saved_task(tmp_path, clips)))
    assert code == 0, err
    assert len(list(dest.glob("*.mp3"))) == len(list(dest.glob("*.jpg"))) == len(HOSTILE_IDS)
    for path in final_files(dest):
        assert path.parent == dest
        assert_safe_name(path.name)


def test_one_clip_in_two_tasks_of_one_run_is_saved_once_and_whole(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    clip = served_clip(demo_server, CLIP_ID)
    other = "6e0c2f0e-7a41-4a8e-9d57-0b8c5e6f1a23"
    first, second = saved_task(tmp_path, [clip]), saved_task(tmp_path, [clip], other)
    dest = tmp_path / "a"
    code, err = run_main(dest, "-j", "8", "--from-json", str(first), "--from-json", str(second))
    assert code == 0, err
    (song,) = dest.glob("*.mp3")
    assert song.read_bytes().endswith(SONG) and not list(dest.rglob("*.part"))


@pytest.mark.parametrize("title", sorted(WINDOWS_DEVICES))
def test_every_reserved_device_name_is_defused(title: str) -> None:
    (clip,) = parse_task(task_json({CLIP_ID: clip_json(title=title)})).clips
    assert_safe_name(render(DEFAULT_TEMPLATE, clip, "mp3").name)
    assert_safe_name(render("{title}.{ext}", clip, "mp3").name)


def test_the_webhook_secret_of_a_saved_task_is_never_written(tmp_path: Path) -> None:
    saved = tmp_path / "task.json"
    payload = copy.deepcopy(task_json({CLIP_ID: clip_json()}))
    saved.write_text(json.dumps(payload), encoding="utf-8")
    dest = tmp_path / "a"
    assert run_main(dest, "--from-json", str(saved))[0] == 0
    for path in dest.rglob("*"):
        if path.is_file():
            assert b"wh_s3cret" not in path.read_bytes(), path
