"""A real HTTP/1.1 server on 127.0.0.1 whose URL path names the failure to act out.

A broken download can only be simulated with a real socket (httpx's in-process transports
buffer whole bodies), so this is a small threaded server writing raw bytes. Like yt-dlp's test
server, the first path segment names the mode and the rest names a body added with `add()`:

    /ok/NAME               honours Range (206 + Content-Range, 416 `bytes */SIZE` past the end)
    /drop/NAME?at=N&times=K    the first K answers (default 1) stop after N body bytes
                           (default half) and close; later ones behave like /ok
    /drop/NAME?pos=P&times=K   the same, but they stop at byte P of the file, wherever they began
    /capped/NAME?max=N     206 with at most N bytes to any request, as CDNs that cut ranges do
    /no-range/NAME         ignores Range: always 200 and the whole body
    /wrong-range/NAME      answers a Range with 206 `bytes 0-…`, not the offset asked
    /short/NAME?extra=N    claims N more bytes than it has (also in Content-Range), then closes
    /416-complete/NAME     answers any Range with 416 `bytes */SIZE`
    /html/NAME             200 text/html error page
    /status/CODE           that status, a short text body
    /503-then-ok/NAME?times=K&after=S   503 with Retry-After: S (default 1) K times, then /ok
    /429/NAME?after=S      429 forever (Retry-After only when `after` is given)
    /redirect/?to=URL      302 to URL (another instance = another origin; ftp:// works too)
    /loop/NAME             302 to itself, for ever
    /slow/NAME?chunk=N&delay=S   dribbles N bytes (default 4096) every S seconds (0.002)
    /gzip/NAME?chunk=N&delay=S   Content-Encoding: gzip over the whole body, Range ignored;
                           with `chunk`, the gzip bytes are dribbled N at a time
    /gzip-cut/NAME         gzip without Content-Length, cut half-way, then closes
    /gzip-206/NAME         gzip, and a Range is applied to the gzip bytes (206)
    /gzip-multi/NAME       gzip as two members, one after the other (as `cat a.gz b.gz`)
    /gzip-corrupt/NAME     gzip whose deflate data is damaged half-way
    /encoded/NAME?as=br    the body as it is, labelled with that Content-Encoding
    /chunked-drop/NAME?at=N&times=K    chunked; the first K answers close before the last chunk
    /empty/NAME            200 with an empty body
    /no-length/NAME        200 without Content-Length; the end is the connection closing
    /endless/NAME          the body, then zeros for ever, without Content-Length

Every connection carries one request and is closed (`Connection: close`), so the number of
handlers running at once is the number of open connections. Stateful modes count per target
(path and query), so each test is deterministic. Every request is recorded.
"""

from __future__ import annotations

import contextlib
import gzip
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from types import TracebackType
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

__all__ = ["BytesBody", "FaultServer", "LazyBody", "Recorded"]

