"""The download pool's network backend (archiver/netstream.py) against real sockets.

`AsyncioTransport` (archiver/clients.py) runs httpx's connection pool on
`netstream.AsyncioBackend`, plain asyncio, instead of anyio. These tests talk to small servers
on 127.0.0.1 (plain HTTP, and TLS with a throwaway CA from trustme) and check what downloads
rely on:

- bodies arrive byte for byte (sized, chunked, or ended by the server closing), and really
  through the backend;
- a keep-alive connection is reused, and one the server closed while it sat idle is not;
- timeouts, refused connections and connections cut in the middle of a body raise httpx's
  errors, never a short body;
- reading pauses when the reader falls behind, so what the backend holds stays bounded, and
  writing waits (or times out) when the server does not read;
- TLS checks the certificate and its name;
- `get_extra_info` answers what httpcore asks of a stream;
- in `http_client`, the proxies httpx takes from the environment still win over the backend.

No test leaves the machine: `example.invalid` only ever reaches a local proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest
import trustme

from archiver import clients, netstream
from archiver.clients import AsyncioTransport, http_client
from archiver.netstream import HIGH_WATER, AsyncioBackend, AsyncioStream

KiB = 1024
MiB = 1024 * KiB
ASYNCIO_READ = 256 * KiB  # the most an asyncio socket transport hands over at once
PROXY_BODY = b"answered by the proxy"
DIRECT_BODY = b"answered by the origin"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                   "http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


def _random(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# --- a small raw-socket HTTP/1.1 server ------------------------------------------------------


@dataclass(frozen=True)
class Request:
    line: str  # the request line, e.g. "GET /ok/a HTTP/1.1"
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


class Conn:
    """One accepted connection, as a handler sees it."""

    def __init__(self, sock: socket.socket, server: Server) -> None:
        self.sock = sock
        self.server = server
        self._rfile: BinaryIO = sock.makefile("rb")

    def request(self) -> Request | None:
        """The next request on the connection (None when the client closed it)."""
        line = self._rfile.readline(65536)
        if not line.strip():
            return None
        headers: dict[str, str] = {}
        while header := self._rfile.readline(65536).strip():
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self._rfile.read(int(headers.get("content-length", "0")))
        request = Request(line.decode("latin-1").strip(), headers, body)
        self.server.record(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait(self, seconds: float = 10.0) -> None:
        """Do nothing until the test is over (or `seconds` have passed)."""
        self.server.stopping.wait(seconds)

    def close(self) -> None:
        """Close for real: the file from makefile() holds the socket open too."""
        self._rfile.close()
        self.sock.close()

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()


Handler = Callable[[Conn], None]


class Server:
    """A threaded server on 127.0.0.1: `handler` runs for each accepted connection, in its own
    thread, and the connection is closed when it returns. `accepted` counts connections,
    `requests` records every request read through `Conn.request`."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.accepted = 0
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.02)
        self.port: int = self._listener.getsockname()[1]

    def url(self, path: str = "/") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> Server:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stopping.set()
        self._threads[0].join(5)  # the accept loop: no connection is added after it
        with self._lock:
            socks = list(self._socks)
        for sock in socks:  # wakes handlers blocked reading or writing
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads[1:]:
            thread.join(5)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        conn: Conn | None = None
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
                self._track(sock)
                sock.do_handshake()
            else:
                self._track(sock)
            conn = Conn(sock, self)
            self.handler(conn)
        except OSError:  # ssl.SSLError too: the client went away, or the test is over
            pass
        finally:
            if conn is not None:
                conn.close()
            else:
                sock.close()


