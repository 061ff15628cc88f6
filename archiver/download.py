"""The download engine: streamed to `NAME.part`, resumed with `Range`, checked, bounded.

The checklist follows yt-dlp's http downloader: `Accept-Encoding: identity`, `Range: bytes=N-`,
a `Content-Range` that must start at N (else restart from zero), 416 meaning "maybe already
whole", and never a body shorter than announced. The client given here must never carry the
API key: it is a separate pool from the API's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .errors import DeadAsset, TransferError
from .models import AssetKind
from .retry import RETRY_STATUSES, Backoff, RetryPolicy, Sleep, parse_retry_after
from .sniff import ACCEPTED, SNIFF_BYTES, MediaType, describe, sniff
from .urls import host_of

__all__ = ["DownloadOptions", "Downloader", "Fetched"]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.I)

Progress = Callable[[int], None]


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
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Downloader:
    def __init__(
        self, client: httpx.AsyncClient, options: DownloadOptions, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._client = client
        self._options = options
        self._sleep = sleep
        self._global = asyncio.Semaphore(options.jobs)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self.requests = 0

    async def fetch(
        self, url: str, part: Path, kind: AssetKind, progress: Progress | None = None
    ) -> Fetched:
        """Bring `url` into `part` (resuming what is there) and check it is `kind` media."""
        host = host_of(url)
        backoff = Backoff(self._options.policy, self._sleep)
        while True:
            try:
                async with self._slot(host):
                    size = await self._transfer(url, part, progress or _ignore)
                break
            except _Retry as retry:
                if not await backoff.wait(retry.after):
                    raise TransferError(
                        host, f"{retry} (gave up after {backoff.tries} tries)"
                    ) from None
        return Fetched(part, size, _check(part, kind, host))

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self._options.per_host))
        async with per_host, self._global:
            yield

    async def _transfer(self, url: str, part: Path, progress: Progress) -> int:
        offset = part.stat().st_size if part.exists() else 0
        headers = {"accept-encoding": "identity"}
        if offset:
            headers["range"] = f"bytes={offset}-"
        self.requests += 1
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                offset, expected = await _start(response, part, offset, host_of(url))
                received = await self._body(response, part, offset, progress)
        except httpx.TooManyRedirects:
            raise DeadAsset(host_of(url), "too many redirects") from None
        except httpx.UnsupportedProtocol:
            raise DeadAsset(host_of(url), "redirected to a non-http(s) URL") from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection broke: {type(exc).__name__}") from None
        except _Complete as whole:
            return whole.size
        size = offset + received
        if expected is not None and size != expected:
            if size > expected:
                part.unlink(missing_ok=True)
            raise _Retry(f"body ended at {size} of {expected} bytes")
        return size

    async def _body(
        self, response: httpx.Response, part: Path, offset: int, progress: Progress
    ) -> int:
        received = 0
        with open(part, "r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            async for chunk in response.aiter_bytes():
                out.write(chunk)
                received += len(chunk)
                progress(len(chunk))
                if offset + received > self._options.max_bytes:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise DeadAsset(host_of(str(response.url)),
                                    f"larger than the {self._options.max_bytes} byte limit")
        return received


class _Complete(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


async def _start(
    response: httpx.Response, part: Path, offset: int, host: str
) -> tuple[int, int | None]:
    """Decide from the status line where writing starts, and how big the file must end up."""
    status = response.status_code
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if status == 200:
        length = None if encoded else _int(response.headers.get("content-length"))
        return 0, length  # a 200 to a Range request means "ignored": start again from zero
    if status == 206 and not encoded:
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match and int(match[1]) == offset:
            total = None if match[3] == "*" else int(match[3])
            return offset, total
        part.unlink(missing_ok=True)
        raise _Retry("server sent the wrong byte range")
    if status == 416 and offset:
        match = _UNSATISFIED_RANGE.match(response.headers.get("content-range", ""))
        if match and int(match[1]) == offset:
            raise _Complete(offset)
        part.unlink(missing_ok=True)
        raise _Retry("server refused the resume range")
    if status in RETRY_STATUSES:
        raise _Retry(f"HTTP {status}", parse_retry_after(response.headers.get("retry-after")))
    await response.aread()
    raise DeadAsset(host, f"HTTP {status}{_why(response)}")


def _why(response: httpx.Response) -> str:
    text = " ".join(response.text[:200].split())
    return f" ({text[:60]})" if text and not text.startswith("<") else ""


def _check(part: Path, kind: AssetKind, host: str) -> MediaType:
    with open(part, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    media = sniff(head)
    if media in ACCEPTED[kind]:
        return media
    part.unlink(missing_ok=True)
    if media is MediaType.HTML:
        raise DeadAsset(host, f"an error page instead of {kind.value}")
    raise DeadAsset(host, f"not {kind.value} media (starts with {describe(head)})")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _ignore(_: int) -> None:
    return None
