"""httpcore's network layer on plain asyncio, for the download pool.

httpcore reaches sockets through anyio, whose stream stops and restarts the socket's reading
(two `epoll_ctl` calls and a selector key) around every read and opens a cancel scope for each
one. For a body of a few hundred chunks that is noise; for 500 MiB at 256 KiB a chunk it was
the largest share of the event loop's time after the copies themselves (bench/). This backend
keeps the socket readable and buffers up to `HIGH_WATER` bytes a connection before it pauses
(asyncio's own flow control), and arms a timer only when a read has to wait.

Errors are httpcore's (ReadError, ReadTimeout, ConnectError...), which httpx maps to its own,
so callers see exactly what they saw through anyio. TLS is asyncio's (`loop.start_tls`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

__all__ = ["AsyncioBackend", "HIGH_WATER"]

HIGH_WATER = 512 * 1024  # bytes received and not yet read, a connection, before reading pauses
_LOW_WATER = HIGH_WATER // 4

SocketOption = (tuple[int, int, int] | tuple[int, int, bytes | bytearray]
                | tuple[int, int, None, int])  # httpcore's SOCKET_OPTION


class _Protocol(asyncio.Protocol):
    """Received bytes in a queue; one reader at a time waits for more."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None  # set while writing is paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close the transport: HTTP/1.1 never writes after the peer's EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def readable(self) -> bool:
        """Anything to read without waiting: data, or the end (an idle connection that has
        either is no use for a new request)."""
        return bool(self._chunks) or self._eof

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if not self._chunks and not self._eof:
            await self._wait(timeout)
        if not self._chunks:
            if self._error is not None:
                raise httpcore.ReadError(str(self._error) or type(self._error).__name__)
            return b""
        chunk = self._chunks.popleft()
        if len(chunk) > max_bytes:
            self._chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= _LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def drain(self, timeout: float | None) -> None:
        """Wait while the transport's write buffer is over its limit."""
        if self._drained is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out sending the request") from None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpcore.ReadTimeout("timed out waiting for the server"))


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._protocol.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        await self._protocol.drain(timeout)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport, self._protocol, ssl_context, server_hostname=server_hostname,
                ssl_handshake_timeout=timeout)
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        assert isinstance(transport, asyncio.Transport)
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info in ("ssl_object", "socket"):
            return self._transport.get_extra_info(info)
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "is_readable":
            return self._protocol.readable
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        connect = loop.create_connection(_Protocol, host, port, local_addr=local,
                                         happy_eyeballs_delay=0.25)
        transport, protocol = await _connected(connect, timeout)
        _apply(transport, socket_options)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        transport, protocol = await _connected(
            loop.create_unix_connection(_Protocol, path), timeout)
        _apply(transport, socket_options)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    connect: Any, timeout: float | None
) -> tuple[asyncio.Transport, _Protocol]:
    try:
        transport, protocol = await asyncio.wait_for(connect, timeout)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(str(exc) or "timed out connecting") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    return transport, protocol


def _apply(transport: asyncio.Transport, options: Iterable[SocketOption] | None) -> None:
    sock: socket.socket | None = transport.get_extra_info("socket")
    for option in options or ():
        if sock is not None:
            sock.setsockopt(*option)
