from __future__ import annotations

import pytest

from archiver.redact import REDACTED, redact
from archiver.urls import never_download_reason, same_origin


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "no URL"),
        (None, "no URL"),
        ("   ", "no URL"),
        ("https://audiopipe.suno.ai/?item_id=b6878dba", "still streaming"),
        ("https://AUDIOPIPE.suno.ai/?item_id=1", "still streaming"),
        ("https://cdn1.suno.ai/None.mp3", "None.mp3"),
        ("https://cdn1.suno.ai/api/forbidden", "forbidden"),
        ("ftp://cdn1.suno.ai/x.mp3", "refusing ftp"),
        ("file:///etc/passwd", "refusing file"),
        ("javascript:alert(1)", "refusing javascript"),
        ("cdn1.suno.ai/x.mp3", "refusing scheme-less"),
        ("https:///x.mp3", "without a host"),
        ("http://[::1/x.mp3", "malformed"),
    ],
)
def test_never_downloaded(url: str | None, why: str) -> None:
    reason = never_download_reason(url)
    assert reason is not None and why in reason


@pytest.mark.parametrize("url", ["https://cdn1.suno.ai/c88dbeb3.mp3",
                                 "http://127.0.0.1:8080/cdn2.suno.ai/image_large_x.jpeg",
                                 "https://cdn1.suno.ai/None.mp3x"])
def test_final_urls_are_fetchable(url: str) -> None:
    assert never_download_reason(url) is None


def test_same_origin_compares_scheme_host_and_port() -> None:
    assert same_origin("https://api.piapi.ai/a", "https://API.piapi.ai:443/b")
    assert not same_origin("https://api.piapi.ai", "http://api.piapi.ai")
    assert not same_origin("http://127.0.0.1:1000", "http://127.0.0.1:1001")
    assert not same_origin("https://api.piapi.ai", "https://api.piapi.ai.evil.example")


def test_redact_replaces_secrets_at_any_depth_and_keeps_empty_ones() -> None:
    data = {"config": {"webhook_config": {"endpoint": "https://x", "secret": "s3cr3t"}},
            "list": [{"api_key": "k"}, {"Secret": ""}], "title": "secret song"}
    assert redact(data) == {
        "config": {"webhook_config": {"endpoint": "https://x", "secret": REDACTED}},
        "list": [{"api_key": REDACTED}, {"Secret": ""}], "title": "secret song"}
    assert data["config"]["webhook_config"]["secret"] == "s3cr3t"  # a copy, not in place
