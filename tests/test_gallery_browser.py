"""The gallery in a real browser: Debian's headless Chromium, driven by Playwright.

Opens `file://DEST/index.html` of an archive made by the CLI from the sample server (with a
hostile title added), checks the cards, players, search, filters and sort, that nothing runs
from the data and nothing is requested outside `file://`, and saves a screenshot to
`test-artifacts/gallery.png`. Then times the 5,000-clip page. Without Chromium or Playwright
the tests skip, except under CI=true, where they fail (`.ci/gallery-deps.sh` installs both).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from archiver.demo import DemoServer
from archiver.gallery import INDEX_NAME
from archiver.gallery_script import BATCH

from .test_gallery import (
    HOSTILE_LYRICS,
    HOSTILE_TITLE,
    KEY,
    Gallery,
    archive_tasks,
    big_archive,
    gallery_of,
    hostile_sample,
)

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # checked, with a clear message, by the `browser` fixture
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium phones home at start, and on a closed
# network those connections are refused (and slow the start).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@dataclass
class Visit:
    """An open page and what it did: requests, dialogs, console messages."""

    page: Page
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def cards(self) -> int:
        return int(self.page.locator("#grid > .card").count())

    def render_all(self) -> int:
        """Scroll down until no more cards come (they are rendered in batches)."""
        count = -1
        while count != self.cards():
            count = self.cards()
            self.page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            self.page.wait_for_timeout(150)
        return count

    def titles(self) -> list[str]:
        self.render_all()
        return [str(text) for text in self.page.locator("#grid .title").all_text_contents()]

    def search(self, text: str) -> None:
        before = self.page.inner_text("#count")
        self.page.fill("#search", text)
        self.page.wait_for_function(
            "before => document.getElementById('count').textContent !== before", arg=before)


def _require_browser() -> None:
    missing = [what for what, absent in (
        (f"{CHROMIUM} (apt install chromium)", not CHROMIUM.exists()),
        ("the playwright package (pip install playwright)", sync_playwright is None),
    ) if absent]
    if not missing:
        return
    message = "the gallery browser tests need " + " and ".join(missing)
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message}; under CI they must run (.ci/gallery-deps.sh installs them)")
    pytest.skip(f"{message}; under CI=true this fails instead")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Gallery:
    """Every sample, sample 01 with a script for a title, archived by the CLI."""
    _require_browser()  # before the work of making the archive
    dest = tmp_path_factory.mktemp("browser") / "archive"
    with pytest.MonkeyPatch.context() as patch, DemoServer() as server:
        patch.setenv("XDG_CONFIG_HOME", str(dest.parent / "xdg"))
        patch.setenv("PIAPI_API_KEY", KEY)
        server.publish(hostile_sample())
        archive_tasks(server, dest, *(sample.task_id for sample in server.samples))
    return gallery_of(dest)


@pytest.fixture(scope="module")
def browser(demo: Gallery) -> Iterator[Browser]:
    """Chromium, started after the archive is made: Playwright's sync API keeps an event loop
    running in this thread, where the CLI's `asyncio.run` could then not start its own."""
    _require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser: Browser, dest: Path) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    visit = Visit(context.new_page())
    visit.page.on("request", lambda request: visit.requests.append(request.url))
    visit.page.on("console", lambda message: visit.console.append(message.text))
    visit.page.on("pageerror", lambda error: visit.console.append(f"page error: {error}"))

    def on_dialog(dialog: Any) -> None:
        visit.dialogs.append(dialog.message)
        dialog.dismiss()

    visit.page.on("dialog", on_dialog)
    visit.page.goto((dest / INDEX_NAME).as_uri())
    visit.page.wait_for_selector("#grid > .card")
    yield visit
    context.close()


@pytest.fixture
def visit(browser: Browser, demo: Gallery) -> Iterator[Visit]:
    yield from _open(browser, demo.dest)


