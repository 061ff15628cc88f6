"""Bounded retries: exponential backoff with full jitter, `Retry-After` honoured."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_STATUSES", "Backoff", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    base: float = 0.5  # seconds before the second try (before jitter)
    cap: float = 30.0  # longest single backoff we choose ourselves
    budget: float = 180.0  # most seconds of waiting for one request, Retry-After included


class Backoff:
    """Counts the tries of one request and sleeps between them.

    `wait()` returns False when the next try would exceed the attempts or the time budget:
    the caller then gives up with its own error.
    """

    def __init__(
        self, policy: RetryPolicy, sleep: Sleep = asyncio.sleep, rng: random.Random | None = None
    ) -> None:
        self._policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.tries = 1
        self.waited = 0.0

    def delay(self, retry_after: float | None) -> float:
        ceiling = min(self._policy.cap, self._policy.base * 2 ** (self.tries - 1))
        jittered = self._rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after) if retry_after is not None else jittered

    async def wait(self, retry_after: float | None = None) -> bool:
        if self.tries >= self._policy.attempts:
            return False
        delay = self.delay(retry_after)
        if self.waited + delay > self._policy.budget:
            return False
        self.tries += 1
        self.waited += delay
        await self._sleep(delay)
        return True


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
