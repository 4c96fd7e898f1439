"""The gallery page: thumbnails inline, times and play links right, everything escaped; and in a real browser."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest
from browser import chromium_page, needs_chromium

from emoret.demo.long import make_long_videos
from emoret.demo.scenes import make_scenes
from emoret.report.gallery import FrameSource, jpeg, play_link, render

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WEIRD = 'we"ird <b>&\'name.mp4'


class Page(HTMLParser):
    """The page's images, links and visible text."""

    def __init__(self, text: str):
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])

    def handle_data(self, data):
        self.text.append(data)


def decode_jpeg(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), format="mjpeg") as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """One long video (3 clips) and a copy of it under a name full of HTML and quotes."""
    root = tmp_path_factory.mktemp("gallery")
    scenes = make_scenes(3, seed=4)
    paths, records = make_long_videos(root, scenes, clips_per_video=3, seed=4, width=64, height=48,
                                                fps=8, workers=1)
    weird = root / WEIRD
    shutil.copy(paths[0], weird)
    clips = sorted({(r["start"], r["end"]) for r in records})
    return root, paths[0], weird, clips


def hits_for(path: Path, clips, video_id: str) -> list[dict]:
    return [
        {"query": "a <happy> & \"bright\" ball", "rank": rank + 1, "score": 0.9 - rank / 10, "video_id": video_id,
         "video": path.name, "path": str(path), "moment_id": f"{video_id}@{a:g}-{b:g}", "start": a, "end": b,
         "video_emotions": {"joy": 0.8, "fear": 0.1}}
        for rank, (a, b) in enumerate(clips)
    ]


def test_jpeg_round_trips():
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :32] = (250, 40, 40)
    back = decode_jpeg(jpeg(frame))
    assert back.shape == (48, 64, 3)
    assert abs(int(back[24, 8, 0]) - 250) < 12 and abs(int(back[24, 56, 0])) < 12


def test_play_link_is_a_file_uri_at_the_moment(tmp_path):
    link = play_link({"path": str(tmp_path / WEIRD), "start": 2.5, "end": 7})
    assert link.startswith("file:///") and link.endswith("#t=2.5,7")
    assert '"' not in link and "<" not in link and " " not in link
    assert play_link({"path": "/v/a.mp4"}) == "file:///v/a.mp4"
    assert play_link({"video_id": "x"}) is None


def test_page_shows_each_moment_escaped_with_decoded_thumbnails(videos):
    _, _path, weird, clips = videos
    hits = hits_for(weird, clips, "weird")
    text = render(hits, FrameSource(count=3))
    page = Page(text)
    assert "<b>" not in text and "<happy>" not in text  # escaped, not markup
    assert page.tags.count("b") == 0
    assert len(page.images) == 3 * len(clips)
    assert all(src.startswith("data:image/jpeg;base64,") for src in page.images)
    assert page.links == [play_link(hit) for hit in hits]
    visible = " ".join(page.text)
    assert WEIRD in visible and 'a <happy> & "bright" ball' in visible
    assert "0:03.5" in visible or any(f"{a:g}" in visible for a, _ in clips)
    assert "joy 0.80" in visible
    # The thumbnails are of the moment: the clips differ in colour, so their strips differ.
    means = [decode_jpeg(base64.b64decode(src.split(",", 1)[1])).mean(axis=(0, 1)) for src in page.images]
    first, last = np.mean(means[:3], axis=0), np.mean(means[-3:], axis=0)
    assert np.abs(first - last).max() > 10


def test_gallery_reads_search_json_and_uses_the_frame_store(videos, run_cli, tmp_path):
    _, path, _, clips = videos
    frames = tmp_path / "frames"
    extracted = run_cli("extract-frames", path, "-o", frames, "--scenes", "-n", "2", "--size", "32")
    assert extracted.code == 0, extracted.stderr
    hits = hits_for(path, clips, path.stem)
    lines = "".join(json.dumps(hit) + "\n" for hit in hits)
    out = tmp_path / "page.html"
    result = run_cli("gallery", "-", "--frames", frames, "-o", out, "-n", "2", stdin=lines)
    assert result.code == 0, result.stderr
    assert result.stdout == b""
    page = Page(out.read_text())
    assert len(page.images) == 2 * len(clips)
    sizes = {decode_jpeg(base64.b64decode(src.split(",", 1)[1])).shape for src in page.images}
    assert sizes == {(32, 32, 3)}  # the stored frames, not decoded again (those would be 128 px)

    to_stdout = run_cli("gallery", stdin=lines)
    assert to_stdout.code == 0 and to_stdout.stdout.startswith(b"<!DOCTYPE html>")

    bad = run_cli("gallery", "-", stdin='{"query": "x", "rank": 1}\n')
    assert bad.code == 2 and "<stdin>:1" in bad.stderr or ":1:" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_hit_whose_video_is_gone_says_so_instead_of_breaking(tmp_path):
    page = render([{"query": "q", "rank": 1, "score": 0.5, "path": str(tmp_path / "gone.mp4"), "start": 1, "end": 2}])
    assert "no thumbnails" in page and "no such file" in page


@needs_chromium
def test_the_page_in_a_real_browser(videos, tmp_path):
    _, path, weird, clips = videos
    hits = hits_for(path, clips[:2], path.stem) + hits_for(weird, clips[2:], "weird")
    page_path = tmp_path / "page.html"
    page_path.write_text(render(hits, FrameSource(count=4)))
    with chromium_page(tmp_path / "profile", 900, 700) as tab:
        tab.goto(page_path.as_uri())
        tab.wait_for_load_state("load")
        widths = tab.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        links = tab.eval_on_selector_all("a", "as => as.map(a => a.href)")
        shot = tmp_path / "gallery.png"
        tab.screenshot(path=str(shot), full_page=True)
        problems = tab.problems
    assert problems == []
    assert len(widths) == 4 * len(clips) and all(w > 0 for w in widths)
    assert len(links) == len(clips)
    for link, (a, b) in zip(links, clips, strict=False):
        assert re.search(rf"#t={a:g},{b:g}$", link), link
    assert links[-1].startswith(Path(weird).parent.as_uri()) and "%22" in links[-1] and "%3C" in links[-1]
    assert shot.stat().st_size > 1000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "gallery.png")
    assert os.path.getsize(ARTIFACTS / "gallery.png") == shot.stat().st_size
