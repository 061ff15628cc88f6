"""The parser over every sample (golden files) and over the shapes' edge cases."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from archiver.errors import BadResponse, TaskNotFound
from archiver.models import AssetState, ClipStatus, TaskStatus
from archiver.parse import parse_task
from archiver.redact import REDACTED

from .samples import load_sample, sample_files

GOLDEN = Path(__file__).parent / "golden"


def _summary(payload: Any) -> dict[str, Any]:
    task = parse_task(payload)
    summary = asdict(task)
    summary.pop("raw_json")
    for clip in summary["clips"]:
        clip.pop("raw_json")
        clip["created"] = clip["created"].isoformat() if clip["created"] else None
    return json.loads(json.dumps(summary, default=lambda value: value.value))


@pytest.mark.parametrize("path", sample_files(), ids=lambda path: path.stem)
def test_golden(path: Path) -> None:
    """Every sample parses to exactly the reviewed models (UPDATE_GOLDEN=1 rewrites them)."""
    got = _summary(json.loads(path.read_text(encoding="utf-8")))
    golden = GOLDEN / path.name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def test_clips_object_list_and_output_list_give_the_same_models() -> None:
    payload = load_sample("01")
    clips = payload["data"]["output"]["clips"]
    as_list = json.loads(json.dumps(payload))
    as_list["data"]["output"]["clips"] = list(clips.values())
    as_output_list = json.loads(json.dumps(payload))
    as_output_list["data"]["output"] = list(clips.values())
    expected = parse_task(payload).clips
    assert [c.clip_id for c in parse_task(as_list).clips] == [c.clip_id for c in expected]
    assert [c.audio for c in parse_task(as_output_list).clips] == [c.audio for c in expected]


def test_status_is_compared_case_insensitively() -> None:
    for raw in ("Completed", "COMPLETED", "completed", " completed "):
        payload = load_sample("01")
        payload["data"]["status"] = raw
        assert parse_task(payload).status is TaskStatus.COMPLETED


def test_unknown_status_is_not_yet() -> None:
    payload = load_sample("01")
    payload["data"]["status"] = "thinking"
    task = parse_task(payload)
    assert task.status is TaskStatus.UNKNOWN
    assert not task.status.is_final


def test_webhook_payload_and_bare_data_parse() -> None:
    payload = load_sample("01")
    webhook = {"timestamp": 1724571234, "data": payload["data"]}
    assert parse_task(webhook).clips == parse_task(payload).clips
    assert parse_task(payload["data"]).task_id == parse_task(payload).task_id


def test_webhook_secret_is_redacted_from_stored_json() -> None:
    payload = load_sample("01")
    secret = payload["data"]["config"]["webhook_config"]["secret"]
    assert secret
    task = parse_task(payload)
    assert secret not in task.raw_json
    assert REDACTED in task.raw_json
    assert all(secret not in clip.raw_json for clip in task.clips)


def test_failed_task_keeps_piapis_reason() -> None:
    task = parse_task(load_sample("07"))
    assert task.status is TaskStatus.FAILED
    assert task.error and "no reason" not in task.error


def test_null_data_is_not_found() -> None:
    with pytest.raises(TaskNotFound, match="task not found"):
        parse_task({"code": 404, "data": None, "message": "task not found"}, "abc")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected a JSON object"),
        ({"code": 200, "data": "x"}, "unexpected 'data'"),
        ({"code": 200, "data": {"status": "completed"}}, "no task_id"),
        ({"code": 200, "data": {"task_id": "t", "status": "completed", "output": {"x": 1}}},
         "unknown output shape"),
        ({"code": 200, "data": {"task_id": "t", "status": "completed",
                                "output": {"clips": [5]}}}, "clip 1 is int"),
        ({"code": 200, "data": {"task_id": "t", "status": "completed",
                                "output": {"clips": [{"title": "no id"}]}}}, "clip 1 has no id"),
    ],
)
def test_bad_shapes_are_clear_errors_naming_the_task(payload: Any, message: str) -> None:
    with pytest.raises(BadResponse, match=message) as caught:
        parse_task(payload, "t" if isinstance(payload, dict) and "task_id" in str(payload) else "")
    assert "task " in str(caught.value)


def test_answer_for_another_task_is_refused() -> None:
    with pytest.raises(BadResponse, match="another task"):
        parse_task(load_sample("01"), "00000000-0000-0000-0000-000000000000")


def test_fields_of_the_wrong_type_do_not_crash() -> None:
    payload = load_sample("01")
    clip = next(iter(payload["data"]["output"]["clips"].values()))
    clip.update(title=None, audio_url=42, metadata={"duration": "soon", "tags": ["x"]},
                created_at=17, is_video_pending="yes")
    parsed = parse_task(payload).clips[0]
    assert parsed.title == "" and parsed.duration is None and parsed.style == ""
    assert parsed.audio.state is AssetState.ABSENT  # "42" is not a URL


def test_streaming_clip_waits_and_errored_clip_is_absent() -> None:
    streaming = parse_task(load_sample("06")).clips[0]
    assert streaming.status is ClipStatus.STREAMING
    assert streaming.audio.state is AssetState.WAITING
    errored = [c for c in parse_task(load_sample("08")).clips if c.status is ClipStatus.ERROR]
    assert errored and errored[0].audio.state is AssetState.ABSENT
    assert "errored" in errored[0].audio.reason


def test_pending_video_waits_while_audio_is_ready() -> None:
    clip = next(c for c in parse_task(load_sample("09")).clips if c.video.state is not
                AssetState.READY)
    assert clip.video.reason == "video still rendering"
    assert clip.audio.state is AssetState.READY


def test_udio_songs_and_legacy_clips() -> None:
    udio = parse_task(load_sample("04"))
    assert len(udio.clips) == 2 and all(c.audio.state is AssetState.READY for c in udio.clips)
    assert "," in udio.clips[0].style or udio.clips[0].style
    assert udio.clips[0].video.state is AssetState.ABSENT
    failed_udio = {"code": 200, "data": {"task_id": "t", "model": "music-u", "status": "failed",
                                         "output": {"generation_id": "g", "songs": None}}}
    assert parse_task(failed_udio).clips == ()
    legacy = parse_task(load_sample("05"))
    assert legacy.status is TaskStatus.COMPLETED and legacy.clips


def test_durations_and_timestamps() -> None:
    payload = load_sample("01")
    clip = next(iter(payload["data"]["output"]["clips"].values()))
    for raw, seconds in ((102, 102.0), ("95.5", 95.5), (-3, None), (1e12, None), (None, None),
                         (True, None), (float("nan"), None)):
        clip["metadata"]["duration"] = raw
        assert parse_task(payload).clips[0].duration == seconds
    for raw, iso in (("2025-08-25T08:08:51.833705018Z", "2025-08-25T08:08:51.833705+00:00"),
                     ("2025-12-09 10:54:16", "2025-12-09T10:54:16+00:00"),
                     ("0001-01-01T00:00:00Z", None), ("", None), ("yesterday", None)):
        clip["created_at"] = raw
        created = parse_task(payload).clips[0].created
        assert (created.isoformat() if created else None) == iso