def _head(length: int | None, *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [*extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _pieces(data: bytes) -> Iterator[bytes]:
    """`data` in pieces of uneven sizes, for chunked bodies."""
    at = 0
    for size in itertools.cycle([1, 7, 1000, 64 * KiB, 100_003, 3]):
        if at >= len(data):
            return
        yield data[at:at + size]
        at += size


def serve_bodies(bodies: Mapping[str, bytes]) -> Handler:
    """Keep-alive. `/ok/NAME` has a Content-Length, `/chunked/NAME` is chunked and
    `/eof/NAME` has neither (the body ends when the server closes)."""

    def handle(conn: Conn) -> None:
        while (request := conn.request()) is not None:
            framing, _, name = request.path.lstrip("/").partition("/")
            body = bodies[name]
            if framing == "chunked":
                conn.send(_head(None, "Transfer-Encoding: chunked"))
                for piece in _pieces(body):
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
            elif framing == "eof":
                conn.send(_head(None, "Connection: close") + body)
                return
            else:
                conn.send(_head(len(body)) + body)

    return handle


def serve_path_once(conn: Conn) -> None:
    """Answers one request, its path as the body, as for keep-alive; then closes."""
    request = conn.request()
    if request is not None:
        body = request.path.encode()
        conn.send(_head(len(body)) + body)


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (host, port) that `AsyncioBackend.connect_tcp` is asked for."""
    calls: list[tuple[str, int]] = []
    original = AsyncioBackend.connect_tcp

    async def spy(self: AsyncioBackend, host: str, port: int, *args: Any,
                  **kwargs: Any) -> httpcore.AsyncNetworkStream:
        calls.append((host, port))
        return await original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(AsyncioBackend, "connect_tcp", spy)
    return calls


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    return context


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _client(ssl_context: ssl.SSLContext | None = None, timeout: float = 10.0,
            limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    transport = AsyncioTransport(limits or httpx.Limits(), ssl_context=ssl_context)
    assert transport.uses_asyncio_backend is True
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout))


def _server(handler: Handler, scheme: str, server_tls: ssl.SSLContext) -> Server:
    return Server(handler, tls=server_tls if scheme == "https" else None)


def _tls_for(scheme: str, client_tls: ssl.SSLContext) -> ssl.SSLContext | None:
    return client_tls if scheme == "https" else None


SCHEMES = pytest.mark.parametrize("scheme", ["http", "https"])


class _Recording(netstream._Protocol):
    """The backend's protocol, recording what it held and whether its transport paused."""

    def __init__(self) -> None:
        super().__init__()
        self.max_buffered = 0
        self.reading_paused = 0  # data_received calls after which the transport was not reading
        self.writing_paused = 0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.max_buffered = max(self.max_buffered, self._buffered)
        if self.transport is not None and not self.transport.is_reading():
            self.reading_paused += 1

    def pause_writing(self) -> None:
        self.writing_paused += 1
        super().pause_writing()


@pytest.fixture
def protocols(monkeypatch: pytest.MonkeyPatch) -> list[_Recording]:
    """Every protocol the backend makes from now on, as a `_Recording`."""
    made: list[_Recording] = []

    def factory() -> _Recording:
        protocol = _Recording()
        made.append(protocol)
        return protocol

    monkeypatch.setattr(netstream, "_Protocol", factory)
    return made


async def _read_slowly(response: httpx.Response, pause: float) -> bytes:
    received = bytearray()
    async for chunk in response.aiter_raw():
        received += chunk
        await asyncio.sleep(pause)
    return bytes(received)


# --- 1. bodies -------------------------------------------------------------------------------

SIZES = [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * MiB + 17]


@SCHEMES
@pytest.mark.parametrize("framing", ["ok", "chunked", "eof"])
def test_bodies_arrive_byte_identical_through_the_backend(
    scheme: str, framing: str, connects: list[tuple[str, int]],
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext,
) -> None:
    bodies = {str(size): _random(size, seed=size) for size in SIZES}

    async def go(server: Server) -> None:
        async with _client(_tls_for(scheme, client_tls)) as client:
            for size in SIZES:
                response = await client.get(server.url(f"/{framing}/{size}"))
                assert response.status_code == 200
                assert len(response.content) == size
                assert response.content == bodies[str(size)]
                assert isinstance(response.extensions["network_stream"], AsyncioStream)

    with _server(serve_bodies(bodies), scheme, server_tls) as server:
        asyncio.run(go(server))
    assert connects, "AsyncioBackend.connect_tcp was never called"
    assert set(connects) == {("127.0.0.1", server.port)}
    assert len(connects) == server.accepted


# --- 2, 3. keep-alive, and connections the server closed while idle ---------------------------


@SCHEMES
def test_keep_alive_reuses_one_connection(
    scheme: str, connects: list[tuple[str, int]],
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext,
) -> None:
    bodies = {"a": b"first body", "b": _random(100 * KiB)}

    async def go(server: Server) -> None:
        async with _client(_tls_for(scheme, client_tls)) as client:
            first = await client.get(server.url("/ok/a"))
            second = await client.get(server.url("/ok/b"))
            assert (first.content, second.content) == (bodies["a"], bodies["b"])
            assert (first.extensions["network_stream"]
                    is second.extensions["network_stream"])

    with _server(serve_bodies(bodies), scheme, server_tls) as server:
        asyncio.run(go(server))
    assert server.accepted == 1
    assert len(server.requests) == 2
    assert len(connects) == 1


@SCHEMES
def test_connection_closed_by_the_server_while_idle_is_not_reused(
    scheme: str, connects: list[tuple[str, int]],
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext,
) -> None:
    """The server answers as for keep-alive, then closes. httpcore finds out through
    `get_extra_info("is_readable")` before reusing the connection; without it the second
    request goes out on a dead connection and fails (RemoteProtocolError)."""

    async def go(server: Server) -> None:
        async with _client(_tls_for(scheme, client_tls)) as client:
            first = await client.get(server.url("/one"))
            assert first.content == b"/one"
            await asyncio.sleep(0.2)  # the server's FIN arrives meanwhile
            second = await client.get(server.url("/two"))
            assert second.content == b"/two"

    with _server(serve_path_once, scheme, server_tls) as server:
        asyncio.run(go(server))
    assert server.accepted == 2
    assert len(connects) == 2


# --- 4, 5, 6. timeouts, refused and dropped connections --------------------------------------


def _stall_after_headers(conn: Conn) -> None:
    if conn.request() is not None:
        conn.send(_head(100) + b"0123456789")
        conn.wait()


def _never_answer(conn: Conn) -> None:
    if conn.request() is not None:
        conn.wait()


@pytest.mark.parametrize("handler", [_stall_after_headers, _never_answer],
                         ids=["stalls-mid-body", "never-answers"])
def test_read_timeout(handler: Handler) -> None:
    async def go(server: Server) -> None:
        async with _client(timeout=0.3) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(server.url("/x"))

    with Server(handler) as server:
        start = time.monotonic()
        asyncio.run(go(server))
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 1.5


def test_read_timeout_counts_per_read_not_for_the_whole_body() -> None:
    """Eight bytes, one every 80 ms: the body takes longer than the 0.3 s timeout, but no
    single read waits that long, so it arrives (the timer is for one read that waits)."""

    def dribble(conn: Conn) -> None:
        if conn.request() is not None:
            conn.send(_head(8))
            for byte in b"dribbled":
                time.sleep(0.08)
                conn.send(bytes([byte]))
            conn.wait()

    async def go(server: Server) -> bytes:
        async with _client(timeout=0.3) as client:
            return (await client.get(server.url("/x"))).content

    with Server(dribble) as server:
        assert asyncio.run(go(server)) == b"dribbled"


def test_connection_refused_is_a_connect_error(connects: list[tuple[str, int]]) -> None:
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

        async def go() -> None:
            async with _client(timeout=2.0) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(f"http://127.0.0.1:{port}/x")

        asyncio.run(go())
    assert connects == [("127.0.0.1", port)]


BODY_1000 = _random(1000, seed=7)


def _drop(how: str) -> Handler:
    """Promises 1000 bytes and sends 500 of them (chunked: all but the last chunk)."""

    def handle(conn: Conn) -> None:
        if conn.request() is None:
            return
        if how == "chunked":
            conn.send(_head(None, "Transfer-Encoding: chunked"))
            conn.send(b"%x\r\n%s\r\n" % (500, BODY_1000[:500]))
        else:
            conn.send(_head(len(BODY_1000)) + BODY_1000[:500])
        time.sleep(0.05)  # let the client have the bytes before the end
        if how == "rst":
            conn.reset()
        else:
            conn.close()

    return handle


@pytest.mark.parametrize(("scheme", "how"),
                         [("http", "fin"), ("http", "rst"), ("http", "chunked"),
                          ("https", "fin"), ("https", "chunked")])
def test_connection_dropped_mid_body_is_an_error_not_a_short_body(
    scheme: str, how: str, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext,
) -> None:
    received = bytearray()

    async def go(server: Server) -> None:
        async with _client(_tls_for(scheme, client_tls), timeout=5.0) as client, \
                client.stream("GET", server.url("/x")) as response:
            async for chunk in response.aiter_raw():
                received.extend(chunk)

    with _server(_drop(how), scheme, server_tls) as server, \
            pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        asyncio.run(go(server))
    assert len(received) <= 500
    assert bytes(received) == BODY_1000[:len(received)]


# --- 7. flow control -------------------------------------------------------------------------


def test_reading_pauses_when_the_reader_is_slow(protocols: list[_Recording]) -> None:
    """8 MiB sent as fast as the socket takes it, read with a pause after each chunk: the
    backend stops reading above HIGH_WATER, so what it holds stays under HIGH_WATER plus one
    asyncio read (256 KiB), and the body is still whole."""
    body = _random(8 * MiB, seed=8)

    async def go(server: Server) -> bytes:
        async with _client() as client, client.stream("GET", server.url("/ok/big")) as response:
            return await _read_slowly(response, 0.003)

    with Server(serve_bodies({"big": body})) as server:
        received = asyncio.run(go(server))
    assert received == body
    assert len(protocols) == 1
    protocol = protocols[0]
    assert protocol.reading_paused >= 1, "the transport never stopped reading"
    assert HIGH_WATER < protocol.max_buffered <= HIGH_WATER + ASYNCIO_READ


@pytest.mark.parametrize("framing", ["ok", "eof"])
def test_tls_large_body_with_a_slow_reader(
    framing: str, protocols: list[_Recording],
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext,
) -> None:
    """The same over TLS, where asyncio's TLS layer sits between the socket and the backend
    (it holds up to 256 KiB more of its own and may hand it over in one piece). With `eof`
    the server closes right after the last byte, while the reader is still behind."""
    body = _random(8 * MiB + 5, seed=9)

    async def go(server: Server) -> bytes:
        async with _client(client_tls) as client, \
                client.stream("GET", server.url(f"/{framing}/big")) as response:
            return await _read_slowly(response, 0.003)

    with Server(serve_bodies({"big": body}), tls=server_tls) as server:
        received = asyncio.run(go(server))
    assert len(received) == len(body)
    assert received == body
    protocol = protocols[0]
    assert protocol.reading_paused >= 1, "the TLS transport never stopped reading"
    assert protocol.max_buffered <= HIGH_WATER + 2 * ASYNCIO_READ


def _digest_upload(conn: Conn) -> None:
    """Starts reading after a moment; answers each request with the SHA-256 of its body.
    Keep-alive: the connection stays open, so only the backend's `resume_writing` can end
    the client's wait for its write buffer to drain."""
    time.sleep(0.1)
    while (request := conn.request()) is not None:
        digest = hashlib.sha256(request.body).hexdigest().encode()
        conn.send(_head(len(digest)) + digest)


@SCHEMES
def test_large_upload_waits_for_the_server_and_arrives_whole(
    scheme: str, protocols: list[_Recording],
    server_tls: ssl.SSLContext, client_tls: ssl.SSLContext,
) -> None:
    body = _random(16 * MiB, seed=10)

    async def go(server: Server) -> bytes:
        async with _client(_tls_for(scheme, client_tls), timeout=5.0) as client:
            return (await client.post(server.url("/upload"), content=body)).content

    with _server(_digest_upload, scheme, server_tls) as server:
        assert asyncio.run(go(server)) == hashlib.sha256(body).hexdigest().encode()
    if scheme == "http":
        # Over TLS, asyncio's TLS layer hands one large write straight to the socket's
        # transport and never asks the backend to wait, so only plain HTTP checks this.
        assert protocols[0].writing_paused >= 1, "writing never had to wait"


def test_upload_to_a_server_that_never_reads_is_a_write_timeout() -> None:
    def sink(conn: Conn) -> None:
        conn.wait()

    async def go(server: Server) -> None:
        async with _client(timeout=0.3) as client:
            with pytest.raises(httpx.WriteTimeout):
                await client.post(server.url("/upload"), content=bytes(32 * MiB))

    with Server(sink) as server:
        start = time.monotonic()
        asyncio.run(go(server))
        elapsed = time.monotonic() - start
    assert elapsed < 2.0


# --- 8. TLS verification ---------------------------------------------------------------------


def _tls_server(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.mark.parametrize("case", ["other-name", "untrusted-ca"])
def test_tls_certificate_is_verified(case: str, ca: trustme.CA,
                                     client_tls: ssl.SSLContext) -> None:
    context = (_tls_server(ca, "example.org") if case == "other-name"
               else _tls_server(trustme.CA(), "127.0.0.1", "localhost"))

    async def go(server: Server) -> None:
        async with _client(client_tls, timeout=5.0) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(server.url("/ok/a"))

    with Server(serve_bodies({"a": b"secret"}), tls=context) as server:
        asyncio.run(go(server))
    assert server.requests == []  # no request went out over the unverified connection


# --- 9. proxies from the environment, in http_client ------------------------------------------


def _proxy(conn: Conn) -> None:
    """Records requests (server.requests); answers GETs, refuses tunnels (CONNECT)."""
    while (request := conn.request()) is not None:
        if request.line.startswith("CONNECT "):
            conn.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        conn.send(_head(len(PROXY_BODY)) + PROXY_BODY)


def _origin(conn: Conn) -> None:
    while conn.request() is not None:
        conn.send(_head(len(DIRECT_BODY)) + DIRECT_BODY)


def test_http_proxy_from_the_environment_wins(no_proxies: pytest.MonkeyPatch) -> None:
    async def go() -> httpx.Response:
        async with http_client(None, follow=False, connections=2) as client:
            return await client.get("http://example.invalid/x")

    with Server(_proxy) as proxy:
        no_proxies.setenv("HTTP_PROXY", proxy.url(""))
        response = asyncio.run(go())
    assert [r.line for r in proxy.requests] == ["GET http://example.invalid/x HTTP/1.1"]
    assert response.status_code == 200
    assert response.content == PROXY_BODY


def test_https_proxy_from_the_environment_wins(no_proxies: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        async with http_client(None, follow=False, connections=2) as client:
            with pytest.raises(httpx.ProxyError):
                await client.get("https://example.invalid/x")

    with Server(_proxy) as proxy:
        no_proxies.setenv("HTTPS_PROXY", proxy.url(""))
        asyncio.run(go())
    assert [r.line for r in proxy.requests] == ["CONNECT example.invalid:443 HTTP/1.1"]


def test_all_proxy_from_the_environment_wins(no_proxies: pytest.MonkeyPatch) -> None:
    """ALL_PROXY is the proxy for every scheme. httpx mounts it under "all://", the very key
    http_client mounts AsyncioTransport under, so it must not be replaced by it."""

    async def go(origin: Server) -> httpx.Response:
        async with http_client(None, follow=False, connections=2) as client:
            return await client.get(origin.url("/x"))

    with Server(_proxy) as proxy, Server(_origin) as origin:
        no_proxies.setenv("ALL_PROXY", proxy.url(""))
        response = asyncio.run(go(origin))
    assert [r.line for r in proxy.requests] == [f"GET {origin.url('/x')} HTTP/1.1"], (
        "the request did not go through ALL_PROXY")
    assert origin.requests == []
    assert response.content == PROXY_BODY


def test_without_proxies_http_client_uses_the_asyncio_backend(
    no_proxies: pytest.MonkeyPatch, connects: list[tuple[str, int]],
) -> None:
    async def go(origin: Server) -> httpx.Response:
        async with http_client(None, follow=False, connections=2) as client:
            return await client.get(origin.url("/x"))

    with Server(_origin) as origin:
        response = asyncio.run(go(origin))
    assert response.content == DIRECT_BODY
    assert connects == [("127.0.0.1", origin.port)]
    assert isinstance(response.extensions["network_stream"], AsyncioStream)


def test_a_no_proxy_host_bypasses_the_proxy_through_the_asyncio_backend(
    no_proxies: pytest.MonkeyPatch, connects: list[tuple[str, int]],
) -> None:
    """A host exempted by NO_PROXY goes straight to the origin, and (as http_client says of
    every request no proxy takes) through AsyncioTransport, not httpx's default transport."""

    async def go(origin: Server) -> httpx.Response:
        async with http_client(None, follow=False, connections=2) as client:
            return await client.get(origin.url("/x"))

    with Server(_proxy) as proxy, Server(_origin) as origin:
        no_proxies.setenv("HTTP_PROXY", proxy.url(""))
        no_proxies.setenv("NO_PROXY", "127.0.0.1")
        response = asyncio.run(go(origin))
    assert proxy.requests == []
    assert response.content == DIRECT_BODY
    assert connects == [("127.0.0.1", origin.port)], "not through AsyncioBackend"


def test_a_ca_bundle_from_ssl_cert_file_is_trusted(
    no_proxies: pytest.MonkeyPatch, ca: trustme.CA, server_tls: ssl.SSLContext,
    tmp_path: Path, connects: list[tuple[str, int]],
) -> None:
    """A user's own CA (a company proxy's, a private CDN's) comes in through SSL_CERT_FILE,
    as with any httpx program; without it the same server is refused."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))

    async def go(origin: Server) -> httpx.Response:
        async with http_client(None, follow=False, connections=2) as client:
            return await client.get(origin.url("/x"))

    try:
        with Server(_origin, tls=server_tls) as origin:
            clients._tls.cache_clear()  # (made once a process: the first run's environment)
            with pytest.raises(httpx.ConnectError):
                asyncio.run(go(origin))
            no_proxies.setenv("SSL_CERT_FILE", str(bundle))
            clients._tls.cache_clear()
            response = asyncio.run(go(origin))
    finally:
        clients._tls.cache_clear()
    assert response.content == DIRECT_BODY
    assert connects[-1] == ("127.0.0.1", origin.port)


# --- 10. get_extra_info ----------------------------------------------------------------------


def test_get_extra_info_on_a_plain_connection() -> None:
    closing = threading.Event()

    def answer_then_close_on_cue(conn: Conn) -> None:
        if conn.request() is not None:
            conn.send(_head(2) + b"ok")
            closing.wait(5)

    async def go(server: Server) -> None:
        async with _client() as client, client.stream("GET", server.url("/x")) as response:
            assert await response.aread() == b"ok"
            stream = response.extensions["network_stream"]
            assert isinstance(stream, AsyncioStream)
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", server.port)
            client_addr = stream.get_extra_info("client_addr")
            assert client_addr[0] == "127.0.0.1"
            assert stream.get_extra_info("socket").getpeername() == ("127.0.0.1", server.port)
            assert stream.get_extra_info("ssl_object") is None
            assert stream.get_extra_info("no such thing") is None
            assert stream.get_extra_info("is_readable") is False  # idle, nothing pending
            closing.set()  # the server closes its end
            for _ in range(200):
                if stream.get_extra_info("is_readable"):
                    break
                await asyncio.sleep(0.01)
            assert stream.get_extra_info("is_readable") is True

    with Server(answer_then_close_on_cue) as server:
        asyncio.run(go(server))


def test_get_extra_info_on_a_tls_connection(server_tls: ssl.SSLContext,
                                            client_tls: ssl.SSLContext) -> None:
    async def go(server: Server) -> None:
        async with _client(client_tls) as client, \
                client.stream("GET", server.url("/ok/a")) as response:
            assert await response.aread() == b"secure"
            stream = response.extensions["network_stream"]
            assert isinstance(stream, AsyncioStream)
            ssl_object = stream.get_extra_info("ssl_object")
            assert isinstance(ssl_object, ssl.SSLObject)
            assert ssl_object.server_hostname == "127.0.0.1"
            assert (ssl_object.version() or "").startswith("TLS")
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", server.port)
            assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"

    with Server(serve_bodies({"a": b"secure"}), tls=server_tls) as server:
        asyncio.run(go(server))
