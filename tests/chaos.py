"""A fault-injecting PiAPI and CDN on 127.0.0.1: real sockets, a fault drawn for each request.

Three listeners are three origins: `api` (PiAPI's `GET /api/v1/task/{id}`), `cdn` (the media)
and `mirror` (another CDN host, which redirect chains pass through). Each answer is drawn from
a `random.Random` seeded with (seed, listener, path, how many times that path was asked), so
a schedule replays identically whatever order concurrent requests arrive in.

Every task answer carries fresh signed media URLs (`?sig=N`, N counting the answers), as Suno's
CDN links do. With `expiring`, the CDN refuses (403) any but the newest signature handed out
for a file, as an expired link; otherwise it ignores the query. `force(path, fault, share)`
queues a fault for the next request of a path (`share`: where a cut falls, 0 to 1). The
faults, by name (`FAULTS`):

    reset           honest headers, then the connection is reset (RST) at a random byte
    stall           honest headers and some bytes, then nothing until the client gives up
    pause           a short pause mid-body, then the rest (must be accepted)
    short           Content-Length says N, fewer bytes come, the connection closes
    short-close     no Content-Length; the connection closes early (looks complete!)
    wrong-range     206 whose Content-Range starts elsewhere than asked (and its bytes)
    ignore-range    200 and the whole body, whatever Range asked
    429 429+ra 500 500+ra 503 503+ra   that status; `+ra` with a Retry-After: 0, 1, an
                    hour, or an HTTP date
    html200         200 text/html error page
    403-then-ok     403 "Missing Key-Pair-Id"; the next request for the path is answered
    redirect-chain  1 to 4 redirects (across the three origins for media) to the real thing
    redirect-loop   302 to itself, for ever
    redirect-away   (API only) 302 to another origin: the key must not follow
    gzip            Content-Encoding: gzip over the whole body (Range ignored)
    empty200        200 with an empty body

`injected` counts the faults acted out; `requests` records every request with its headers.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import json
import random
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from io import BufferedIOBase
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["API_FAULTS", "CDN_FAULTS", "FAULTS", "ChaosServer", "Seen", "TASK_PATH"]

TASK_PATH = "/api/v1/task/"
CDN_FAULTS = (
    "reset", "stall", "pause", "short", "short-close", "wrong-range", "ignore-range",
    "429", "429+ra", "500", "500+ra", "503", "503+ra", "html200", "403-then-ok",
    "redirect-chain", "redirect-loop", "gzip", "empty200",
)
API_FAULTS = (
    "reset", "stall", "pause", "short", "short-close", "429", "429+ra", "500", "500+ra",
    "503", "503+ra", "html200", "redirect-chain", "redirect-loop", "redirect-away", "gzip",
    "empty200",
)
FAULTS = tuple(dict.fromkeys(CDN_FAULTS + API_FAULTS))
STALL_SECONDS = 2.0  # longer than the client's read timeout in the tests
_PIECE = 16 * 1024
_HTML = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
         b"<body><h1>Bad Gateway</h1></body></html>")
_REASONS = {200: "OK", 206: "Partial Content", 302: "Found", 403: "Forbidden",
            404: "Not Found", 416: "Range Not Satisfiable", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as it arrived."""

    role: str  # api / cdn / mirror
    target: str  # path and query
    headers: dict[str, str]  # names lower-cased
    fault: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass(slots=True)
class _Answer:
    """What one request gets: the body at `path`, the Range asked, and a way to write."""

    role: str
    path: str
    query: str
    body: bytes
    content_type: str
    range_start: int | None
    out: BufferedIOBase
    connection: socket.socket
    rng: random.Random
    share: float | None = None  # where a cut falls (forced faults), else drawn

    def cut(self, size: int) -> int:
        """How many of `size` bytes go out before the fault (always fewer than all)."""
        if size <= 0:
            return 0
        if self.share is None:
            return self.rng.randrange(size)
        return min(size - 1, int(size * self.share))