def _file(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(url2pathname(parts.path))


def test_cards_players_and_links(visit: Visit, demo: Gallery) -> None:
    page = visit.page
    assert visit.cards() == BATCH  # the first batch; the rest as the reader scrolls
    page.wait_for_function("() => { const img = document.querySelector('.card img'); "
                           "return img && img.complete && img.naturalWidth === 300; }")
    assert visit.render_all() == len(demo.items) == 25
    audio = page.eval_on_selector_all(".card audio", "els => els.map(e => [e.src, e.preload])")
    assert len(audio) == sum("audio" in item for item in demo.items) == 18
    for source, preload in audio:
        assert preload == "none" and _file(source).is_file(), source
    assert page.locator(".card button.play").count() == len(audio)
    # Play shows the audio's own controls (play() itself stubbed: the test plays nothing)
    page.evaluate("() => { HTMLMediaElement.prototype.play = function () { "
                  "this.dataset.asked = 1; return Promise.resolve(); }; }")
    clip_id = page.locator(".card", has=page.locator("button.play")).first.get_attribute("data-id")
    first = page.locator(f".card[data-id='{clip_id}']")
    first.locator("button.play").click()
    assert first.locator("audio[controls][data-asked]").is_visible()
    assert first.locator("button.play").count() == 0
    assert page.locator(".card video").count() == 0  # made when "Video" is opened
    for card in page.locator(".card").all():
        item = demo.item(str(card.get_attribute("data-id")))
        assert card.locator("details.video").count() == ("video" in item)
        if "video" in item:
            card.locator("details.video summary").click()
            source = card.locator("video").evaluate("v => v.src")
            assert _file(source).is_file() and source.endswith(item["video"])
    assert page.locator(".card video").count() == sum("video" in item for item in demo.items)
    page.evaluate("document.querySelectorAll('details[open]').forEach(d => d.open = false)")
    page.evaluate("window.scrollTo(0, 0)")
    images = page.eval_on_selector_all(".card img", "els => els.map(e => [e.src, e.loading])")
    assert images and all(_file(src).is_file() and lazy == "lazy" for src, lazy in images)
    assert page.locator(".placeholder").count() == sum("thumb" not in i for i in demo.items)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "gallery.png"))


def test_search_narrows_the_cards_and_clears(visit: Visit, demo: Gallery) -> None:
    visit.search("lighthouse")
    assert visit.titles() == ["The Lighthouse Keeper"] * 2
    visit.search("gravelroad")  # creator
    assert visit.render_all() == sum(item.get("creator") == "gravelroad" for item in demo.items)
    visit.search("TIDE is  rising")  # lyrics; any case, any spacing between the words
    assert visit.cards() == sum("tide is rising" in item.get("lyrics", "").lower()
                                for item in demo.items) == 1
    visit.search("no such song anywhere")
    assert visit.cards() == 0 and visit.page.is_visible("#empty")
    visit.search("")
    assert visit.render_all() == len(demo.items) and not visit.page.is_visible("#empty")


def test_style_filter_by_select_and_by_tag(visit: Visit, demo: Gallery) -> None:
    page = visit.page
    page.select_option("#tag", "sea shanty")
    assert visit.cards() == sum("sea shanty" in item.get("tags", []) for item in demo.items) == 2
    page.select_option("#tag", "")
    assert visit.render_all() == len(demo.items)
    page.locator(".card .tag", has_text="lo-fi").first.click()
    assert page.input_value("#tag") == "lo-fi"
    assert visit.cards() == sum("lo-fi" in item.get("tags", []) for item in demo.items) > 0
    for card in page.locator("#grid > .card").all():
        assert "lo-fi" in card.locator(".tag").all_text_contents()


def test_state_filter_shows_losses_with_reasons(visit: Visit, demo: Gallery) -> None:
    visit.page.select_option("#state", "problem")
    problems = [item for item in demo.items if item.get("state") in ("lost", "error")]
    assert visit.cards() == len(problems) == 4
    notes = visit.page.locator("#grid .notes").all_text_contents()
    assert len(notes) == 4 and any("HTTP 403" in note for note in notes)
    assert any("moderation" in note for note in notes) and any("404" in note for note in notes)

    badges = visit.page.locator("#grid .badge").all_text_contents()
    assert sorted(set(badges)) == ["Failed", "Lost"]
    visit.page.select_option("#state", "pending")
    assert visit.cards() == sum(item.get("state") == "pending" for item in demo.items) == 4


