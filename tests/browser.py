"""Debian's headless Chromium driven by Playwright, for the tests of pages (gallery, serve): where
it is, its flags, and a page that records every console error, page error and dialog."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")


@contextmanager
def chromium_page(profile: Path, width: int, height: int) -> Iterator[Any]:
    """A new page of a Chromium with its profile in ``profile``; ``page.problems`` lists what went
    wrong in it (console errors, uncaught errors, dialogs, which are dismissed)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.problems = []
            page.on("console", lambda msg: page.problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda err: page.problems.append(str(err)))
            page.on("dialog", lambda dialog: (page.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
            yield page
        finally:
            context.close()
