"""The embedded sample server: a PiAPI look-alike and a CDN on 127.0.0.1, real HTTP.

It serves every task in `sample_tasks/` at the path PiAPI would (the legacy sample only at the
legacy path), with asset URLs rewritten to the CDN server, which answers with real media made
on the fly (silent MPEG frames as long as the clip claims, the committed H.264 fixture, covers
drawn with Pillow) and honours `Range`. The two run on different ports, so they are different
origins, as PiAPI and Suno's CDN are. Tests script extra replies per path and read the log.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api import HISTORY_PATH, LEGACY_PATH, TASK_PATH
from .models import AssetKind, AssetState
from .parse import parse_task
from .samplemedia import cover_image, silent_mp3
from .urls import STREAMING_HOST

__all__ = ["DemoServer", "Reply", "Sample", "load_samples", "samples_root"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def samples_root() -> Traversable:
    """`sample_tasks/`, shipped in the wheel as the `archiver.sample_tasks` package data."""
    return resources.files("archiver.sample_tasks")


@dataclass(frozen=True, slots=True)
class Sample:
    task_id: str
    payload: Any | None  # None: the server answers 404
    endpoint: str  # "v1" or "legacy"
    shows: str
    expect: str
    refuse: dict[str, int]


def load_samples(root: Traversable | None = None) -> list[Sample]:
    root = root or samples_root()
    catalog = json.loads(root.joinpath("catalog.json").read_text(encoding="utf-8"))
    return [
        Sample(
            task_id=entry["task_id"],
            payload=json.loads(root.joinpath(entry["file"]).read_text(encoding="utf-8"))
            if entry.get("file") else None,
            endpoint=entry.get("endpoint", "v1"),
            shows=entry.get("shows", ""),
            expect=entry.get("expect", "archived"),
            refuse=dict(entry.get("refuse", {})),
        )
        for entry in catalog["samples"]
    ]


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted answer: status, body and headers (tests use it to inject failures)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    server: str  # "api" or "cdn"
    method: str
    path: str
    headers: dict[str, str]
    query: str = ""


class DemoServer:
    """Start with `with DemoServer() as server:`; `server.api_url` is the PiAPI base URL."""

    def __init__(self, samples: list[Sample] | None = None) -> None:
        self.samples = samples if samples is not None else load_samples()
        self.requests: list[Request] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.media: dict[str, bytes] = {}
        self.refused: dict[str, int] = {}  # CDN paths that answer like Suno's CDN does today
        self.throttle: float | None = None  # CDN bytes per second per connection (tests)
        self._tasks: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._servers = [self._bind("api"), self._bind("cdn")]
        self.api_url = _url(self._servers[0])
        self.cdn_url = _url(self._servers[1])
        self._load()

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests for `path` with these replies, in order, then as usual."""
        with self._lock:
            self.scripts.setdefault(path, []).extend(replies)

    def publish(self, payload: Any, endpoint: str = "v1") -> None:
        """Serve `payload` (a Get Task response) from now on, asset URLs pointing here."""
        task_id = payload["data"]["task_id"]
        path = (LEGACY_PATH if endpoint == "legacy" else TASK_PATH).format(task_id=task_id)
        body = json.dumps(self._rewrite(payload), ensure_ascii=False).encode()
        with self._lock:
            self._tasks[path] = body

    def history_page(self, request_path: str) -> bytes:
        """A page of the account's task history, in the wrapper shape documented by others."""
        query = parse_qs(urlsplit(request_path).query)
        page = int(query.get("page", ["1"])[0])
        size = min(100, int(query.get("page_size", ["10"])[0]))
        with self._lock:
            tasks = [json.loads(body)["data"] for body in self._tasks.values()]
        chunk = tasks[(page - 1) * size: page * size]
        return json.dumps({"code": 200, "message": "success", "data": {
            "data": chunk, "page": page, "size": size, "total": len(tasks)}}).encode()

    def cdn_path(self, original_url: str) -> str:
        parts = urlsplit(original_url)
        return f"/{parts.hostname}{parts.path}"

    def __enter__(self) -> DemoServer:
        for server in self._servers:
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # set-up ------------------------------------------------------------------------------

    def _bind(self, role: str) -> ThreadingHTTPServer:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.demo = self  # type: ignore[attr-defined]
        server.role = role  # type: ignore[attr-defined]
        return server

    def _load(self) -> None:
        video = samples_root().joinpath("media", "demo.mp4").read_bytes()
        for sample in self.samples:
            if sample.payload is None:
                continue
            self.publish(sample.payload, sample.endpoint)
            self._make_media(sample, video)
            for url, status in sample.refuse.items():
                self.refused[self.cdn_path(url)] = status

    def _rewrite(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._rewrite(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._rewrite(item) for item in value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            host = urlsplit(value).hostname or ""
            if host.endswith((".suno.ai", "googleapis.com")) and host != STREAMING_HOST:
                return self.cdn_url + self.cdn_path(value)
        return value

    def _make_media(self, sample: Sample, video: bytes) -> None:
        for clip in parse_task(sample.payload, sample.task_id).clips:
            for kind in AssetKind:
                asset = clip.asset(kind)
                if asset.state is AssetState.ABSENT or not asset.url:
                    continue
                self.media[self.cdn_path(asset.url)] = _media_for(kind, asset.url, clip.clip_id,
                                                                  clip.duration, video)


def _media_for(kind: AssetKind, url: str, seed: str, seconds: float | None, video: bytes) -> bytes:
    if kind is AssetKind.VIDEO:
        return video
    return _made(kind, url.lower().endswith(".png"), seed, seconds)


@functools.lru_cache(maxsize=256)
def _made(kind: AssetKind, png: bool, seed: str, seconds: float | None) -> bytes:
    """Media are deterministic: made once per process, however many servers start."""
    if kind is AssetKind.AUDIO:
        return silent_mp3(seconds or 30.0)
    return cover_image(seed, (1024, 1024), "PNG" if png else "JPEG")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a run stopping on a rejected key, or killed) is
        no error of the server's: only anything else gets the standard report."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        return None  # the demo prints its own summary

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        demo: DemoServer = self.server.demo  # type: ignore[attr-defined]
        role: str = self.server.role  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        with demo._lock:
            demo.requests.append(Request(role, "GET", path, dict(self.headers.items()), query))
            queue = demo.scripts.get(path)
            scripted = queue.pop(0) if queue else None
        if scripted is not None:
            self._send(scripted.status, scripted.body, scripted.headers)
        elif role == "api":
            self._api(demo, path)
        else:
            self._cdn(demo, path)

    def _api(self, demo: DemoServer, path: str) -> None:
        if path == HISTORY_PATH:
            self._send(200, demo.history_page(self.path), {"content-type": "application/json"})
            return
        body = demo._tasks.get(path)
        if body is None:
            self._send(404, b'{"code": 404, "data": null, "message": "task not found"}',
                       {"content-type": "application/json"})
        else:
            self._send(200, body, {"content-type": "application/json"})

    def _cdn(self, demo: DemoServer, path: str) -> None:
        body = demo.media.get(path)
        if path in demo.refused:
            self._send(demo.refused[path], b"Missing Key-Pair-Id", {"content-type": "text/plain"})
            return
        if body is None:
            self._send(404, b"<html><body>Not Found</body></html>", {"content-type": "text/html"})
            return
        wanted = _RANGE.match(self.headers.get("range", "").strip())
        if wanted is None:
            self._send(200, body, {"accept-ranges": "bytes"})
            return
        start, end = _byte_range(wanted, len(body))
        if start >= len(body) or start > end:
            self._send(416, b"", {"content-range": f"bytes */{len(body)}"})
            return
        self._send(206, body[start:end + 1],
                   {"content-range": f"bytes {start}-{end}/{len(body)}", "accept-ranges": "bytes"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        demo: DemoServer = self.server.demo  # type: ignore[attr-defined]
        rate = demo.throttle if self.server.role == "cdn" else None  # type: ignore[attr-defined]
        if not rate:
            self.wfile.write(body)
            return
        step = max(1024, int(rate / 20))
        for start in range(0, len(body), step):
            self.wfile.write(body[start:start + step])
            self.wfile.flush()
            time.sleep(step / rate)


def _byte_range(match: re.Match[str], size: int) -> tuple[int, int]:
    first, last = match[1], match[2]
    if not first:  # a suffix range: the last N bytes
        count = int(last or 0)
        return max(0, size - count), size - 1
    return int(first), min(int(last), size - 1) if last else size - 1