_PIECE = 64 * 1024
_ZEROS = bytes(_PIECE)
_HTML = b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>Denied</body>"
_REASONS = {200: "OK", 206: "Partial Content", 302: "Found", 403: "Forbidden",
            404: "Not Found", 410: "Gone", 416: "Range Not Satisfiable",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


class Body(Protocol):
    @property
    def size(self) -> int: ...

    def chunks(self, start: int, stop: int) -> Iterator[bytes]: ...


class BytesBody:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        view = memoryview(self.data)
        for at in range(start, stop, _PIECE):
            yield bytes(view[at:min(stop, at + _PIECE)])


class LazyBody:
    """`head` then zeros up to `size`, made as it is sent (a 200 MiB body costs no memory)."""

    def __init__(self, head: bytes, size: int) -> None:
        self.head = head
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        at = start
        if at < len(self.head):
            yield self.head[at:stop]
            at = min(stop, len(self.head))
        while at < stop:
            step = min(_PIECE, stop - at)
            yield _ZEROS if step == _PIECE else _ZEROS[:step]
            at += step


@dataclass(frozen=True)
class Recorded:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # names lower-cased

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


class _Exchange:
    """One request on one connection, and the means to answer (or break) it."""

    def __init__(self, server: FaultServer, out: BufferedIOBase, request: Recorded) -> None:
        self.server = server
        self.out = out
        self.request = request
        self._host = request.headers.get("host", "").rsplit(":", 1)[0]
        self._open = True
        server.opened(self._host)
        parts = urlsplit(request.target)
        self.query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.mode, _, self.name = parts.path.lstrip("/").partition("/")
        self.hit = server.count_hit(request.target)

    def release(self) -> None:
        if self._open:
            self._open = False
            self.server.closed(self._host)

    def number(self, key: str, default: float) -> float:
        return float(self.query.get(key, default))

    @property
    def body(self) -> Body:
        return self.server.bodies[self.name]

    @property
    def range_start(self) -> int | None:
        value = self.request.range
        if not value or not value.startswith("bytes="):
            return None
        first = value[len("bytes="):].split("-", 1)[0]
        return int(first) if first.isdigit() else None

    def head(self, status: int, headers: dict[str, object]) -> None:
        self.out.write(_status_and_headers(status, headers))

    def whole(self, status: int, data: bytes, ctype: str = "text/plain",
              **extra: object) -> None:
        head = _status_and_headers(
            status, {"Content-Type": ctype, "Content-Length": len(data), **extra})
        self.release()  # see send()
        self.out.write(head + data)

    def send(self, chunks: Iterator[bytes], cut: int | None = None, delay: float = 0) -> None:
        """Write the chunks; with `cut`, stop after that many bytes (the caller then closes)."""
        sent = 0
        for chunk, last in _marking_last(chunks):
            piece = chunk if cut is None else chunk[:max(0, cut - sent)]
            sent += len(piece)
            if last or (cut is not None and sent >= cut):
                # Stop counting this connection before its last byte: once the client has that
                # byte it may open the next connection, and must not be counted twice.
                self.release()
                self.out.write(piece)
                return
            self.out.write(piece)
            time.sleep(delay)

    def ranged(self, *, honour: bool = True, claim: int | None = None,
               cut: int | None = None, delay: float = 0) -> None:
        """Serve the body like a good server; `claim` is the size it pretends the body has."""
        body = self.body
        size = body.size if claim is None else claim
        start = self.range_start if honour else None
        if start is not None and start >= size:
            self.whole(416, b"", **{"Content-Range": f"bytes */{size}"})
            return
        first = start or 0
        headers: dict[str, object] = {"Content-Type": "application/octet-stream",
                                      "Content-Length": size - first}
        if start is not None:
            headers["Content-Range"] = f"bytes {first}-{size - 1}/{size}"
        self.head(206 if start is not None else 200, headers)
        self.send(body.chunks(first, min(size, body.size)), cut, delay)


def _status_and_headers(status: int, headers: dict[str, object]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _ok(ex: _Exchange) -> None:
    ex.ranged()


def _drop(ex: _Exchange) -> None:
    if ex.hit > ex.number("times", 1):
        ex.ranged()
    elif "pos" in ex.query:
        ex.ranged(cut=max(0, int(ex.query["pos"]) - (ex.range_start or 0)))
    else:
        ex.ranged(cut=int(ex.number("at", ex.body.size // 2)))


def _capped(ex: _Exchange) -> None:
    size, start = ex.body.size, ex.range_start or 0
    stop = min(size, start + int(ex.number("max", 65536)))
    ex.head(206, {"Content-Length": stop - start,
                  "Content-Range": f"bytes {start}-{stop - 1}/{size}"})
    ex.send(ex.body.chunks(start, stop))


def _no_range(ex: _Exchange) -> None:
    ex.ranged(honour=False)


def _wrong_range(ex: _Exchange) -> None:
    if ex.range_start is None:
        ex.ranged()
        return
    size = ex.body.size
    ex.head(206, {"Content-Length": size, "Content-Range": f"bytes 0-{size - 1}/{size}"})
    ex.send(ex.body.chunks(0, size))


def _short(ex: _Exchange) -> None:
    ex.ranged(claim=ex.body.size + int(ex.number("extra", 100)))


def _416_complete(ex: _Exchange) -> None:
    if ex.range_start is None:
        ex.ranged()
    else:
        ex.whole(416, b"", **{"Content-Range": f"bytes */{ex.body.size}"})


def _html(ex: _Exchange) -> None:
    ex.whole(200, _HTML, "text/html; charset=utf-8")


def _status(ex: _Exchange) -> None:
    code = int(ex.name)
    ex.whole(code, f"error {code}: {_REASONS.get(code, '')}".encode())


def _503_then_ok(ex: _Exchange) -> None:
    if ex.hit <= ex.number("times", 1):
        ex.whole(503, b"busy", **{"Retry-After": ex.query.get("after", "1")})
    else:
        ex.ranged()


def _429(ex: _Exchange) -> None:
    extra = {"Retry-After": ex.query["after"]} if "after" in ex.query else {}
    ex.whole(429, b"slow down", **extra)


def _redirect(ex: _Exchange) -> None:
    ex.whole(302, b"", **{"Location": ex.query["to"]})


def _loop(ex: _Exchange) -> None:
    ex.whole(302, b"", **{"Location": ex.request.target})


def _slow(ex: _Exchange) -> None:
    piece = int(ex.number("chunk", 4096))
    body = ex.body
    start = ex.range_start or 0
    chunks = (b for at in range(start, body.size, piece)
              for b in body.chunks(at, min(body.size, at + piece)))
    if ex.range_start is not None:
        ex.head(206, {"Content-Length": body.size - start,
                      "Content-Range": f"bytes {start}-{body.size - 1}/{body.size}"})
    else:
        ex.head(200, {"Content-Length": body.size})
    ex.send(chunks, delay=ex.number("delay", 0.002))


def _gzipped(ex: _Exchange) -> bytes:
    return gzip.compress(b"".join(ex.body.chunks(0, ex.body.size)), mtime=0)


def _gzip(ex: _Exchange) -> None:
    packed = _gzipped(ex)
    if "chunk" not in ex.query:
        ex.whole(200, packed, "audio/mpeg", **{"Content-Encoding": "gzip"})
        return
    piece = int(ex.query["chunk"])
    ex.head(200, {"Content-Type": "audio/mpeg", "Content-Encoding": "gzip",
                  "Content-Length": len(packed)})
    ex.send((packed[at:at + piece] for at in range(0, len(packed), piece)),
            delay=ex.number("delay", 0.001))


def _gzip_cut(ex: _Exchange) -> None:
    packed = _gzipped(ex)
    ex.head(200, {"Content-Type": "audio/mpeg", "Content-Encoding": "gzip"})
    ex.out.write(packed[:len(packed) // 2])


def _gzip_206(ex: _Exchange) -> None:
    packed = _gzipped(ex)
    start = ex.range_start
    if start is None or start >= len(packed):
        _gzip(ex)
        return
    ex.whole(206, packed[start:], "audio/mpeg", **{
        "Content-Encoding": "gzip",
        "Content-Range": f"bytes {start}-{len(packed) - 1}/{len(packed)}"})


def _gzip_multi(ex: _Exchange) -> None:
    data = b"".join(ex.body.chunks(0, ex.body.size))
    half = len(data) // 2
    packed = gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)
    ex.whole(200, packed, "audio/mpeg", **{"Content-Encoding": "gzip"})


def _gzip_corrupt(ex: _Exchange) -> None:
    packed = bytearray(_gzipped(ex))
    middle = len(packed) // 2
    packed[middle:middle + 16] = b"\xff" * 16
    ex.whole(200, bytes(packed), "audio/mpeg", **{"Content-Encoding": "gzip"})


def _encoded(ex: _Exchange) -> None:
    data = b"".join(ex.body.chunks(0, ex.body.size))
    ex.whole(200, data, "audio/mpeg", **{"Content-Encoding": ex.query["as"]})


def _chunked_drop(ex: _Exchange) -> None:
    body = ex.body
    cut = int(ex.number("at", body.size // 2)) if ex.hit <= ex.number("times", 1) else None
    start = ex.range_start or 0
    if ex.range_start is None:
        ex.head(200, {"Transfer-Encoding": "chunked"})
    else:
        ex.head(206, {"Transfer-Encoding": "chunked",
                      "Content-Range": f"bytes {start}-{body.size - 1}/{body.size}"})
    stop = body.size if cut is None else min(body.size, start + cut)
    for chunk in body.chunks(start, stop):
        ex.out.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    if cut is None:
        ex.out.write(b"0\r\n\r\n")


def _empty(ex: _Exchange) -> None:
    ex.whole(200, b"", "audio/mpeg")


def _no_length(ex: _Exchange) -> None:
    ex.head(200, {"Content-Type": "application/octet-stream"})
    ex.send(ex.body.chunks(0, ex.body.size))


def _endless(ex: _Exchange) -> None:
    ex.head(200, {"Content-Type": "audio/mpeg"})
    ex.send(ex.body.chunks(0, ex.body.size))
    while True:
        ex.out.write(_ZEROS)


MODES: dict[str, Callable[[_Exchange], None]] = {
    "ok": _ok, "drop": _drop, "capped": _capped, "no-range": _no_range, "wrong-range": _wrong_range,
    "short": _short, "416-complete": _416_complete, "html": _html, "status": _status,
    "503-then-ok": _503_then_ok, "429": _429, "redirect": _redirect, "loop": _loop,
    "slow": _slow, "gzip": _gzip, "gzip-cut": _gzip_cut, "gzip-206": _gzip_206,
    "gzip-multi": _gzip_multi, "gzip-corrupt": _gzip_corrupt, "encoded": _encoded,
    "chunked-drop": _chunked_drop, "empty": _empty, "no-length": _no_length,
    "endless": _endless,
}


class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer
    timeout = 10

    def handle(self) -> None:
        request = _read_request(self.rfile)
        if request is None:
            return
        fault = self.server.fault
        fault.record(request)
        exchange = _Exchange(fault, self.wfile, request)
        try:
            MODES[exchange.mode](exchange)
        except OSError:
            return  # the client hung up (as it should, e.g. past max_bytes)
        finally:
            exchange.release()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()


def _read_request(rfile: BufferedIOBase) -> Recorded | None:
    line = rfile.readline(65536).decode("latin-1").strip()
    if not line:
        return None
    method, target, _ = line.split(" ", 2)
    headers: dict[str, str] = {}
    while (header := rfile.readline(65536).decode("latin-1").strip()):
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Recorded(method, target, headers)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    fault: FaultServer


class FaultServer:
    """Start with `with FaultServer() as server:`; `server.url("/drop/a.mp3")` is a full URL."""

    def __init__(self) -> None:
        self.bodies: dict[str, Body] = {}
        self.requests: list[Recorded] = []
        self.peak = 0  # most connections open at once
        self.peak_by_host: Counter[str] = Counter()
        self._active: Counter[str] = Counter()
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tcp = _TCPServer(("127.0.0.1", 0), _Handler)
        self._tcp.fault = self
        self._thread = threading.Thread(target=self._tcp.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._tcp.server_address[1])

    def url(self, target: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{target}"

    def add(self, name: str, body: bytes | Body) -> None:
        self.bodies[name] = BytesBody(body) if isinstance(body, bytes) else body

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def count_hit(self, target: str) -> int:
        with self._lock:
            self._hits[target] += 1
            return self._hits[target]

    def opened(self, host: str) -> None:
        with self._lock:
            self._active[host] += 1
            self.peak_by_host[host] = max(self.peak_by_host[host], self._active[host])
            self.peak = max(self.peak, sum(self._active.values()))

    def closed(self, host: str) -> None:
        with self._lock:
            self._active[host] -= 1

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._tcp.shutdown()
        self._tcp.server_close()
        self._thread.join(timeout=5)



def _marking_last(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    previous: bytes | None = None
    for chunk in chunks:
        if previous is not None:
            yield previous, False
        previous = chunk
    if previous is not None:
        yield previous, True
