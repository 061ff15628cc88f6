"""The PiAPI client against httpx.MockTransport handlers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from archiver.api import PiAPI
from archiver.errors import ApiUnavailable, AuthError, BadResponse, TaskNotFound
from archiver.retry import RetryPolicy
from archiver.secret import Secret

BASE = "https://api.piapi.ai"
KEY = "sk-test-very-secret-key"
TASK = "7088bf9d-6edb-4fab-b1fd-83afc64dde91"
OK = {"code": 200, "data": {"task_id": TASK, "status": "completed"}, "message": "success"}

Handler = Callable[[httpx.Request], httpx.Response]


def _get(handler: Handler, *, sleeps: list[float] | None = None,
         policy: RetryPolicy | None = None, rate: float | None = None) -> Any:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    async def run() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            api = PiAPI(client, BASE, Secret(KEY), policy=policy, sleep=sleep, rate=rate)
            return await api.get_task(TASK)

    return asyncio.run(run())


def test_get_task_sends_the_key_to_the_api_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    assert _get(handler) == OK
    assert seen[0].url == f"{BASE}/api/v1/task/{TASK}"
    assert seen[0].headers["x-api-key"] == KEY
    assert KEY not in str(seen[0].url)


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_names_the_variable_never_the_key(status: int) -> None:
    with pytest.raises(AuthError) as caught:
        _get(lambda request: httpx.Response(status, json={"message": "Invalid API key"}))
    assert "PIAPI_API_KEY" in str(caught.value)
    assert KEY not in str(caught.value)


def test_rejected_key_in_a_200_envelope() -> None:
    with pytest.raises(AuthError):
        _get(lambda request: httpx.Response(200, json={"code": 401, "data": None}))


def test_404_tries_the_legacy_endpoint() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/suno/v1/music/"):
            return httpx.Response(200, json=OK)
        return httpx.Response(404, json={"code": 404, "data": None})

    assert _get(handler) == OK


def test_404_on_both_endpoints_is_task_not_found() -> None:
    with pytest.raises(TaskNotFound, match=TASK):
        _get(lambda request: httpx.Response(404, text="not found"))


def test_429_honours_retry_after_then_succeeds() -> None:
    answers = iter([httpx.Response(429, headers={"retry-after": "7"}),
                    httpx.Response(503), httpx.Response(200, json=OK)])
    sleeps: list[float] = []
    assert _get(lambda request: next(answers), sleeps=sleeps) == OK
    assert sleeps[0] >= 7 and len(sleeps) == 2


def test_retries_are_bounded_in_attempts() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502, text="<html>Bad gateway</html>")

    with pytest.raises(ApiUnavailable, match="HTTP 502.*gave up after 4 tries"):
        _get(handler, sleeps=sleeps, policy=RetryPolicy(attempts=4, base=0.1))
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(b >= a / 2 for a, b in zip(sleeps, sleeps[1:], strict=False))  # growing backoff


def test_retries_are_bounded_in_total_time() -> None:
    sleeps: list[float] = []
    with pytest.raises(ApiUnavailable):
        _get(lambda request: httpx.Response(503, headers={"retry-after": "100"}), sleeps=sleeps,
             policy=RetryPolicy(attempts=50, budget=250))
    assert sum(sleeps) <= 250 and len(sleeps) == 2


def test_network_errors_are_retried() -> None:
    answers: list[Any] = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            raise answers.pop(0)
        return httpx.Response(200, json=OK)

    assert _get(handler, sleeps=[]) == OK


def test_html_body_is_a_clear_error() -> None:
    with pytest.raises(BadResponse, match=r"non-JSON \(text/html\).*Service is under"):
        _get(lambda request: httpx.Response(
            200, text="<html><body>Service is under maintenance</body></html>",
            headers={"content-type": "text/html"}))


def test_failed_task_as_http_500_is_an_answer_not_a_retry() -> None:
    failed = {"code": 500, "data": {"task_id": TASK, "status": "failed",
                                    "error": {"code": 10000, "message": "moderation"}}}
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500, json=failed)

    assert _get(handler) == failed
    assert len(calls) == 1


def test_redirect_to_another_host_is_not_followed_with_the_key() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "api.piapi.ai":
            return httpx.Response(302, headers={"location": "https://evil.example/steal"})
        return httpx.Response(200, json=OK)

    with pytest.raises(BadResponse, match="redirected to another host \\(evil.example\\)"):
        _get(handler)
    assert hosts == ["api.piapi.ai"]


def test_same_origin_redirect_is_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v1/"):
            return httpx.Response(301, headers={"location": f"/v2/task/{TASK}"})
        assert request.headers["x-api-key"] == KEY
        return httpx.Response(200, json=OK)

    assert _get(handler) == OK


def test_rate_limit_spaces_requests() -> None:
    sleeps: list[float] = []

    async def run() -> None:
        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=OK))
        async with httpx.AsyncClient(transport=transport) as client:
            api = PiAPI(client, BASE, Secret(KEY), rate=10, sleep=sleep)
            await asyncio.gather(*(api.get_task(TASK) for _ in range(5)))

    asyncio.run(run())
    assert len(sleeps) == 4 and max(sleeps) == pytest.approx(0.4, abs=0.05)


def test_key_never_in_repr() -> None:
    assert KEY not in repr(Secret(KEY)) and KEY not in str(Secret(KEY))
    assert json.dumps({"k": str(Secret(KEY))}).count(KEY) == 0


def test_concurrent_requests_are_bounded_by_api_jobs() -> None:
    active, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return httpx.Response(200, json=OK)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            api = PiAPI(client, BASE, Secret(KEY), jobs=3)
            await asyncio.gather(*(api.get_task(TASK) for _ in range(20)))

    asyncio.run(run())
    assert peak == 3