class ChaosServer:
    """`with ChaosServer(seed, rate, faults) as server:`; `publish()` the tasks, then run."""

    def __init__(self, seed: int, rate: float, faults: frozenset[str] | None = None) -> None:
        self.seed = seed
        self.rate = rate
        self.faults = frozenset(FAULTS if faults is None else faults)
        self.enabled = True
        self.expiring = False
        self.requests: list[Seen] = []
        self.injected: Counter[str] = Counter()
        self.media: dict[str, bytes] = {}
        self._tasks: dict[str, Any] = {}  # path → payload with URLs relative to the CDN
        self._hits: Counter[str] = Counter()
        self._clean_next: set[str] = set()
        self._forced: dict[str, list[tuple[str, float | None]]] = {}
        self._newest_sig: dict[str, str] = {}
        self._answers = 0
        self._lock = threading.Lock()
        self._servers = {role: _Server(self, role) for role in ("api", "cdn", "mirror")}
        self.urls = {role: f"http://127.0.0.1:{srv.server_address[1]}"
                     for role, srv in self._servers.items()}

    @property
    def api_url(self) -> str:
        return self.urls["api"]

    def publish(self, payload: Any, media: dict[str, bytes]) -> None:
        """Serve `payload`, whose media URLs are CDN paths ("/m/x.mp3"); `media` adds bytes
        for paths (the `media` attribute holds them all)."""
        with self._lock:
            self._tasks[TASK_PATH + payload["data"]["task_id"]] = payload
            self.media.update(media)

    def force(self, path: str, fault: str, share: float | None = None) -> None:
        """Act out `fault` for the next request of `path`, whatever the schedule says."""
        with self._lock:
            self._forced.setdefault(path, []).append((fault, share))

    def __enter__(self) -> ChaosServer:
        for srv in self._servers.values():
            threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for srv in self._servers.values():
            srv.shutdown()
            srv.server_close()

    # one request -------------------------------------------------------------------------

    def handle(self, role: str, target: str, headers: dict[str, str], out: BufferedIOBase,
               connection: socket.socket) -> None:
        parts = urlsplit(target)
        if parts.path.startswith("/hop/"):
            self._record(role, target, headers, None)
            self._hop(parts.path, parts.query, out)
            return
        found = self._content(role, parts.path)
        fault, rng, share = self._draw(role, parts.path, found is not None)
        if fault is None and found is not None and self._expired(role, parts.path, parts.query):
            fault = "expired"
            with self._lock:
                self.injected[fault] += 1
        self._record(role, target, headers, fault)
        if found is None:
            _whole(out, 404, b'{"code": 404, "data": null, "message": "not found"}',
                   "application/json")
            return
        body, ctype = found
        answer = _Answer(role, parts.path, parts.query, body, ctype, _range_start(headers),
                         out, connection, rng, share)
        (_FAULTS[fault] if fault else _honest)(self, answer)

    def _expired(self, role: str, path: str, query: str) -> bool:
        if not self.expiring or role == "api":
            return False
        with self._lock:
            newest = self._newest_sig.get(path)
        return newest is not None and query != f"sig={newest}"

    def _content(self, role: str, path: str) -> tuple[bytes, str] | None:
        with self._lock:
            if role == "api":
                payload = self._tasks.get(path)
                if payload is None:
                    return None
                self._answers += 1
                return self._signed(payload, self._answers), "application/json"
            data = self.media.get(path)
        return (data, "application/octet-stream") if data is not None else None

    def _signed(self, payload: Any, number: int) -> bytes:
        def rewrite(value: Any) -> Any:
            if isinstance(value, dict):
                return {key: rewrite(item) for key, item in value.items()}
            if isinstance(value, list):
                return [rewrite(item) for item in value]
            if isinstance(value, str) and value.startswith("/m/"):
                self._newest_sig[value] = str(number)
                return f"{self.urls['cdn']}{value}?sig={number}"
            return value

        return json.dumps(rewrite(payload), ensure_ascii=False).encode()

    def _draw(self, role: str, path: str,
              exists: bool) -> tuple[str | None, random.Random, float | None]:
        """The fault for this request (None: an honest answer), its dice, a forced cut."""
        with self._lock:
            self._hits[f"{role}{path}"] += 1
            hit = self._hits[f"{role}{path}"]
            forced_clean = path in self._clean_next
            self._clean_next.discard(path)
            queued = self._forced.get(path)
            forced = queued.pop(0) if queued and exists else None
        rng = random.Random(f"{self.seed}|{role}|{path}|{hit}")
        fault, share = forced if forced else (None, None)
        if fault is None and self.enabled and exists and not forced_clean \
                and rng.random() < self.rate:
            allowed = sorted(self.faults & set(API_FAULTS if role == "api" else CDN_FAULTS))
            fault = rng.choice(allowed) if allowed else None
        if fault is not None:
            with self._lock:
                self.injected[fault] += 1
                if fault == "403-then-ok":
                    self._clean_next.add(path)
        return fault, rng, share

    def _record(self, role: str, target: str, headers: dict[str, str], fault: str | None) -> None:
        with self._lock:
            self.requests.append(Seen(role, target, headers, fault))

    def _hop(self, path: str, query: str, out: BufferedIOBase) -> None:
        """/hop/ROLE/N/real/path: N more hops; the last one leads to ROLE's real path."""
        _, _, role, left, real = path.split("/", 4)
        suffix = f"?{query}" if query else ""
        hops = int(left)
        if hops <= 1:
            location = f"{self.urls[role]}/{real}{suffix}"
        else:
            via = random.Random(f"{self.seed}|{path}").choice(self._hop_origins(role))
            location = f"{via}/hop/{role}/{hops - 1}/{real}{suffix}"
        _whole(out, 302, b"", "text/plain", Location=location)

    def _hop_origins(self, role: str) -> list[str]:
        return [self.urls["api"]] if role == "api" else list(self.urls.values())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, chaos: ChaosServer, role: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.chaos = chaos
        self.role = role


