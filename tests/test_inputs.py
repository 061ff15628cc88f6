from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from archiver.errors import UsageError
from archiver.inputs import read_inputs

A = "7088bf9d-6edb-4fab-b1fd-83afc64dde91"
B = "3229cc36-285f-4e86-9d24-0a12bb9c0309"


def test_ids_from_arguments_files_and_stdin_collapse_in_order(tmp_path: Path) -> None:
    listing = tmp_path / "ids.txt"
    listing.write_text(f"# my songs\n\n{B.upper()}  # the upper-case one\n{A}\n", "utf-8")
    inputs = read_inputs([A], [str(listing), "-"], stdin=io.StringIO(f"{B}\n"))
    assert inputs.task_ids == (A, B)
    assert inputs.errors == ()


def test_malformed_line_is_named_with_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "ids.txt"
    listing.write_text(f"{A}\nhttps://suno.com/song/x\n{B}\n", "utf-8")
    inputs = read_inputs([], [str(listing)])
    assert inputs.task_ids == (A, B)
    assert [str(e) for e in inputs.errors] == [
        f"{listing}:2: not a task id: 'https://suno.com/song/x'"
    ]


def test_bad_argument_is_an_input_error_not_a_crash() -> None:
    inputs = read_inputs(["not-a-uuid", A])
    assert inputs.task_ids == (A,)
    assert str(inputs.errors[0]) == "argument:1: not a task id: 'not-a-uuid'"


def test_missing_input_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nope.txt: cannot read input file"):
        read_inputs([], [str(tmp_path / "nope.txt")])


def test_from_json_accepts_responses_and_webhooks_and_wins_over_the_api(tmp_path: Path) -> None:
    response = tmp_path / "task.json"
    response.write_text(json.dumps({"code": 200, "data": {"task_id": A}}), "utf-8")
    webhook = tmp_path / "hook.json"
    webhook.write_text(json.dumps({"timestamp": 1, "data": {"task_id": B.upper()}}), "utf-8")
    inputs = read_inputs([A], [], [str(response), str(webhook)])
    assert inputs.task_ids == ()
    assert [task_id for task_id, _ in inputs.saved] == [A, B]


def test_from_json_that_is_not_json_or_has_no_task_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", "utf-8")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"code": 404, "data": None}), "utf-8")
    inputs = read_inputs([], [], [str(broken), str(empty)])
    messages = [str(e) for e in inputs.errors]
    assert messages[0].startswith(f"{broken}: not JSON")
    assert messages[1].startswith(f"{empty}: no task")
