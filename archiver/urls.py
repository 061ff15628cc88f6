"""Which URLs may be requested at all, and the origin rule that keeps the API key at home."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["host_of", "never_download_reason", "same_origin", "STREAMING_HOST"]

STREAMING_HOST = "audiopipe.suno.ai"


def never_download_reason(url: str | None) -> str | None:
    """Why `url` must never be requested, or None when it is a final, fetchable URL.

    PIAPI.md: an empty or null URL, Suno's temporary streaming URL, the `None.mp3` of an
    errored clip, `/api/forbidden`, and any scheme but http(s) are never requested.
    """
    if not url or not url.strip():
        return "no URL"
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "malformed URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"refusing {parts.scheme or 'scheme-less'} URL"
    if not parts.hostname:
        return "URL without a host"
    if parts.hostname.lower() == STREAMING_HOST:
        return "still streaming (temporary audiopipe URL)"
    path = parts.path.rstrip("/")
    if path.endswith("/None.mp3") or path == "None.mp3":
        return "no file (None.mp3: the clip errored)"
    if path.endswith("/api/forbidden"):
        return "forbidden placeholder URL"
    return None


def host_of(url: str) -> str:
    """The host name for messages (never the path or query, which may carry signatures)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    """True when both URLs have the same scheme, host and port."""
    try:
        return _origin(a) == _origin(b)
    except ValueError:
        return False
