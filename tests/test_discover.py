"""`discover` against the sample server's history endpoint and scripted odd pages."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from archiver.api import HISTORY_PATH
from archiver.cli import main
from archiver.demo import DemoServer, Reply
from archiver.inputs import read_inputs

from .samples import load_sample


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", "sk-discover")


def _discover(server: DemoServer, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["discover", "--base-url", server.api_url, "-d", str(tmp_path / "a"), *args],
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _task(task_id: str, model: str = "suno", task_type: str = "generate_music",
          created: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    return {"task_id": task_id, "model": model, "task_type": task_type, "status": "completed",
            "meta": {"created_at": created}}


def _page(tasks: list[dict[str, Any]], total: int | None = None) -> Reply:
    body = {"code": 200, "data": {"data": tasks, "page": 1, "size": 100, "total": total}}
    return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})


def _listed(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()]


IDS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(8)]


def test_lists_only_music_tasks_newest_first_in_a_form_i_reads(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    image_task = load_sample("01")
    image_task["data"].update(task_id=IDS[0], model="midjourney", task_type="imagine")
    demo_server.publish(image_task)
    code, out, err = _discover(demo_server, tmp_path)
    assert code == 0
    music = {s.task_id for s in demo_server.samples if s.payload and s.endpoint == "v1"}
    listed = read_inputs([], ["-"], stdin=io.StringIO(out))
    assert not listed.errors and set(listed.task_ids) == music
    created = [line.split("#")[1].split()[2] for line in out.splitlines()]
    assert created == sorted(created, reverse=True)
    assert f"found {len(music)} music tasks" in err


def test_pages_an_odd_shape_a_429_and_an_empty_last_page(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    odd = {"code": 200, "data": [_task(IDS[3]), {"not": "a task"}]}  # data is the list itself
    demo_server.script(
        HISTORY_PATH,
        _page([_task(IDS[1]), _task(IDS[2], "music-u")]),
        Reply(429, b"slow down", {"retry-after": "0"}),
        Reply(200, json.dumps(odd).encode()),
        _page([_task(IDS[4], "music-s", "generate_music_custom"),
               _task(IDS[5], "luma", "video_generation")]),
        _page([]),
    )
    code, out, _ = _discover(demo_server, tmp_path)
    assert code == 0
    assert _listed(out) == IDS[1:5]
    pages = [r for r in demo_server.requests if r.path == HISTORY_PATH]
    assert len(pages) == 5


def test_stops_at_total(demo_server: DemoServer, tmp_path: Path) -> None:
    demo_server.script(HISTORY_PATH, _page([_task(IDS[1])], total=1), _page([_task(IDS[2])]))
    code, out, _ = _discover(demo_server, tmp_path)
    assert code == 0 and _listed(out) == [IDS[1]]


def test_since_until_and_model_filters(demo_server: DemoServer, tmp_path: Path) -> None:
    tasks = [_task(IDS[1], created="2024-05-01T10:00:00Z"),
             _task(IDS[2], "music-u", created="2024-06-15T10:00:00Z"),
             _task(IDS[3], created="2024-07-30T10:00:00Z")]
    demo_server.script(HISTORY_PATH, _page(tasks), _page([]))
    code, out, _ = _discover(demo_server, tmp_path, "--since", "2024-06-01", "--until",
                             "2024-07-30", "--model", "suno", "--model", "music-u")
    assert code == 0 and _listed(out) == [IDS[3], IDS[2]]
    query = next(r.query for r in demo_server.requests if r.path == HISTORY_PATH)
    assert "start_time=1717200000" in query and "end_time=1722383999" in query


def test_unreadable_history_is_a_clear_error(demo_server: DemoServer, tmp_path: Path) -> None:
    demo_server.script(HISTORY_PATH, Reply(200, b"<html>Service is under maintenance</html>",
                                           {"content-type": "text/html"}))
    code, out, err = _discover(demo_server, tmp_path)
    assert code == 1 and not out
    assert "task history, page 1" in err and "Service is under maintenance" in err
    assert "Traceback" not in err


def test_odd_json_without_tasks_shows_its_first_bytes(
    demo_server: DemoServer, tmp_path: Path
) -> None:
    demo_server.script(HISTORY_PATH, Reply(200, b'{"code": 200, "data": {"rows": "nope"}}'))
    code, _, err = _discover(demo_server, tmp_path)
    assert code == 1 and '"rows": "nope"' in err


def test_rejected_key_is_exit_3(demo_server: DemoServer, tmp_path: Path) -> None:
    demo_server.script(HISTORY_PATH, Reply(401, b'{"message": "invalid key"}'))
    code, _, err = _discover(demo_server, tmp_path)
    assert code == 3 and "PIAPI_API_KEY" in err and "sk-discover" not in err


def test_discover_archive_archives_what_it_found(demo_server: DemoServer, tmp_path: Path) -> None:
    good = [s.task_id for s in demo_server.samples if s.expect == "archived" and
            s.endpoint == "v1"]
    tasks = [json.loads(demo_server._tasks[f"/api/v1/task/{task_id}"])["data"]
             for task_id in good]
    demo_server.script(HISTORY_PATH, _page(tasks), _page([]))
    code, out, err = _discover(demo_server, tmp_path, "--archive")
    assert code == 0, err
    assert sorted(_listed(out)) == sorted(good)
    assert len(list((tmp_path / "a").glob("*.mp3"))) == 2 * len(good)
