"""The PiAPI client: one shared connection pool, bounded concurrency, retries, the key kept home.

The key is set per request by this class only, on requests to the configured base URL. The
HTTP client it is given must not follow redirects (a redirect to another origin would otherwise
carry the key away); same-origin redirects are followed here, by hand.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import ApiUnavailable, AuthError, BadResponse, TaskNotFound
from .retry import RETRY_STATUSES, Backoff, RetryPolicy, Sleep, parse_retry_after
from .secret import ENV_KEY, Secret
from .urls import host_of, same_origin

__all__ = ["HISTORY_PATH", "LEGACY_PATH", "PiAPI", "RateLimiter", "TASK_PATH"]

TASK_PATH = "/api/v1/task/{task_id}"
LEGACY_PATH = "/api/suno/v1/music/{task_id}"
HISTORY_PATH = "/api/open/tasks/histories"
_MAX_REDIRECTS = 5
_AUTH_CODES = (401, 403)


class RateLimiter:
    """Spaces request starts at least 1/rate seconds apart (None or 0: no limit)."""

    def __init__(self, rate: float | None, sleep: Sleep = asyncio.sleep) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._sleep = sleep

    async def acquire(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            await self._sleep(start - now)


class PiAPI:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        key: Secret | Callable[[], Secret],
        *,
        jobs: int = 4,
        rate: float | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._key = key  # a callable is resolved at the first request, not before
        self._slots = asyncio.Semaphore(jobs)
        self._limiter = RateLimiter(rate, sleep)
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self.requests = 0  # counted for tests and the summary

    async def get_task(self, task_id: str) -> Any:
        """The Get Task payload (parsed JSON), trying the legacy endpoint on a 404."""
        response = await self._get(TASK_PATH.format(task_id=task_id), task_id)
        if response.status_code == 404:
            response = await self._get(LEGACY_PATH.format(task_id=task_id), task_id)
        if response.status_code == 404:
            raise TaskNotFound(task_id, "task not found (HTTP 404)")
        return self._payload(response, task_id)

    async def get_history(
        self, page: int, page_size: int, start: int | None = None, end: int | None = None
    ) -> Any:
        """One page of the account's task history (undocumented shape: see discover.py)."""
        params = {"page": page, "page_size": page_size, "start_time": start, "end_time": end}
        query = urlencode({key: value for key, value in params.items() if value is not None})
        label = f"history page {page}"
        return self._payload(await self._get(f"{HISTORY_PATH}?{query}", label), label)

    async def _get(self, path: str, task_id: str) -> httpx.Response:
        backoff = Backoff(self._policy, self._sleep)
        while True:
            problem, retry_after = await self._attempt(path, task_id)
            if isinstance(problem, httpx.Response):
                return problem
            if not await backoff.wait(retry_after):
                raise ApiUnavailable(task_id, f"{problem} (gave up after {backoff.tries} tries)")

    async def _attempt(self, path: str, task_id: str) -> tuple[httpx.Response | str, float | None]:
        """One try: the response to use, or why to try again (and the server's wait hint)."""
        try:
            response = await self._send(self._base + path, task_id)
        except httpx.TransportError as exc:
            return f"network error talking to {host_of(self._base)}: {_describe(exc)}", None
        if response.status_code in RETRY_STATUSES and not _carries_task(response):
            wait = parse_retry_after(response.headers.get("retry-after"))
            return f"PiAPI answered HTTP {response.status_code}", wait
        if response.status_code in _AUTH_CODES:
            raise AuthError(
                f"PiAPI rejected the API key (HTTP {response.status_code}); check {ENV_KEY}"
            )
        return response, None

    async def _send(self, url: str, task_id: str) -> httpx.Response:
        async with self._slots:
            for _ in range(_MAX_REDIRECTS + 1):
                await self._limiter.acquire()
                self.requests += 1
                response = await self._client.get(
                    url, headers={"x-api-key": self._secret(), "accept": "application/json"}
                )
                await response.aread()
                if not response.is_redirect:
                    return response
                url = str(response.url.join(response.headers.get("location", "")))
                if not same_origin(url, self._base):
                    raise BadResponse(
                        task_id, f"PiAPI redirected to another host ({host_of(url)}); not followed"
                    )
            raise BadResponse(task_id, "too many redirects from PiAPI")

    def _secret(self) -> str:
        if not isinstance(self._key, Secret):
            self._key = self._key()
        return self._key.reveal()

    def _payload(self, response: httpx.Response, task_id: str) -> Any:
        if response.status_code != 200 and not _carries_task(response):
            raise BadResponse(task_id, f"PiAPI answered HTTP {response.status_code}: "
                                       f"{_snippet(response.text)}")
        try:
            payload = json.loads(response.content)
        except (ValueError, RecursionError):  # not JSON, bad UTF-8, or JSON Python cannot hold
            kind = response.headers.get("content-type", "unknown type").split(";")[0]
            raise BadResponse(
                task_id, f"PiAPI answered with non-JSON ({kind}): {_snippet(response.text)}"
            ) from None
        if isinstance(payload, dict) and payload.get("code") in _AUTH_CODES and not payload.get(
            "data"
        ):
            raise AuthError(f"PiAPI rejected the API key (code {payload['code']}); check {ENV_KEY}")
        return payload


def _carries_task(response: httpx.Response) -> bool:
    """A failed task may come back as HTTP 500 with the whole task in the body: an answer."""
    try:
        payload = json.loads(response.content)
    except (ValueError, RecursionError):
        return False
    data = payload.get("data") if isinstance(payload, dict) else None
    return isinstance(data, dict) and bool(data.get("task_id"))


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def _describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
