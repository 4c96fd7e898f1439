"""`emoret serve` in a real browser (Debian's headless Chromium, driven by Playwright): the
"Done when" of the issue: type a query, the expected moment first; click it and the player is
at the moment's start; an emotion chip keeps only cards of that emotion; the bookmarked URL
gives the same hits; a hostile caption and file name show as text and run nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser import chromium_page, needs_chromium
from serve_data import HOSTILE, QUERY, build_index, make_library, serving

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BEST = 1  # the moment QUERY finds first: the second moment of a video, so its start is not 0

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def served_library(env, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-browser")
    library = make_library(root / "library")
    index = build_index(env, library, root / "index", best=BEST, tag="A")
    with serving(index) as served:
        yield served, library


@pytest.fixture
def tab(tmp_path):
    with chromium_page(tmp_path / "profile", 1000, 760) as page:
        yield page


def cards(tab) -> list[dict]:
    return tab.eval_on_selector_all(".card", """cards => cards.map(c => ({
        video: c.dataset.videoId, start: Number(c.dataset.start), emotions: (c.dataset.emotions || '').split(' '),
        text: c.textContent}))""")


def until(tab, expression: str, seconds: float = 10.0) -> None:
    """Poll ``expression`` in the page until it is true (wait_for_function evaluates a string,
    which the page's Content-Security-Policy forbids, rightly)."""
    deadline = time.monotonic() + seconds
    while not tab.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {seconds} s: {expression}"
        tab.wait_for_timeout(50)


def wait_for_hits(tab, count_at_least: int = 1) -> None:
    until(tab, f"document.querySelectorAll('.card').length >= {count_at_least}")


def test_type_play_filter_and_reload(served_library, tab):
    served, library = served_library
    expected = library.moments[BEST]
    tab.goto(served.url + "/")
    until(tab, "document.body.dataset.ready === 'true'")
    tab.fill("#q", QUERY)  # typed: the page searches as the text changes
    wait_for_hits(tab)
    first = cards(tab)[0]
    assert (first["video"], first["start"]) == (expected["video_id"], expected["start"])
    assert f"q={QUERY.replace(' ', '+')}" in tab.url

    tab.click(".card >> nth=0")
    until(tab, "(() => { const p = document.querySelector('#player'); return p.readyState >= 2 && !p.seeking; })()")
    current = tab.eval_on_selector("#player", "p => p.currentTime")
    assert abs(current - expected["start"]) <= 0.5, (current, expected["start"])

    tab.click("#chips button[data-emotion='sadness']")
    until(tab, "location.search.includes('emotion=sadness')")
    until(tab, "[...document.querySelectorAll('.card')].every(c => (c.dataset.emotions || '').split(' ').includes('sadness'))"
                          " && document.querySelectorAll('.card').length > 0")
    filtered = cards(tab)
    assert filtered and all("sadness" in card["emotions"] for card in filtered)
    assert len(filtered) < len([m for m in library.moments])  # the filter left some out

    bookmarked = tab.url
    tab.goto(bookmarked)
    until(tab, "document.body.dataset.ready === 'true'")
    wait_for_hits(tab)
    assert cards(tab) == filtered
    assert tab.input_value("#q") == QUERY
    assert tab.get_attribute("#chips button[data-emotion='sadness']", "aria-pressed") == "true"
    assert tab.problems == []


def test_hostile_caption_and_file_name_show_as_text_and_run_nothing(served_library, tab):
    served, library = served_library
    tab.goto(served.url + "/?q=" + "dog&top=20&per_video=0")
    until(tab, "document.body.dataset.ready === 'true'")
    wait_for_hits(tab, len(library.moments))
    hostile = [card for card in cards(tab) if card["video"] == HOSTILE]
    assert len(hostile) == 1
    assert library.hostile.name in hostile[0]["text"]  # the name, markup and all, as text
    assert tab.evaluate("window.pwned") is None
    assert tab.locator("#results script, #results img:not([src^='media/thumbnail'])").count() == 0
    until(tab, "Array.from(document.querySelectorAll('.card img')).every(i => i.complete)")  # thumbnails load after the cards
    widths = tab.eval_on_selector_all(".card img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == len(library.moments) and all(width > 0 for width in widths)
    shot = ARTIFACTS / "serve.png"
    ARTIFACTS.mkdir(exist_ok=True)
    tab.goto(served.url + f"/?q={QUERY}")
    wait_for_hits(tab)
    tab.click(".card >> nth=0")
    until(tab, "document.querySelector('#player').readyState >= 2")
    tab.screenshot(path=str(shot))
    assert shot.stat().st_size > 1000
    assert tab.problems == []
