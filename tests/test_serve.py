"""`emoret serve` over HTTP: the API gives what `search --json` prints, media only for the
files the index holds (ranges for seeking), the token, the bounds, a rebuilt index picked
up without a restart, and the command's own behaviour (URL on stderr, Ctrl-C, no extra)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import orjson
import pytest
from serve_data import QUERY, build_index, get, make_library, serving

from emoret.serve import run

TOKEN = "s3cret-token_1"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("serve") / "library")


@pytest.fixture(scope="module")
def planted(library):
    """Records of files a server must not send: a symlink out of the library, a FIFO, a path
    through '..', a file deleted after indexing; and a symlink within the library (sent)."""
    root = library.root
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.mp4").write_bytes(b"not for you")
    first = Path(library.moments[0]["path"])
    (root / "sub").mkdir(exist_ok=True)
    links = {"leak": root / "leak.mp4", "inside": root / "sub" / "inside.mp4", "fifo": root / "pipe.mp4",
             "dotdot": root / "sub" / ".." / first.name, "gone": root / "gone.mp4"}
    links["leak"].symlink_to(outside / "secret.mp4")
    links["inside"].symlink_to(first)
    os.mkfifo(links["fifo"])
    links["gone"].write_bytes(b"soon gone")
    records = tuple({"video_id": name, "video": path.name, "path": str(path), "start": 0.0, "end": 1.0}
                    for name, path in links.items())
    return links, records


@pytest.fixture(scope="module")
def index(env, library, planted, tmp_path_factory):
    target = build_index(env, library, tmp_path_factory.mktemp("serve-index") / "index", best=1, tag="A",
                         extra=planted[1])
    planted[0]["gone"].unlink()
    return target


@pytest.fixture(scope="module")
def served(index):
    with serving(index) as server:
        yield server


def search_url(served, **params) -> str:
    return f"{served.url}/api/search?{urlencode(params)}"


def media_url(served, path, kind: str = "video") -> str:
    return f"{served.url}/media/{kind}?{urlencode({'path': str(path), 'at': 1})}"


@pytest.mark.parametrize("options", [
    {}, {"--top": 3}, {"--per-video": 0}, {"--emotion": "sadness"}, {"--emotion-weight": 0.2, "--top": 2},
])
def test_api_answers_exactly_what_search_json_prints(served, index, run_cli, options):
    cli = run_cli("search", QUERY, "--index", index, "--json", *[str(x) for kv in options.items() for x in kv])
    assert cli.code == 0, cli.stderr
    params = {key.lstrip("-").replace("-", "_"): value for key, value in options.items()}
    reply = get(search_url(served, q=QUERY, **params))
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/x-ndjson"
    assert reply.body == cli.stdout and cli.stdout
    records = [orjson.loads(line) for line in reply.body.splitlines()]
    assert reply.headers["emoret-query-emotions"] == ",".join(records[0]["query_emotions"])


def test_the_expected_moment_ranks_first(served, library):
    first = orjson.loads(get(search_url(served, q=QUERY)).body.splitlines()[0])
    assert (first["video_id"], first["start"], first["score"]) == (library.moments[1]["video_id"], library.moments[1]["start"], 1.0)


@pytest.mark.parametrize("params, status, says", [
    ({"q": ""}, 400, "empty"), ({"q": "x" * 1001}, 400, "1000"), ({"q": "a", "top": 0}, 400, "top"),
    ({"q": "a", "top": 101}, 400, "top"), ({"q": "a", "top": "ten"}, 400, "whole number"),
    ({"q": "a", "per_video": 21}, 400, "per_video"), ({"q": "a", "emotion": "glee"}, 400, "unknown emotion"),
    ({"q": "a", "emotion_weight": "nan"}, 400, "emotion_weight"), ({"q": "a", "emotion_weight": -1}, 400, "emotion_weight"),
    ({"q": "a" * 3000, "top": 1}, 400, ""), ({"q": "a" * 5000}, 414, "4096"),
])
def test_requests_out_of_bounds_are_refused(served, params, status, says):
    reply = get(search_url(served, **params))
    assert reply.status == status and says.encode() in reply.body


def test_only_get_without_a_body(served):
    assert get(search_url(served, q="a"), method="POST", data=b"x").status == 405
    assert get(search_url(served, q="a"), method="GET", data=b"x" * 10).status == 413
    assert get(f"{served.url}/nothing-here").status == 404


def test_health_says_what_is_served(served, index):
    health = orjson.loads(get(f"{served.url}/api/health").body)
    assert health["status"] == "ok" and health["index"] == str(index) and health["items"] == 7 + 5
    assert health["video_emotions"] is True and "sadness" in health["emotions"]


def test_a_query_asked_again_reuses_its_vector(served):
    """An emotion chip or the weight searches the words already typed: their vector is kept."""
    def counts():
        return orjson.loads(get(f"{served.url}/api/health").body)["query_vectors"]

    text = "a rainy street, asked twice"
    before = counts()
    first = get(search_url(served, q=text))
    again = get(search_url(served, q=text, emotion_weight=0.3))
    after = counts()
    assert first.status == again.status == 200
    assert after["encoded"] == before["encoded"] + 1 and after["kept_hits"] == before["kept_hits"] + 1


def test_media_only_for_files_the_index_holds(served, library, planted, index):
    links = planted[0]
    first = Path(library.moments[0]["path"])
    ok = get(media_url(served, first))
    assert ok.status == 200 and ok.body == first.read_bytes() and ok.headers["content-type"] == "video/mp4"
    assert get(media_url(served, links["inside"])).status == 200  # a link that stays in the library
    refused = [
        links["leak"], links["fifo"], links["dotdot"], links["gone"],  # held by the index, refused
        str(first.parent / "sub" / ".." / first.name),  # the same file by another path
        index / "meta.json", "/etc/passwd", "", first.parent,  # not held
    ]
    for path in refused:
        for kind in ("video", "thumbnail"):
            reply = get(media_url(served, path, kind))
            assert reply.status == 404, (path, kind, reply.status)
            assert b"not for you" not in reply.body
    assert get(f"{served.url}/media/video").status == 404
    for name in ("..%2f..%2fetc%2fpasswd", "..%2Fapp.py", "index.html", "%2e%2e"):
        assert get(f"{served.url}/static/{name}").status == 404


def test_thumbnail_is_a_jpeg_of_the_moment(served, library):
    reply = get(media_url(served, library.moments[0]["path"], "thumbnail"))
    assert reply.status == 200 and reply.headers["content-type"] == "image/jpeg" and reply.body[:2] == b"\xff\xd8"


@pytest.mark.parametrize("asked, status, part", [
    ("bytes=10-19", 206, slice(10, 20)), ("bytes=-5", 206, slice(-5, None)), ("bytes=100-", 206, slice(100, None)),
    ("bytes=0-1,5-6", 200, slice(None)), ("lines=1-2", 200, slice(None)), ("bytes=9999999-", 416, slice(0, 0)),
])
def test_ranges_let_a_browser_seek(served, library, asked, status, part):
    path = Path(library.moments[0]["path"])
    data = path.read_bytes()
    reply = get(media_url(served, path), {"Range": asked})
    assert reply.status == status and reply.body == data[part]
    if status == 206:
        start = len(data) + part.start if part.start < 0 else part.start
        assert reply.headers["content-range"] == f"bytes {start}-{len(data) - 1 if part.stop is None else part.stop - 1}/{len(data)}"
    assert get(media_url(served, path), method="HEAD").headers["content-length"] == str(len(data))


def test_every_request_needs_the_token(index, library):
    with serving(index, token=TOKEN) as served:
        urls = [f"{served.url}/", search_url(served, q=QUERY), f"{served.url}/api/health", f"{served.url}/static/app.js",
                media_url(served, library.moments[0]["path"]), media_url(served, library.moments[0]["path"], "thumbnail")]
        for url in urls:
            assert get(url).status == 401, url
            assert get(url, {"Authorization": "Bearer wrong-token"}).status == 401, url
            assert get(url, {"Cookie": f"emoret_token_{served.url.rsplit(':', 1)[1]}=nope"}).status == 401, url
            assert get(url, {"Authorization": f"Bearer {TOKEN}"}).status == 200, url
        landing = get(f"{served.url}/?q=a+dog&token={TOKEN}")
        assert landing.status == 303 and landing.headers["location"] == "/?q=a+dog"  # no token in bookmarks
        cookie = landing.headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in landing.headers["set-cookie"] and "SameSite=Strict" in landing.headers["set-cookie"]
        assert get(search_url(served, q=QUERY), {"Cookie": cookie}).status == 200
        assert get(search_url(served, q=QUERY, token=TOKEN)).status == 200  # a script's curl needs no cookie


def test_loopback_answers_only_to_local_host_names(served):
    assert get(f"{served.url}/api/health", {"Host": "evil.example"}).status == 400  # DNS rebinding
    assert get(f"{served.url}/api/health", {"Host": "localhost:1234"}).status == 200


def test_a_reachable_address_needs_a_token_or_a_plain_yes():
    with pytest.raises(run.ServeRefused, match="--token"):
        run.check_exposure("0.0.0.0", None, False)
    with pytest.raises(run.ServeRefused, match="letters"):
        run.check_exposure("127.0.0.1", "short", False)
    run.check_exposure("0.0.0.0", TOKEN, False)
    run.check_exposure("0.0.0.0", None, True)
    run.check_exposure("::1", None, False)
    assert run.accepted_hosts("0.0.0.0", TOKEN) is None and "localhost" in run.accepted_hosts("127.0.0.1", None)


def test_a_rebuilt_index_is_picked_up_and_searches_never_fail_meanwhile(env, library, tmp_path):
    index = build_index(env, library, tmp_path / "index", best=1, tag="A")
    answers: list[tuple[int, set, int]] = []
    stop = threading.Event()
    with serving(index) as served:
        def hammer() -> None:
            while not stop.is_set():
                reply = get(search_url(served, q=QUERY, top=10, per_video=0))
                records = [orjson.loads(line) for line in reply.body.splitlines()] if reply.status == 200 else []
                answers.append((reply.status, {r["build"] for r in records}, len(records)))

        clients = [threading.Thread(target=hammer) for _ in range(3)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 60
        while not answers and time.monotonic() < deadline:  # the old index answered first (a loaded machine is slow)
            time.sleep(0.01)
        build_index(env, library, index, best=4, tag="B", seed=1)  # what `emoret index` does: a swap
        deadline = time.monotonic() + 60
        while served.holder.reloads < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for client in clients:
            client.join()
        first = orjson.loads(get(search_url(served, q=QUERY)).body.splitlines()[0])
    assert served.holder.reloads == 1
    assert (first["build"], first["video_id"], first["start"]) == ("B", library.moments[4]["video_id"], library.moments[4]["start"])
    assert answers and all(status == 200 for status, _, _ in answers)
    assert all(len(builds) == 1 and count == len(library.moments) for _, builds, count in answers)  # whole indexes
    seen = [builds.pop() for _, builds, _ in answers]
    assert seen[0] == "A" and seen[-1] == "B" and seen == sorted(seen)  # never back to the old one


def test_serve_without_its_extra_says_how_to_install_it(run_cli, index, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed: import fails
    result = run_cli("serve", "--index", index)
    assert result.code == 2
    assert result.stderr.strip().splitlines() == ["emoret: serve needs the web server extra: pip install 'emoret[serve]'"]


def test_serve_refuses_other_machines_without_a_token(run_cli, index):
    result = run_cli("serve", "--index", index, "--host", "0.0.0.0")
    assert result.code == 2 and "--token" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_prints_its_url_and_ctrl_c_stops_it(index):
    process = subprocess.Popen([sys.executable, "-m", "emoret_cli", "serve", "--index", str(index), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        assert "open http://127.0.0.1:" in line, line
        url = line.split("open ", 1)[1].split()[0]
        assert get(url + "api/health").status == 200
        assert get(url + "?" + urlencode({"q": QUERY})).status == 200
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
        out, err = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130 and out == "" and "interrupted" in err
    leftovers = [pid for pid in os.listdir("/proc") if pid.isdigit() and str(index) in _cmdline(pid)]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def test_query_in_the_page_url_is_quoted_not_trusted(served):
    page = get(f"{served.url}/?q=" + quote("<script>alert(1)</script>"))
    assert page.status == 200 and b"<script>alert" not in page.body  # the page is static; the query stays in the URL
    assert "script-src 'self'" in page.headers["content-security-policy"]