class _Handler(socketserver.StreamRequestHandler):
    server: _Server
    timeout = 30

    def handle(self) -> None:
        line = self.rfile.readline(65536).decode("latin-1").strip()
        if not line:
            return
        _, target, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        while header := self.rfile.readline(65536).decode("latin-1").strip():
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        with contextlib.suppress(OSError):  # the client hung up: as it may
            self.server.chaos.handle(self.server.role, target, headers, self.wfile,
                                     self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()


# answers ----------------------------------------------------------------------------------


def _head(out: BufferedIOBase, status: int, headers: dict[str, object]) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Connection: close", "", ""]
    out.write("\r\n".join(lines).encode("latin-1"))


def _whole(out: BufferedIOBase, status: int, data: bytes, ctype: str, **extra: object) -> None:
    _head(out, status, {"Content-Type": ctype, "Content-Length": len(data), **extra})
    out.write(data)


def _range_start(headers: dict[str, str]) -> int | None:
    value = headers.get("range", "")
    if not value.startswith("bytes="):
        return None
    first = value[len("bytes="):].split("-", 1)[0]
    return int(first) if first.isdigit() else None


def _ranged_head(answer: _Answer, *, honour: bool = True) -> tuple[int, bytes] | None:
    """Write an honest status line and headers; the start offset and bytes to send, or None
    when the answer is complete already (416)."""
    body, start = answer.body, answer.range_start if honour else None
    if start is not None and start >= len(body):
        _whole(answer.out, 416, b"", "text/plain", **{"Content-Range": f"bytes */{len(body)}"})
        return None
    first = start or 0
    headers: dict[str, object] = {"Content-Type": answer.content_type,
                                  "Content-Length": len(body) - first}
    if start is not None:
        headers["Content-Range"] = f"bytes {first}-{len(body) - 1}/{len(body)}"
    _head(answer.out, 206 if start is not None else 200, headers)
    return first, body[first:]


def _send(out: BufferedIOBase, data: bytes, pause_at: int | None = None) -> None:
    for at in range(0, len(data), _PIECE):
        if pause_at is not None and at <= pause_at < at + _PIECE:
            time.sleep(0.2)
        out.write(data[at:at + _PIECE])


def _honest(chaos: ChaosServer, answer: _Answer) -> None:
    if answer.role == "api":
        _whole(answer.out, 200, answer.body, answer.content_type)
        return
    sent = _ranged_head(answer)
    if sent is not None:
        _send(answer.out, sent[1])


def _cut(answer: _Answer) -> bytes | None:
    """Honest headers, then the bytes sent before the fault (a random share of the rest)."""
    sent = _ranged_head(answer) if answer.role != "api" else (0, answer.body)
    if sent is None:
        return None
    if answer.role == "api":
        _head(answer.out, 200, {"Content-Type": answer.content_type,
                                "Content-Length": len(answer.body)})
    rest = sent[1]
    return rest[:answer.cut(len(rest))]


def _reset(chaos: ChaosServer, answer: _Answer) -> None:
    part = _cut(answer)
    if part is None:
        return
    _send(answer.out, part)
    answer.out.flush()
    answer.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    answer.connection.close()  # with linger 0: RST, not FIN


def _stall(chaos: ChaosServer, answer: _Answer) -> None:
    part = _cut(answer)
    if part is None:
        return
    _send(answer.out, part)
    answer.out.flush()
    time.sleep(STALL_SECONDS)


def _pause(chaos: ChaosServer, answer: _Answer) -> None:
    if answer.role == "api":
        _head(answer.out, 200, {"Content-Type": answer.content_type,
                                "Content-Length": len(answer.body)})
        _send(answer.out, answer.body, pause_at=len(answer.body) // 2)
        return
    sent = _ranged_head(answer)
    if sent is not None:
        _send(answer.out, sent[1], pause_at=answer.rng.randrange(len(sent[1]) or 1))


def _short(chaos: ChaosServer, answer: _Answer) -> None:
    part = _cut(answer)
    if part is not None:
        _send(answer.out, part)  # then the connection closes cleanly (FIN)


def _short_close(chaos: ChaosServer, answer: _Answer) -> None:
    _head(answer.out, 200, {"Content-Type": answer.content_type})
    _send(answer.out, answer.body[:max(1, answer.cut(len(answer.body)))])


def _wrong_range(chaos: ChaosServer, answer: _Answer) -> None:
    size, asked = len(answer.body), answer.range_start
    choices = [at for at in (0, (asked or 0) // 2, (asked or 0) + 1, size // 3) if at != asked]
    start = min(answer.rng.choice(choices), size - 1)
    _head(answer.out, 206, {"Content-Type": answer.content_type, "Content-Length": size - start,
                            "Content-Range": f"bytes {start}-{size - 1}/{size}"})
    _send(answer.out, answer.body[start:])


def _ignore_range(chaos: ChaosServer, answer: _Answer) -> None:
    _ranged_head(answer, honour=False)
    _send(answer.out, answer.body)


def _status(code: int, retry_after: bool) -> Callable[[ChaosServer, _Answer], None]:
    def act(chaos: ChaosServer, answer: _Answer) -> None:
        extra: dict[str, object] = {}
        if retry_after:
            extra["Retry-After"] = answer.rng.choice(
                ["0", "1", "3600", email.utils.formatdate(time.time() + 1, usegmt=True)])
        _whole(answer.out, code, f"error {code}".encode(), "text/plain", **extra)

    return act


def _html200(chaos: ChaosServer, answer: _Answer) -> None:
    _whole(answer.out, 200, _HTML, "text/html; charset=utf-8")


def _forbidden(chaos: ChaosServer, answer: _Answer) -> None:
    _whole(answer.out, 403, b"Missing Key-Pair-Id", "text/plain")


def _expired_link(chaos: ChaosServer, answer: _Answer) -> None:
    _whole(answer.out, 403, b"<Error><Code>AccessDenied</Code><Message>Request has expired"
                            b"</Message></Error>", "application/xml")


def _redirect_chain(chaos: ChaosServer, answer: _Answer) -> None:
    hops = answer.rng.randint(1, 3 if answer.role == "api" else 4)
    via = answer.rng.choice(chaos._hop_origins(answer.role))
    role = "api" if answer.role == "api" else "cdn"
    query = f"?{answer.query}" if answer.query else ""
    location = f"{via}/hop/{role}/{hops}{answer.path}{query}"
    _whole(answer.out, 302, b"", "text/plain", Location=location)


def _redirect_loop(chaos: ChaosServer, answer: _Answer) -> None:
    query = f"?{answer.query}" if answer.query else ""
    _whole(answer.out, 302, b"", "text/plain", Location=f"{answer.path}{query}")


def _redirect_away(chaos: ChaosServer, answer: _Answer) -> None:
    _whole(answer.out, 302, b"", "text/plain", Location=f"{chaos.urls['mirror']}{answer.path}")


def _gzip(chaos: ChaosServer, answer: _Answer) -> None:
    packed = gzip.compress(answer.body, mtime=0)
    _whole(answer.out, 200, packed, answer.content_type, **{"Content-Encoding": "gzip"})


def _empty200(chaos: ChaosServer, answer: _Answer) -> None:
    _whole(answer.out, 200, b"", answer.content_type)


_FAULTS: dict[str, Callable[[ChaosServer, _Answer], None]] = {
    "reset": _reset, "stall": _stall, "pause": _pause, "short": _short,
    "short-close": _short_close, "wrong-range": _wrong_range, "ignore-range": _ignore_range,
    "429": _status(429, False), "429+ra": _status(429, True),
    "500": _status(500, False), "500+ra": _status(500, True),
    "503": _status(503, False), "503+ra": _status(503, True),
    "html200": _html200, "403-then-ok": _forbidden, "redirect-chain": _redirect_chain,
    "redirect-loop": _redirect_loop, "redirect-away": _redirect_away, "gzip": _gzip,
    "empty200": _empty200, "expired": _expired_link,
}
assert set(_FAULTS) == {*FAULTS, "expired"}
