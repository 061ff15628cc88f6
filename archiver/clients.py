"""The HTTP client pools: one for PiAPI (redirects by hand, see api.py), one for the CDN."""

from __future__ import annotations

import functools
import ssl

import httpx

from . import __version__

__all__ = ["USER_AGENT", "http_client"]

USER_AGENT = f"suno-archiver/{__version__}"


def http_client(
    transport: httpx.AsyncBaseTransport | None, *, follow: bool, connections: int
) -> httpx.AsyncClient:
    """HTTP/1.1, keep-alive pool sized to the workers (PERF.md), generous read timeout."""
    return httpx.AsyncClient(
        transport=transport,
        verify=_tls(),
        follow_redirects=follow,
        timeout=httpx.Timeout(30.0, read=60.0),
        limits=httpx.Limits(max_connections=connections * 2,
                            max_keepalive_connections=connections * 2),
        headers={"user-agent": USER_AGENT},
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every pool: loading the CA bundle costs ~50 ms each time."""
    return httpx.create_ssl_context()