def test_sort_by_title_and_by_date(visit: Visit, demo: Gallery) -> None:
    visit.render_all()
    dates = visit.page.eval_on_selector_all(".card time", "els => els.map(e => e.dateTime)")
    assert dates == sorted(dates, reverse=True)  # newest first
    assert len(dates) == sum("created" in item for item in demo.items) == 20
    visit.page.select_option("#sort", "title")
    titles = visit.titles()
    worded = [title for title in titles if title[:1].isascii() and title[:1].isalpha()]
    assert worded == sorted(worded, key=str.casefold) and len(worded) > 15
    visit.page.select_option("#sort", "old")
    visit.render_all()
    dates = visit.page.eval_on_selector_all(".card time", "els => els.map(e => e.dateTime)")
    assert dates == sorted(dates)


def test_hostile_title_and_lyrics_show_as_text(visit: Visit) -> None:
    page = visit.page
    card = page.locator(".card", has=page.get_by_text(HOSTILE_TITLE, exact=True))
    assert card.count() == 1
    card.locator("details.lyrics summary").click()
    assert card.locator("details.lyrics pre").inner_text() == HOSTILE_LYRICS.rstrip()
    assert page.locator("img[src='x']").count() == 0 and page.locator("b").count() == 0
    assert visit.dialogs == []


def test_nothing_leaves_file_urls_and_nothing_is_blocked(visit: Visit) -> None:
    visit.search("rain")
    visit.page.select_option("#sort", "title")
    visit.page.mouse.wheel(0, 5000)
    visit.page.wait_for_timeout(300)
    assert visit.requests and visit.requests[0].startswith("file://")
    assert [url for url in visit.requests if not url.startswith(("file://", "data:"))] == []
    assert not any("media" in url.rsplit(".", 1)[-1] for url in visit.requests)
    assert not [url for url in visit.requests if url.endswith((".mp3", ".mp4"))]  # nothing plays
    assert [text for text in visit.console if "Content Security Policy" in text
            or "page error" in text] == []


# -- 5,000 clips ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Gallery:
    return gallery_of(big_archive(tmp_path_factory))


def test_5000_clips_open_fast_and_stay_responsive(browser: Browser, big: Gallery) -> None:
    started = time.perf_counter()
    visits = _open(browser, big.dest)
    visit = next(visits)
    first_cards = time.perf_counter() - started
    page = visit.page
    loaded, shown = page.evaluate("""() => [
        performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
        performance.getEntriesByName('gallery-first-cards')[0].startTime]""")
    rendered = visit.cards()
    frames = page.evaluate("""async () => {
        const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        const times = [];
        for (let step = 0; step < 12; step++) {
            const start = performance.now();
            window.scrollTo(0, document.body.scrollHeight);
            await frame();
            times.push(performance.now() - start);
        }
        return times.sort((a, b) => a - b);
    }""")
    scroll, median = frames[-1], frames[len(frames) // 2]
    scrolled = visit.cards()
    timed: dict[str, float] = {}
    for label, action in (
        ("search", lambda: visit.search("marker1234x")),
        ("clear", lambda: visit.search("")),
        ("style", lambda: page.select_option("#tag", "sea shanty")),
        ("sort", lambda: page.select_option("#sort", "title")),
    ):
        start = time.perf_counter()
        action()
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))")
        timed[label] = time.perf_counter() - start
    print(f"\n5,000-clip page ({(big.dest / INDEX_NAME).stat().st_size / 1e6:.1f} MB): "
          f"DOMContentLoaded {loaded:.0f} ms, first cards at {shown:.0f} ms "
          f"({first_cards:.2f} s from opening a tab); scrolling to the end 12 times: "
          f"median frame {median:.0f} ms, worst {scroll:.0f} ms, {scrolled} cards; "
          + ", ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in timed.items()))
    assert visit.console == [] and visit.dialogs == []
    assert rendered >= BATCH and scrolled > rendered
    assert loaded < 5000 and shown < 5000 and first_cards < 10
    assert scroll < 1000 and max(timed.values()) < 2
    assert page.locator("#grid .card").count() > 0
    visits.close()
