"""The download engine: streamed to `NAME.part`, resumed with `Range`, checked, bounded.

The checklist follows yt-dlp's http downloader: `Accept-Encoding: identity`, `Range: bytes=N-`,
a `Content-Range` that must start at N (else restart from zero), 416 meaning "maybe already
whole", and never a body shorter than announced. The client given here must never carry the
API key: it is a separate pool from the API's.

Three choices beyond that list:
- A server that gzips the media anyway is decoded (inflate.py, not httpx) in bounded pieces,
  and a gzip stream that stops before its end is a short body like any other. The file on
  disk is the decoded media: that is what the `Content-Encoding` header says the resource is,
  and the only thing the magic check and the tagger understand. A `Range` over the gzip bytes
  is useless to us, so such a 206 restarts from zero.
- The first bytes are checked as soon as they arrive, so an error page or the wrong kind of
  file is dropped at once, not after the whole body.
- The event loop only receives: worker threads write the `.part` (partfile.py), and the
  sockets are read through netstream.py (clients.py), 256 KiB at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import DeadAsset, TransferError
from .inflate import INFLATABLE, CorruptBody, Inflater
from .models import AssetKind
from .partfile import PartFile
from .retry import RETRY_STATUSES, Backoff, RetryPolicy, Sleep, parse_retry_after
from .slots import PrioritySlots
from .sniff import ACCEPTED, SNIFF_BYTES, MediaType, describe, sniff
from .urls import host_of

__all__ = ["DownloadOptions", "Downloader", "Fetched"]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.I)

Progress = Callable[[int], None]
"""Called with the change in the `.part`'s size: the counts of one `fetch()` always add up to
the bytes on disk (a resumed part is reported at once, a restart is reported as a negative)."""


# Waiting downloads start in this order. Covers first: they are ~1 % of the bytes and every
# audio and video file waits for its cover before it can be tagged. Then the largest files,
# videos, then audio, so the run does not end on one long transfer (PERF.md).
_PRIORITY = {AssetKind.IMAGE: 0, AssetKind.VIDEO: 1, AssetKind.AUDIO: 2}


@dataclass(frozen=True, slots=True)
class DownloadOptions:
    jobs: int = 8
    per_host: int = 8
    max_bytes: int = 8 << 30  # an endless body stops here
    policy: RetryPolicy = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Fetched:
    part: Path
    size: int
    media: MediaType


class _Retry(Exception):
    """Worth another try; `restart` throws the `.part` away first."""

    def __init__(self, reason: str, after: float | None = None, *, restart: bool = False) -> None:
        super().__init__(reason)
        self.after = after
        self.restart = restart


class _Rejected(Exception):
    """The body is not the file (wrong kind, empty, too big): a dead asset, `.part` deleted."""


class _Complete(Exception):
    """416 for a part that already holds the whole file."""


class _Unconfirmed(Exception):
    """A body that ended when the connection closed, with no length to check it against."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Tracker:
    """Turns the `.part`'s size into the deltas the Progress callback expects."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self.size = 0

    def to(self, size: int) -> None:
        if size != self.size and self._progress is not None:
            self._progress(size - self.size)
        self.size = size


class Downloader:
    def __init__(
        self, client: httpx.AsyncClient, options: DownloadOptions, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._client = client
        self._options = options
        self._sleep = sleep
        self._global = PrioritySlots(options.jobs)
        self._hosts: dict[str, PrioritySlots] = {}
        self._writers = ThreadPoolExecutor(options.jobs, thread_name_prefix="suno-write")
        self.requests = 0

    def close(self) -> None:
        """Stop the threads that write the bodies (every `fetch()` has waited for its own)."""
        self._writers.shutdown()

    async def fetch(
        self, url: str, part: Path, kind: AssetKind, progress: Progress | None = None
    ) -> Fetched:
        """Bring `url` into `part` (resuming what is there) and check it is `kind` media."""
        host = host_of(url)
        backoff = Backoff(self._options.policy, self._sleep)
        track = _Tracker(progress)
        furthest, tries, unconfirmed = _size(part), 0, -1
        while True:
            tries += 1
            try:
                async with self._slot(host, kind):
                    size = await self._transfer(url, part, kind, track)
                return Fetched(part, size, _media(part, kind))
            except _Unconfirmed as ended:
                # Ask for the bytes after it: a 416 proves it whole, a 206 resumes it. A server
                # that knows neither lengths nor ranges is believed when it sends the same size
                # twice.
                if ended.size == unconfirmed:
                    return Fetched(part, ended.size, _media(part, kind))
                unconfirmed = ended.size
            except _Rejected as rejected:
                _discard(part, track)
                raise DeadAsset(host, str(rejected)) from None
            except _Retry as retry:
                if retry.restart:
                    _discard(part, track)
                if track.size > furthest:  # new bytes: only tries in a row that bring none count
                    furthest, backoff = track.size, Backoff(self._options.policy, self._sleep)
                if not await backoff.wait(retry.after):
                    raise TransferError(host, f"{retry} (gave up after {tries} tries)") from None

    @contextlib.asynccontextmanager
    async def _slot(self, host: str, kind: AssetKind) -> AsyncIterator[None]:
        # Both limits serve by priority: a first-come host limit in front would hand out the
        # turns in the order the clips were started, whatever the global one decides.
        per_host = self._hosts.setdefault(host, PrioritySlots(self._options.per_host))
        async with per_host.hold(_PRIORITY[kind]), self._global.hold(_PRIORITY[kind]):
            yield

    async def _transfer(self, url: str, part: Path, kind: AssetKind, track: _Tracker) -> int:
        offset = _size(part)
        track.to(offset)
        headers = {"accept-encoding": "identity"}
        if offset:
            headers["range"] = f"bytes={offset}-"
        self.requests += 1
        try:
            # Redirects are followed whatever the client's default: CDNs hand out 302s.
            async with self._client.stream(
                "GET", url, headers=headers, follow_redirects=True
            ) as response:
                offset, expected = await _start(response, offset, self._options.max_bytes)
                size = await self._body(response, part, offset, kind, track)
                unchecked = expected is None and _close_delimited(response)
        except httpx.TooManyRedirects:
            raise DeadAsset(host_of(url), "too many redirects") from None
        except httpx.UnsupportedProtocol:
            raise DeadAsset(host_of(url), "redirected to a non-http(s) URL") from None
        except httpx.InvalidURL:
            raise DeadAsset(host_of(url), "not a valid URL") from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection broke: {type(exc).__name__}") from None
        except _Complete:
            return offset
        if expected is not None and size < expected:
            raise _Retry(f"body ended at {size} of {expected} bytes")
        if unchecked:
            raise _Unconfirmed(size)
        return size

    async def _body(
        self, response: httpx.Response, part: Path, offset: int, kind: AssetKind,
        track: _Tracker
    ) -> int:
        """Write the body from `offset` on; return the size of the part."""
        size = offset
        with PartFile(part, offset, self._writers) as out:
            track.to(offset)
            async for chunk in _decoded(response):
                await out.write(chunk)
                size += len(chunk)
                track.to(size)
                if size > self._options.max_bytes:
                    raise _Rejected(_too_big(self._options.max_bytes))
                if size - len(chunk) < SNIFF_BYTES <= size:  # judge the head as it arrives
                    await out.flush()
                    _media(part, kind)
            await out.drain()
        return size


async def _start(response: httpx.Response, offset: int, max_bytes: int) -> tuple[int, int | None]:
    """Decide from the status line where writing starts, and how big the file must end up."""
    status = response.status_code
    encoding = _encoding(response)
    if status in (200, 206) and encoding not in INFLATABLE | {""}:
        raise DeadAsset(host_of(str(response.url)), f"served with Content-Encoding {encoding}")
    if status == 200:  # to a Range request this means "ignored": start again from zero
        return 0, _limited(None if encoding else _int(response.headers.get("content-length")),
                           max_bytes)
    if status == 206:
        return _partial(response, offset, max_bytes, encoding)
    if status == 416 and offset:
        match = _UNSATISFIED_RANGE.match(response.headers.get("content-range", ""))
        if match and int(match[1]) == offset:
            raise _Complete
        raise _Retry("server refused the resume range", restart=True)
    if status in RETRY_STATUSES:
        raise _Retry(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
    raise DeadAsset(host_of(str(response.url)), f"HTTP {status}{await _why(response)}")


def _partial(
    response: httpx.Response, offset: int, max_bytes: int, encoding: str
) -> tuple[int, int | None]:
    if encoding:
        raise _Retry("server sent a byte range of compressed data", restart=True)
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if not match or int(match[1]) != offset:
        raise _Retry("server sent the wrong byte range", restart=True)
    # The whole size when the server knows it; else at least to the end of this range.
    return offset, _limited(int(match[2]) + 1 if match[3] == "*" else int(match[3]), max_bytes)


def _limited(expected: int | None, max_bytes: int) -> int | None:
    if expected is not None and expected > max_bytes:
        raise _Rejected(_too_big(max_bytes))
    return expected


def _too_big(max_bytes: int) -> str:
    return f"larger than the {max_bytes} byte limit"


def _close_delimited(response: httpx.Response) -> bool:
    """A 200 whose end is only the connection closing: no length, not chunked, not gzip."""
    chunked = "chunked" in response.headers.get("transfer-encoding", "").lower()
    return response.status_code == 200 and not chunked and not _encoding(response)


def _encoding(response: httpx.Response) -> str:
    """The Content-Encoding, "" for none."""
    value = response.headers.get("content-encoding", "").strip().lower()
    return "" if value == "identity" else value


async def _decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body as the file's bytes: raw, or inflated when the server compressed it anyway."""
    if not _encoding(response):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    inflater = Inflater()
    try:
        async for chunk in response.aiter_raw():
            for piece in inflater.feed(chunk):
                yield piece
    except CorruptBody as exc:
        raise _Retry(f"corrupt compressed body: {exc}", restart=True) from None
    if not inflater.finished:
        raise _Retry("compressed body ended early")


async def _why(response: httpx.Response) -> str:
    """A short, readable excerpt of an error body (read no further than needed)."""
    if _encoding(response):
        return ""
    head = await anext(response.aiter_raw(), b"")  # one read is plenty for an excerpt
    text = " ".join(head[:200].decode("utf-8", "replace").split())
    return f" ({text[:60]})" if text and not text.startswith("<") else ""


def _media(part: Path, kind: AssetKind) -> MediaType:
    """What the part is, judged by its first bytes; `_Rejected` unless it is `kind` media."""
    with open(part, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    media = sniff(head)
    if media in ACCEPTED[kind]:
        return media
    if not head:
        raise _Rejected(f"an empty body instead of {kind.value}")
    if media is MediaType.HTML:
        raise _Rejected(f"an error page instead of {kind.value}")
    raise _Rejected(f"not {kind.value} media (starts with {describe(head)})")


def _discard(part: Path, track: _Tracker) -> None:
    part.unlink(missing_ok=True)
    track.to(0)


def _size(part: Path) -> int:
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
