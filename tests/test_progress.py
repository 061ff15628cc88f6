"""What a run prints: bars on a terminal; off it only warnings, errors and the summary."""

from __future__ import annotations

import io
import json

from archiver.progress import Event, JsonReporter, Level, TextReporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _events() -> list[Event]:
    return [Event("task_fetched", Level.INFO, "task x: completed, 2 clips"),
            Event("file_saved", Level.INFO, "saved a.mp3", {"path": "a.mp3"}),
            Event("cover_unusable", Level.WARNING, "cover not embedded"),
            Event("file_dead", Level.ERROR, "clip y audio is dead"),
            Event("summary", Level.SUMMARY, "archived 1 clip (1 new), 0 errors")]


def _lines(reporter: TextReporter, stream: io.StringIO) -> list[str]:
    for event in _events():
        reporter.emit(event)
    reporter.close()
    return stream.getvalue().splitlines()


def test_off_a_terminal_only_warnings_errors_and_summary() -> None:
    stream = io.StringIO()
    assert _lines(TextReporter(stream), stream) == [
        "warning: cover not embedded", "error: clip y audio is dead",
        "archived 1 clip (1 new), 0 errors"]


def test_quiet_leaves_only_errors() -> None:
    stream = _Terminal()
    assert _lines(TextReporter(stream, quiet=True), stream) == ["error: clip y audio is dead"]


def test_a_terminal_gets_info_and_progress_bars() -> None:
    stream = _Terminal()
    reporter = TextReporter(stream)
    bar = reporter.transfer("1a2b3c4d audio", 1000)
    bar.update(600)
    bar.update(400)
    bar.close()
    lines = _lines(reporter, stream)
    assert "saved a.mp3" in stream.getvalue() and "total" in stream.getvalue()
    assert lines[-1].endswith("archived 1 clip (1 new), 0 errors")


def test_no_progress_means_no_bars_even_on_a_terminal() -> None:
    stream = _Terminal()
    reporter = TextReporter(stream, bars=False)
    reporter.transfer("x", 10).update(10)
    reporter.close()
    assert stream.getvalue() == ""


def test_json_reporter_puts_only_json_on_stdout() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = JsonReporter(out, err)
    for event in _events():
        reporter.emit(event)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == [e.name for e in _events()]
    assert records[1]["path"] == "a.mp3" and records[3]["level"] == "error"
    assert err.getvalue().splitlines() == [
        "warning: cover not embedded", "error: clip y audio is dead",
        "archived 1 clip (1 new), 0 errors"]
