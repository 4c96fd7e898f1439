"""`emoret serve` under load: warm query latency through HTTP beside the library call, and
searches while the index is rebuilt.

1. Latency: for each index (the quickstart's, and a 100k-item index of 512-d embedding-like
   vectors with a ViT-B/32-sized text tower, built here as bench/search.py builds its own),
   `emoret serve --port 0` is started (the real command, another process) and warmed; then
   QUERIES queries (MSR-VTT captions where ../shared has them, see b32.py) go through
   GET /api/search from 1 client and from CLIENTS concurrent clients (threads, one keep-alive
   connection each), each run's texts tagged so that none was asked before (the server keeps
   the vectors of queries asked again; a last row asks the CLIENTS run's texts again), and the
   same queries through the in-process library call (`emoret.search` on an index and encoder
   opened once), one at a time. p50 / p99 per query, queries/s, errors.
2. Swap: SWAP_REQUESTS searches from CLIENTS clients on a copy of the quickstart index while
   `emoret index` rebuilds it twice from embedding sets whose records carry a version tag;
   every answer must be 200 and come whole from one version (all its records one tag, as many
   as asked).

    python bench/serve.py --quickstart-index emoret-demo/index     # the quickstart run first
    python bench/serve.py --quickstart-index emoret-demo/index --work /tmp/serve-bench  # keeps the 100k index
    git worktree add /tmp/serve-base <commit>
    python bench/serve.py ... --baseline-src /tmp/serve-base --rounds 3  # the server of both trees, alternated
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import loadavg, query_texts, unit_vectors  # noqa: E402

import emoret  # noqa: E402  (after the path is set)


def start_server(index: Path, source: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """`emoret serve` of the source tree ``source`` (this one, or a baseline's) on ``index``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    process = subprocess.Popen([sys.executable, "-m", "emoret_cli", "serve", "--index", str(index), "--port", "0"],
                               cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "open http://" in line:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # drain the rest
            return process, line.split("open ", 1)[1].split()[0]
    raise RuntimeError(f"emoret serve did not start (exit {process.wait()})")


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=30)


def http_run(url: str, queries: list[str], clients: int, params: dict | None = None,
             check=None, interval: float = 0.0) -> tuple[list[float], int, float]:
    """(seconds of each request, errors, wall seconds): the queries split over ``clients`` threads,
    each starting a request at most every ``interval`` seconds."""
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(share: list[str]) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        mine, bad, opened = [], 0, time.perf_counter()
        for number, query in enumerate(share):
            if interval:
                time.sleep(max(0.0, opened + number * interval - time.perf_counter()))
            began = time.perf_counter()
            try:
                connection.request("GET", "/api/search?" + urlencode({"q": query, **(params or {})}))
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and (check is None or check(body))
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            mine.append(time.perf_counter() - began)
            bad += not ok
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(queries[i::clients],)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - began


def library_run(index_dir: Path, queries: list[str]) -> tuple[list[float], float]:
    index = emoret.open_index(index_dir)
    encoder = emoret.query_encoder(index)
    for query in queries[:20]:
        emoret.search(index, [query], encoder)
    latencies = []
    began = time.perf_counter()
    for query in queries:
        start = time.perf_counter()
        emoret.search(index, [query], encoder)
        latencies.append(time.perf_counter() - start)
    return latencies, time.perf_counter() - began


def searches(url: str) -> dict:
    """The server's count of searches answered and of the batches they were answered in."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("GET", "/api/health")
    record = orjson.loads(connection.getresponse().read())["searches"]
    connection.close()
    return record


def row(name: str, latencies: list[float], wall: float, errors: int | str = "") -> str:
    ms = sorted(1000 * x for x in latencies)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return f"| {name} | {statistics.median(ms):.1f} | {p99:.1f} | {len(ms) / wall:.0f} | {errors} |"


def latency_table(index_dir: Path, label: str, queries: list[str], clients: int,
                  sources: dict[str, Path] | None = None, rounds: int = 1) -> None:
    """The rows of one index: the library call (this tree), then each source tree's server, alternated over rounds."""
    sources = sources or {"": ROOT}
    print(f"\n{label}: {emoret.open_index(index_dir).meta['count']:,} items, {len(queries)} queries; load {loadavg()}")
    print("| path | p50 ms | p99 ms | queries/s | errors | queries a batch |")
    print("|---|---:|---:|---:|---:|---:|")
    lib, lib_wall = library_run(index_dir, queries)
    print(row("library call, in process, 1 at a time", lib, lib_wall) + " 1 |", flush=True)
    for number in range(rounds):
        for name, source in sources.items():
            tag = f"{name}, round {number + 1}: " if name else ""
            server_rows(index_dir, source, tag, queries, clients)


def tagged(queries: list[str], tag: str) -> list[str]:
    """The queries made new to a server that keeps the vectors of queries asked before."""
    return [f"{query} ({tag})" for query in queries]


def server_rows(index_dir: Path, source: Path, tag: str, queries: list[str], clients: int) -> None:
    """1 client, then ``clients``, each on texts the server has not seen; then ``clients`` again on the
    last run's texts (what a server that keeps query vectors saves on repeated queries)."""
    process, url = start_server(index_dir, source)
    try:
        http_run(url, tagged(queries[:50], "warm"), 2)  # warm the connections and the server's threads
        fresh = tagged(queries, "clients")
        runs = [(1, tagged(queries, "one client"), ""), (clients, fresh, ""), (clients, fresh, ", the same queries again")]
        for count, texts, note in runs:
            before = searches(url)
            latencies, errors, wall = http_run(url, texts, count)
            after = searches(url)
            batch = (after["answered"] - before["answered"]) / max(1, after["batches"] - before["batches"])
            label = f"{tag}HTTP GET /api/search, {count} client{'s' if count > 1 else ''}{note}"
            print(row(label, latencies, wall, errors) + f" {batch:.1f} |", flush=True)
    finally:
        code = stop_server(process)
    print(f"server stopped by SIGINT: exit {code}; load {loadavg()}")


