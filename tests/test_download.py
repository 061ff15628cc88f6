"""The download engine against a real socket server that breaks in every way we know of.

Each test names one failure mode of tests/faultserver.py. No test sleeps for real: the
Downloader's `sleep` is a recorder, and the only waits are the server's few-millisecond dribbles.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from archiver.clients import AsyncioTransport
from archiver.download import Downloader, DownloadOptions, Fetched
from archiver.errors import DeadAsset, TransferError
from archiver.models import AssetKind
from archiver.retry import RetryPolicy
from archiver.samplemedia import cover_image, silent_mp3
from archiver.sniff import MediaType
from tests.faultserver import FaultServer, LazyBody

SONG = silent_mp3(30.0)  # 120 KB of real MPEG-1 Layer III frames
VIDEO = (Path(__file__).parents[1] / "sample_tasks" / "media" / "demo.mp4").read_bytes()
COVER = cover_image("download", (256, 256))
PNG = cover_image("download", (64, 64), "PNG")
MEDIA = {"song.mp3": SONG, "demo.mp4": VIDEO, "cover.jpg": COVER, "cover.png": PNG}
MiB = 1 << 20


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault:
        for name, body in MEDIA.items():
            fault.add(name, body)
        yield fault
    _assert_no_key(fault)


@pytest.fixture
def other() -> Iterator[FaultServer]:
    """A second origin (another port), for cross-origin redirects."""
    with FaultServer() as fault:
        fault.add("song.mp3", SONG)
        yield fault
    _assert_no_key(fault)


def _assert_no_key(fault: FaultServer) -> None:
    for request in fault.requests:
        assert "x-api-key" not in request.headers
        assert "authorization" not in request.headers


class Run:
    """One Downloader over a fresh client, with recorded sleeps and progress."""

    def __init__(self, tmp_path: Path, *, attempts: int = 4, max_bytes: int = 8 << 30) -> None:
        self.options = DownloadOptions(max_bytes=max_bytes, policy=RetryPolicy(attempts=attempts))
        self.part = tmp_path / "file.part"
        self.sleeps: list[float] = []
        self.part_sizes_at_sleep: list[int] = []
        self.counts: list[int] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.part_sizes_at_sleep.append(self.part.stat().st_size if self.part.exists() else -1)

    def progress(self, count: int) -> None:
        self.counts.append(count)

    @property
    def reported(self) -> int:
        return sum(self.counts)

    def fetch(self, url: str, kind: AssetKind = AssetKind.AUDIO) -> Fetched:
        async def go() -> Fetched:
            async with _client() as client:
                downloader = Downloader(client, self.options, sleep=self.sleep)
                return await downloader.fetch(url, self.part, kind, self.progress)

        return asyncio.run(go())


def _client() -> httpx.AsyncClient:
    """The download pool's own transport (netstream.py), so every fault here goes through it;
    follow_redirects=False: the engine must follow redirects whatever the client says."""
    return httpx.AsyncClient(transport=AsyncioTransport(httpx.Limits()),
                             timeout=httpx.Timeout(10.0))


# --- the happy paths ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "media"), [
    ("song.mp3", AssetKind.AUDIO, MediaType.MP3),
    ("demo.mp4", AssetKind.VIDEO, MediaType.MP4),
    ("cover.jpg", AssetKind.IMAGE, MediaType.JPEG),
    ("cover.png", AssetKind.IMAGE, MediaType.PNG),
])
def test_full_download_is_byte_identical(
    server: FaultServer, tmp_path: Path, name: str, kind: AssetKind, media: MediaType
) -> None:
    run = Run(tmp_path)
    fetched = run.fetch(server.url(f"/ok/{name}"), kind)
    body = MEDIA[name]
    assert fetched == Fetched(run.part, len(body), media)
    assert run.part.read_bytes() == body
    assert run.reported == len(body)
    [request] = server.requests
    assert request.headers["accept-encoding"] == "identity"
    assert request.range is None
    assert run.sleeps == []


def test_slow_dribbled_body_arrives_whole(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    fetched = run.fetch(server.url("/slow/song.mp3?chunk=16384&delay=0.001"))
    assert run.part.read_bytes() == SONG
    assert fetched.size == run.reported == len(SONG)


def test_body_without_content_length_is_accepted_at_connection_close(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    assert run.fetch(server.url("/no-length/song.mp3")).size == len(SONG)
    assert run.part.read_bytes() == SONG


# --- broken transfers resume ----------------------------------------------------------------


KINDS = {"song.mp3": AssetKind.AUDIO, "demo.mp4": AssetKind.VIDEO, "cover.jpg": AssetKind.IMAGE,
         "cover.png": AssetKind.IMAGE}


@pytest.mark.parametrize("name", list(MEDIA))
def test_drop_mid_body_resumes_from_the_bytes_on_disk(
    server: FaultServer, tmp_path: Path, name: str
) -> None:
    body = MEDIA[name]
    run = Run(tmp_path)
    fetched = run.fetch(server.url(f"/drop/{name}?at={len(body) // 2}"), KINDS[name])
    assert run.part.read_bytes() == body
    assert fetched.size == len(body)
    first, second = server.requests
    assert first.range is None
    # The part's size when the retry was decided is exactly where the next request starts.
    assert run.part_sizes_at_sleep == [len(body) // 2]
    assert second.range == f"bytes={run.part_sizes_at_sleep[0]}-"
    assert second.headers["accept-encoding"] == "identity"
    assert len(run.sleeps) == 1
    assert run.reported == len(body)


def test_repeated_drops_each_resume_where_the_last_stopped(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path, attempts=5)
    run.fetch(server.url("/drop/song.mp3?at=30000&times=3"))
    assert run.part.read_bytes() == SONG
    assert [r.range for r in server.requests] == [
        None, "bytes=30000-", "bytes=60000-", "bytes=90000-"]


def test_a_flaky_link_that_keeps_bringing_bytes_is_not_given_up(
    server: FaultServer, tmp_path: Path
) -> None:
    # Only tries in a row that bring nothing new count against the attempts.
    run = Run(tmp_path, attempts=2)
    run.fetch(server.url("/drop/song.mp3?at=10000&times=11"))
    assert run.part.read_bytes() == SONG
    assert len(server.requests) == 12
    assert len(run.sleeps) == 11
    assert max(run.sleeps) <= 0.5  # the backoff starts over: each wait is a first wait


def test_ranges_cut_short_by_the_server_are_continued(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path, attempts=2)
    run.fetch(server.url("/capped/song.mp3?max=50000"))
    assert run.part.read_bytes() == SONG
    assert [r.range for r in server.requests] == [None, "bytes=50000-", "bytes=100000-"]
    assert run.reported == len(SONG)


def test_chunked_body_cut_before_its_last_chunk_is_resumed(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.fetch(server.url("/chunked-drop/song.mp3?at=40000"))
    assert run.part.read_bytes() == SONG
    assert [r.range for r in server.requests] == [None, "bytes=40000-"]


def test_part_left_by_a_killed_run_is_resumed_not_restarted(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:70000])
    fetched = run.fetch(server.url("/ok/song.mp3"))
    assert run.part.read_bytes() == SONG
    assert fetched.size == len(SONG)
    [request] = server.requests
    assert request.range == "bytes=70000-"
    assert run.counts[0] == 70000  # progress starts where the part already is
    assert run.reported == len(SONG)


def test_resume_survives_a_redirect_to_another_origin(
    server: FaultServer, other: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:1000])
    run.fetch(server.url("/redirect/?to=" + quote(other.url("/ok/song.mp3"))))
    assert run.part.read_bytes() == SONG
    [hop] = other.requests
    assert hop.range == "bytes=1000-"
    assert hop.headers["accept-encoding"] == "identity"


def test_transfer_error_keeps_the_part_for_the_next_run(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path, attempts=2)
    with pytest.raises(TransferError, match="gave up after 2 tries"):
        run.fetch(server.url("/drop/song.mp3?pos=40000&times=99"))
    assert [r.range for r in server.requests] == [None, "bytes=40000-"]
    assert run.part.read_bytes() == SONG[:40000]
    assert run.reported == 40000
    later = Run(tmp_path)
    later.fetch(server.url("/ok/song.mp3"))
    assert later.part.read_bytes() == SONG
    assert server.requests[-1].range == "bytes=40000-"


# --- servers that get Range wrong restart cleanly -------------------------------------------


def test_server_ignoring_range_restarts_from_zero_without_duplicating(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:70000])
    fetched = run.fetch(server.url("/no-range/song.mp3"))
    assert run.part.read_bytes() == SONG
    assert fetched.size == len(SONG)
    [request] = server.requests
    assert request.range == "bytes=70000-"
    assert run.reported == len(SONG)
    assert min(_positions(run.counts)) >= 0


def test_wrong_content_range_restarts_from_zero(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:70000])
    run.fetch(server.url("/wrong-range/song.mp3"))
    assert run.part.read_bytes() == SONG
    assert [r.range for r in server.requests] == ["bytes=70000-", None]
    assert run.reported == len(SONG)


def test_416_when_the_part_is_already_whole_is_accepted_without_download(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG)
    fetched = run.fetch(server.url("/416-complete/song.mp3"))
    assert fetched == Fetched(run.part, len(SONG), MediaType.MP3)
    assert run.part.read_bytes() == SONG
    assert [r.range for r in server.requests] == [f"bytes={len(SONG)}-"]
    assert run.counts == [len(SONG)]


def test_416_for_a_part_longer_than_the_file_restarts(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG + b"junk from an older, longer file")
    run.fetch(server.url("/ok/song.mp3"))
    assert run.part.read_bytes() == SONG
    assert [r.range for r in server.requests] == [f"bytes={len(SONG) + 31}-", None]
    assert run.reported == len(SONG)


def test_gzip_range_over_the_encoded_bytes_restarts(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:100])  # the gzip of SONG is about 1 KB: 100 is inside it
    fetched = run.fetch(server.url("/gzip-206/song.mp3"))
    assert run.part.read_bytes() == SONG
    assert fetched.size == len(SONG)
    assert [r.range for r in server.requests] == ["bytes=100-", None]


# --- a short body is never accepted ---------------------------------------------------------


def test_short_body_is_retried_and_never_accepted(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path, attempts=3)
    with pytest.raises(TransferError, match="gave up after 3 tries"):
        run.fetch(server.url("/short/song.mp3?extra=100"))
    assert len(server.requests) == 3
    assert run.part.read_bytes() == SONG  # kept: a later run resumes from here
    assert server.requests[1].range == f"bytes={len(SONG)}-"


def test_truncated_gzip_without_length_is_never_accepted(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path, attempts=2)
    with pytest.raises(TransferError):
        run.fetch(server.url("/gzip-cut/song.mp3"))
    assert len(server.requests) == 2


# --- dead assets ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 410])
def test_http_status_is_dead_with_the_status_in_the_reason(
    server: FaultServer, tmp_path: Path, status: int
) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match=f"HTTP {status}") as caught:
        run.fetch(server.url(f"/status/{status}"))
    assert "127.0.0.1" in str(caught.value)
    assert len(server.requests) == 1  # final: no retry
    assert run.sleeps == []


def test_dead_status_keeps_an_earlier_part_for_a_fresh_url(
    server: FaultServer, tmp_path: Path
) -> None:
    # A 403/404 says nothing about the bytes already saved: a fresh signed URL may resume them.
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:1000])
    with pytest.raises(DeadAsset, match="HTTP 403"):
        run.fetch(server.url("/status/403"))
    assert run.part.read_bytes() == SONG[:1000]


def test_html_error_page_is_dead_and_the_part_deleted(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="error page"):
        run.fetch(server.url("/html/song.mp3"))
    assert not run.part.exists()
    assert run.reported == 0


def test_wrong_magic_is_dead_and_the_part_deleted(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="not audio media"):
        run.fetch(server.url("/ok/demo.mp4"), AssetKind.AUDIO)
    assert not run.part.exists()
    assert len(server.requests) == 1


def test_wrong_magic_stops_a_big_download_at_its_first_bytes(
    server: FaultServer, tmp_path: Path
) -> None:
    server.add("huge.mp4", LazyBody(VIDEO[:64], 200 * MiB))
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="not audio media"):
        run.fetch(server.url("/ok/huge.mp4"), AssetKind.AUDIO)
    assert max(_positions(run.counts)) < MiB
    assert run.reported == 0


def test_empty_200_is_not_accepted(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="empty"):
        run.fetch(server.url("/empty/song.mp3"))
    assert not run.part.exists()


def test_max_bytes_stops_an_endless_body(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path, max_bytes=2 * MiB)
    with pytest.raises(DeadAsset, match="limit"):
        run.fetch(server.url("/endless/song.mp3"))
    assert not run.part.exists()
    assert run.reported == 0


def test_max_bytes_refuses_an_announced_size_before_the_body(
    server: FaultServer, tmp_path: Path
) -> None:
    server.add("big.mp3", LazyBody(SONG[:4096], 100 * MiB))
    run = Run(tmp_path, max_bytes=2 * MiB)
    with pytest.raises(DeadAsset, match="limit"):
        run.fetch(server.url("/ok/big.mp3"))
    assert not run.part.exists()
    assert run.counts == []


# --- retries --------------------------------------------------------------------------------


def test_503_then_ok_honours_retry_after(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.fetch(server.url("/503-then-ok/song.mp3?after=1"))
    assert run.part.read_bytes() == SONG
    assert run.sleeps == [1.0]  # Retry-After beats the 0.25-0.5 s backoff chosen first
    assert len(server.requests) == 2


def test_retries_are_bounded_by_the_attempts(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path, attempts=4)
    with pytest.raises(TransferError, match="HTTP 429.*gave up after 4 tries"):
        run.fetch(server.url("/429/song.mp3?after=2"))
    assert len(server.requests) == 4
    assert len(run.sleeps) == 3
    assert all(delay >= 2 for delay in run.sleeps)


def test_retry_after_beyond_the_budget_gives_up_at_once(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    with pytest.raises(TransferError):
        run.fetch(server.url("/429/song.mp3?after=3600"))
    assert len(server.requests) == 1
    assert run.sleeps == []


# --- redirects ------------------------------------------------------------------------------


def test_redirect_to_another_origin_is_followed(
    server: FaultServer, other: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    fetched = run.fetch(server.url("/redirect/?to=" + quote(other.url("/ok/song.mp3"))))
    assert run.part.read_bytes() == SONG
    assert fetched.size == len(SONG)
    assert [r.path for r in other.requests] == ["/ok/song.mp3"]


def test_redirect_loop_is_dead(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="too many redirects"):
        run.fetch(server.url("/loop/song.mp3"))
    assert run.sleeps == []


def test_redirect_to_ftp_is_dead(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="non-http"):
        run.fetch(server.url("/redirect/?to=" + quote("ftp://127.0.0.1/song.mp3")))
    assert run.sleeps == []


# --- encodings ------------------------------------------------------------------------------


def test_gzip_encoded_media_is_decoded_and_checked(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    fetched = run.fetch(server.url("/gzip/song.mp3"))
    assert run.part.read_bytes() == SONG
    assert fetched == Fetched(run.part, len(SONG), MediaType.MP3)
    assert run.reported == len(SONG)


def test_gzip_in_several_members_is_decoded_whole(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.fetch(server.url("/gzip-multi/song.mp3"))
    assert run.part.read_bytes() == SONG


def test_corrupt_gzip_is_retried_from_zero_and_never_accepted(
    server: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path, attempts=2)
    with pytest.raises(TransferError, match="corrupt compressed body"):
        run.fetch(server.url("/gzip-corrupt/cover.jpg"), AssetKind.IMAGE)
    assert [r.range for r in server.requests] == [None, None]
    assert not run.part.exists()
    assert run.reported == 0


def test_gzip_decoded_in_tiny_pieces_loses_nothing(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny input pieces under a tiny output cap: zlib holds output back between reads.
    monkeypatch.setattr("archiver.inflate.PIECE", 7)
    run = Run(tmp_path)
    run.fetch(server.url("/gzip/song.mp3?chunk=3&delay=0.001"))
    assert run.part.read_bytes() == SONG
    assert len(server.requests) == 1


def test_unknown_content_encoding_is_dead(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with pytest.raises(DeadAsset, match="Content-Encoding br"):
        run.fetch(server.url("/encoded/song.mp3?as=br"))
    assert len(server.requests) == 1


def test_identity_content_encoding_is_plain(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.fetch(server.url("/encoded/song.mp3?as=identity"))
    assert run.part.read_bytes() == SONG


# --- concurrency ----------------------------------------------------------------------------


def _fetch_many(tmp_path: Path, options: DownloadOptions, urls: list[str]) -> None:
    async def go() -> None:
        async with _client() as client:
            downloader = Downloader(client, options)
            await asyncio.gather(*(
                downloader.fetch(url, tmp_path / f"{n}.part", AssetKind.AUDIO)
                for n, url in enumerate(urls)))

    asyncio.run(go())


def test_global_limit_caps_connections(server: FaultServer, tmp_path: Path) -> None:
    urls = [server.url(f"/slow/song.mp3?delay=0.002&n={n}", host)
            for n in range(3) for host in ("127.0.0.1", "localhost")]
    _fetch_many(tmp_path, DownloadOptions(jobs=2, per_host=8), urls)
    assert server.peak == 2
    assert len(server.requests) == 6


def test_per_host_limit_caps_connections_to_each_host(
    server: FaultServer, tmp_path: Path
) -> None:
    urls = [server.url(f"/slow/song.mp3?delay=0.002&n={n}", host)
            for n in range(3) for host in ("127.0.0.1", "localhost")]
    _fetch_many(tmp_path, DownloadOptions(jobs=8, per_host=1), urls)
    assert server.peak_by_host == {"127.0.0.1": 1, "localhost": 1}
    assert server.peak == 2


def test_waiting_downloads_start_covers_first_then_video_then_audio(
    server: FaultServer, tmp_path: Path
) -> None:
    """Regression: the per-host limit was a first-come semaphore in front of the priority
    slots, so with one host the turns went in arrival order whatever the priorities said."""
    first = server.url("/slow/song.mp3?delay=0.002&n=first")
    waiting = [(server.url("/slow/song.mp3?delay=0.002&n=audio"), AssetKind.AUDIO),
               (server.url("/ok/demo.mp4"), AssetKind.VIDEO),
               (server.url("/ok/cover.jpg"), AssetKind.IMAGE)]

    async def go() -> None:
        async with _client() as client:
            downloader = Downloader(client, DownloadOptions(jobs=8, per_host=1))
            holder = asyncio.create_task(
                downloader.fetch(first, tmp_path / "first.part", AssetKind.AUDIO))
            while not server.requests:  # the slot is taken: the others must wait for it
                await asyncio.sleep(0.001)
            await asyncio.gather(holder, *(
                downloader.fetch(url, tmp_path / f"{kind.value}.part", kind)
                for url, kind in waiting))

    asyncio.run(go())
    assert [request.target.rsplit("/", 1)[-1] for request in server.requests] == [
        "song.mp3?delay=0.002&n=first", "cover.jpg", "demo.mp4",
        "song.mp3?delay=0.002&n=audio"]


# --- progress, memory, secrets --------------------------------------------------------------


def _positions(counts: list[int]) -> list[int]:
    total, seen = 0, []
    for count in counts:
        total += count
        seen.append(total)
    return seen


def test_progress_always_sums_to_the_bytes_on_disk(server: FaultServer, tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.part.write_bytes(SONG[:5000])
    run.fetch(server.url("/drop/song.mp3?at=20000"))
    assert run.part.read_bytes() == SONG
    assert run.reported == len(SONG)
    assert all(0 <= at <= len(SONG) for at in _positions(run.counts))


def test_memory_stays_flat_for_a_200_mib_body(server: FaultServer, tmp_path: Path) -> None:
    server.add("big.mp3", LazyBody(SONG[:4096], 200 * MiB))
    run = Run(tmp_path)
    tracemalloc.start()
    try:
        fetched = run.fetch(server.url("/ok/big.mp3"))
        _, peak = tracemalloc.get_traced_memory()
        assert fetched.size == 200 * MiB == run.part.stat().st_size
    finally:
        tracemalloc.stop()
        run.part.unlink(missing_ok=True)  # pytest keeps the last runs' tmp dirs
    assert peak < 4 * MiB, f"peak Python allocations {peak / MiB:.1f} MiB"


def test_no_request_carries_the_api_key_or_anything_else_unasked(
    server: FaultServer, other: FaultServer, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.fetch(server.url("/redirect/?to=" + quote(other.url("/drop/song.mp3"))))
    seen = server.requests + other.requests
    assert len(seen) == 4  # redirect, dropped body, redirect again, resumed body
    allowed = {"host", "accept", "accept-encoding", "connection", "user-agent", "range"}
    for request in seen:
        assert set(request.headers) <= allowed, request.headers
