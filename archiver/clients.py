"""The HTTP client pools: one for PiAPI (redirects by hand, see api.py), one for the CDN."""

from __future__ import annotations

import functools
import ssl

import httpcore
import httpx

from . import __version__
from .netstream import AsyncioBackend

__all__ = ["READ_BYTES", "USER_AGENT", "AsyncioTransport", "http_client"]

USER_AGENT = f"suno-archiver/{__version__}"

# How much httpcore asks of the socket per read. Its default, 64 KiB, makes every byte of a
# download pass through four times as many trips up the httpcore, h11 and anyio stacks; asyncio
# reads at most 256 KiB from a socket at a time, so more than that buys nothing. bench/: the
# whole set took 20-25 % less wall time and CPU (encode/httpcore#135 measured the same trend).
# httpcore has no setting for it but this class constant, read on every body read.
READ_BYTES = 256 * 1024
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = READ_BYTES


def http_client(
    transport: httpx.AsyncBaseTransport | None, *, follow: bool, connections: int
) -> httpx.AsyncClient:
    """HTTP/1.1, keep-alive pool sized to the workers (PERF.md), generous read timeout.

    Requests go through `AsyncioTransport`, unless a test gives its own `transport`. It takes
    the place of the client's default transport after the client is built: a `transport=`
    argument would make httpx ignore the proxies in the environment, and a mount for all://
    would replace an ALL_PROXY one. So HTTP(S)_PROXY, ALL_PROXY and NO_PROXY work as httpx
    documents them; only the proxied requests use httpx's own transport."""
    limits = httpx.Limits(max_connections=connections * 2,
                          max_keepalive_connections=connections * 2)
    client = httpx.AsyncClient(
        transport=transport,
        verify=_tls(),
        follow_redirects=follow,
        timeout=httpx.Timeout(30.0, read=60.0),
        limits=limits,
        headers={"user-agent": USER_AGENT},
    )
    if transport is None and isinstance(getattr(client, "_transport", None),
                                        httpx.AsyncHTTPTransport):
        client._transport = AsyncioTransport(limits)  # (a test checks it is the one used)
    return client


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, with its connection pool on `netstream.AsyncioBackend` instead of
    anyio (bench/: a fifth less CPU a byte). httpx builds the pool in its constructor with no
    way to name a backend, so the pool is built again here; should a later httpx keep it
    elsewhere, its own stays (`uses_asyncio_backend` says which, and a test checks it)."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        ssl_context = ssl_context or _tls()
        super().__init__(verify=ssl_context, limits=limits)
        self.uses_asyncio_backend = isinstance(getattr(self, "_pool", None),
                                               httpcore.AsyncConnectionPool)
        if self.uses_asyncio_backend:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=AsyncioBackend(),
            )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every pool: loading the CA bundle costs ~50 ms each time."""
    return httpx.create_ssl_context()