def build_large(work: Path, size: int) -> Path:
    """An index of ``size`` embedding-like 512-d vectors with the query export of a ViT-B/32-sized model."""
    from b32 import build_b32

    from emoret.embedding.files import model_meta
    from emoret.index import store
    from emoret.model import load_model
    from emoret.query.export import exporter

    target = work / f"index-{size}"
    if (target / "meta.json").exists():
        return target
    model_dir = build_b32(work / "model")
    model = load_model(model_dir)
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((32, model.embed_dim)).astype(np.float32)
    vectors = unit_vectors(size, model.embed_dim, "embedding-like", rng, basis)
    records = [{"video_id": f"v{i}", "path": f"/videos/v{i}.mp4", "duration": 10.0} for i in range(size)]
    began = time.perf_counter()
    with store.writer_lock(target):
        store.write_index(target, vectors, records, model_meta(model, model_dir), extras=exporter(model, print))
    print(f"built {target} in {time.perf_counter() - began:.0f} s", flush=True)
    return target


def tagged_sets(index_dir: Path, work: Path, tags: list[str]) -> list[Path]:
    """Embedding sets of the index's own vectors and records, each record tagged with its version."""
    from emoret.embedding.files import save_embeddings

    index = emoret.open_index(index_dir)
    vectors = np.asarray(index.vectors())
    meta = {key: index.meta[key] for key in ("model", "fingerprint") if index.meta.get(key)}
    out = []
    for tag in tags:
        name = work / f"swap-{tag}"
        save_embeddings(name, vectors, [{**item, "version": tag} for item in index.items], {**meta, "kind": "videos"})
        out.append(name)
    return out


def swap_run(quickstart: Path, work: Path, queries: list[str], clients: int, requests: int) -> None:
    target = work / "swap-index"
    shutil.rmtree(target, ignore_errors=True)
    first, *rebuilds = tagged_sets(quickstart, work, ["v0", "v1", "v2"])
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "emoret_cli", "index", str(first), "--out", str(target)], cwd=ROOT, check=True,
                   stderr=subprocess.DEVNULL)
    # The requests paced to span both rebuilds (each about as long as this first build).
    interval = clients * len(rebuilds) * (time.perf_counter() - began + 0.5) * 1.2 / requests
    top = min(10, emoret.open_index(target).meta["count"])
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def whole(body: bytes) -> bool:
        tags = {orjson.loads(line)["version"] for line in body.splitlines()}
        with lock:
            for tag in tags:
                seen[tag] = seen.get(tag, 0) + 1
        return len(tags) == 1 and len(body.splitlines()) == top

    process, url = start_server(target)
    rebuilt: list[float] = []

    def rebuild() -> None:
        for embeddings in rebuilds:
            time.sleep(0.5)  # some answers from each version
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "emoret_cli", "index", str(embeddings), "--out", str(target)],
                           cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
            rebuilt.append(time.perf_counter() - began)

    pool = [queries[i % len(queries)] for i in range(requests)]
    try:
        builder = threading.Thread(target=rebuild)
        builder.start()
        latencies, errors, wall = http_run(url, pool, clients, {"top": top}, check=whole, interval=interval)
        builder.join()
    finally:
        stop_server(process)
    print(f"\nswap: {len(latencies)} requests from {clients} clients in {wall:.1f} s while `emoret index` rebuilt the "
          f"index {len(rebuilt)} times ({', '.join(f'{s:.1f} s' for s in rebuilt)}): {errors} errors (a non-200 "
          f"or an answer not whole from one version); answers by version: {dict(sorted(seen.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quickstart-index", type=Path, help="the index examples/quickstart.sh wrote (default: run it)")
    parser.add_argument("--size", type=int, default=100_000, help="items in the large index (0: skip it)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--swap-requests", type=int, default=2000)
    parser.add_argument("--work", type=Path, help="keep the indexes here (default: a temporary directory)")
    parser.add_argument("--baseline-src", type=Path, help="also the server of this source tree (a git worktree), "
                        "alternated with this tree's on the large index")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the large index's servers")
    parser.add_argument("--only-large", action="store_true", help="the large index's table alone")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="emoret-serve-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    quickstart = args.quickstart_index
    if quickstart is None:
        subprocess.run(["bash", str(ROOT / "examples" / "quickstart.sh"), str(work / "demo")], check=True,
                       stdout=subprocess.DEVNULL)
        quickstart = work / "demo" / "index"
    print(f"# {os.cpu_count()} CPUs; {args.clients} concurrent clients on loopback, in this process; "
          f"the server is `emoret serve`, another process", flush=True)
    queries = query_texts(args.queries)
    if not args.only_large:
        latency_table(quickstart, "quickstart index", queries, args.clients)
    if args.size:
        sources = {"baseline": args.baseline_src, "this tree": ROOT} if args.baseline_src else None
        latency_table(build_large(work, args.size), f"{args.size:,}-item index (512-d, B/32 text tower)", queries,
                      args.clients, sources, args.rounds)
    if not args.only_large:
        swap_run(quickstart, work, queries, args.clients, args.swap_requests)


if __name__ == "__main__":
    main()
