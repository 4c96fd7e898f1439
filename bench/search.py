"""Search speed: hnswlib (what `emoret index`/`search` use) against exact numpy search.

For each size: build time, one-query latency (one thread, queries one at a time, as
`emoret search` asks), recall@10 against the exact top 10, and the speed-up. Then
the cold start of `emoret search` against `python -c "import torch, transformers"`.

Vectors are 512-d unit vectors of two kinds:
- `embedding-like` (default): random directions in a random 32-d subspace plus
  isotropic noise, normalised. Real CLIP embeddings have such a low intrinsic
  dimension; queries are fresh draws, not copies of indexed vectors.
- `uniform`: i.i.d. uniform on the sphere. In 512-d every point is almost equally
  far from every other, so no neighbour structure exists for any graph index to
  follow; included as the worst case, not as a target.

    python bench/search.py                       # 100k and 1M embedding-like, + cold start
    python bench/search.py --sizes 100000 --kind uniform --no-cold
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emoret.index import store  # noqa: E402  (after the path is set)

sys.path.insert(0, str(Path(__file__).resolve().parent))


def unit_vectors(n: int, dim: int, kind: str, rng: np.random.Generator, basis: np.ndarray | None) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        if kind == "uniform":
            block = rng.standard_normal((m, dim), dtype=np.float32)
        else:
            latent = rng.standard_normal((m, basis.shape[0]), dtype=np.float32)
            noise = rng.standard_normal((m, dim), dtype=np.float32) * np.float32(0.3 * np.sqrt(basis.shape[0] / dim))
            block = latent @ basis + noise
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ vectors.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def bench_size(n: int, args, rng: np.random.Generator, basis, work: Path, model=None) -> dict:
    """Build an index directory of n vectors as `emoret index` does (with the query export
    when ``model`` is given), then time queries on its graph and measure recall."""
    vectors = unit_vectors(n, args.dim, args.kind, rng, basis)
    queries = unit_vectors(args.queries, args.dim, args.kind, rng, basis)
    truth = np.concatenate([exact_top(vectors, queries[i : i + 100], 10) for i in range(0, len(queries), 100)])

    target = work / f"index-{n}"
    records = [{"video_id": f"v{i}", "path": f"/videos/v{i}.mp4", "duration": 10.0} for i in range(n)]
    meta, extras = {}, None
    if model is not None:
        from emoret.embedding.files import model_meta
        from emoret.query.export import exporter

        meta, extras = model_meta(model, args.model_dir), exporter(model, lambda why: print("export:", why))
    with store.writer_lock(target):
        build_start = time.perf_counter()
        store.write_index(target, vectors, records, meta, m=args.m, ef_construction=args.ef_construction,
                          threads=args.threads, extras=extras)
    build_s = time.perf_counter() - build_start
    opened = store.open_index(target)
    hnsw = opened.hnsw
    hnsw.set_num_threads(os.cpu_count() or 1)

    # Exact search, one query at a time on one thread's worth of numpy (BLAS may use more).
    single = queries[: args.exact_queries]
    start = time.perf_counter()
    for query in single:
        exact_top(vectors, query[None, :], 10)
    exact_ms = (time.perf_counter() - start) / len(single) * 1000

    rows = []
    for ef in sorted({args.ef, *args.sweep}):
        hnsw.set_ef(max(ef, 10))
        found = []
        start = time.perf_counter()
        for query in queries:
            labels, _ = hnsw.knn_query(query[None, :], k=10)
            found.append(labels[0])
        ms = (time.perf_counter() - start) / len(queries) * 1000
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        rows.append({"ef": ef, "ms": ms, "recall": recall, "speedup": exact_ms / ms, "default": ef == args.ef})
    return {"n": n, "build_s": build_s, "exact_ms": exact_ms, "rows": rows, "index": target,
            "batched": batched_rates(opened, queries, args.ef), "method": "exact" if opened.uses_exact() else "graph"}


def batched_rates(index: store.Index, queries: np.ndarray, ef: int, batch: int = 64) -> dict[str, float]:
    """ms a query when queries come 64 at a time, as `emoret search -` sends them: exact
    (one BLAS product over the memory-mapped vectors.npy) and the graph (hnswlib, all cores)."""
    out = {}
    for method in ("exact", "graph"):
        start = time.perf_counter()
        for i in range(0, len(queries), batch):
            index.search(queries[i : i + batch], top=10, ef=ef if method == "graph" else None, method=method)
        out[method] = (time.perf_counter() - start) / len(queries) * 1000
    return out


def query_texts(count: int) -> list[str]:
    """MSR-VTT captions, some with an emotion word, as queries (repeated to ``count``)."""
    from b32 import captions

    texts = captions()
    texts = [t for t in texts if t.strip()]
    extra = ["my daughter laughing at her birthday party", "a scary storm over the sea", "a sad man sits alone",
             "an angry driver shouts in traffic", "children happy at a party"]
    pool = extra + texts
    return [pool[i % len(pool)] for i in range(count)]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cold_start(index_dir: Path, model_dir: Path, repeats: int, query: str) -> dict:
    """Median wall time of cold `emoret search` runs, numpy path and torch path, interleaved."""
    emoret = str(Path(sys.executable).with_name("emoret"))
    commands = {
        "emoret search (numpy query path)": [emoret, "search", query, "--index", str(index_dir), "--json"],
        "emoret search --method graph (numpy query path, hnswlib)": [emoret, "search", query, "--index", str(index_dir),
                                                                      "--json", "--method", "graph"],
        "emoret search --model M (torch path)": [emoret, "search", query, "--index", str(index_dir), "--json",
                                                 "--model", str(model_dir)],
        "python -c 'import torch, transformers'": [sys.executable, "-c", "import torch, transformers"],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    outputs: dict[str, bytes] = {}
    for _ in range(repeats):
        for label, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            times[label].append(time.perf_counter() - start)
            outputs[label] = done.stdout
    # The same command back to back, as someone searching again would run it (the runs above
    # alternate with torch imports, which push emoret's files and libraries out of the caches).
    alone = "emoret search (numpy query path), runs back to back"
    times[alone] = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(commands["emoret search (numpy query path)"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times[alone].append(time.perf_counter() - start)
    return {"times": times, "outputs": outputs}


def ranked_ids(output: bytes) -> dict[str, list[str]]:
    import orjson

    out: dict[str, list[str]] = {}
    for line in output.splitlines():
        record = orjson.loads(line)
        out.setdefault(record["query"], []).append(record["video_id"])
    return out


def piped(index_dir: Path, model_dir: Path | None, queries: list[str]) -> tuple[float, dict[str, list[str]]]:
    emoret = str(Path(sys.executable).with_name("emoret"))
    command = [emoret, "search", "-", "--index", str(index_dir), "--json"]
    if model_dir is not None:
        command += ["--model", str(model_dir)]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, input="\n".join(queries).encode() + b"\n",
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, ranked_ids(done.stdout)


def warm_rates(index_dir: Path, model_dir: Path, queries: list[str], torch_queries: int) -> dict:
    """Queries/s once started, in process: numpy encoder vs the torch model, same index, same code path."""
    from emoret.model import load_model
    from emoret.query import search as searching
    from emoret.query.text_numpy import for_index

    index = store.open_index(index_dir)
    numpy_encoder = for_index(index.path, index.meta.get("fingerprint"))
    model = load_model(model_dir)
    out = {}
    for label, encoder, subset in (("numpy", numpy_encoder, queries), ("torch", model, queries[:torch_queries])):
        for batch_size in (1, 64):
            start = time.perf_counter()
            for i in range(0, len(subset), batch_size):
                searching.search(index, encoder, subset[i : i + batch_size], top=10)
            out[(label, batch_size)] = len(subset) / (time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--kind", choices=("embedding-like", "uniform"), default="embedding-like")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--exact-queries", type=int, default=50)
    parser.add_argument("--m", type=int, default=store.DEFAULT_M)
    parser.add_argument("--ef-construction", type=int, default=store.DEFAULT_EF_CONSTRUCTION)
    parser.add_argument("--ef", type=int, default=store.DEFAULT_EF, help="the default --ef of emoret search")
    parser.add_argument("--sweep", type=int, nargs="*", default=[64, 128, 256])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="build threads")
    parser.add_argument("--cold-size", type=int, default=100_000, help="index size for the cold start (one of --sizes)")
    parser.add_argument("--cold-repeats", type=int, default=5)
    parser.add_argument("--warm-queries", type=int, default=2000)
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--work", type=Path, help="keep the indexes and model here (default: a temporary directory)")
    parser.add_argument("--baseline-src", type=Path,
                        help="instead of the query path: the cost of each integrity check, and cold searches from "
                             "this tree against this source tree (e.g. a worktree of the commit before), interleaved")
    parser.add_argument("--piped", type=int, default=0,
                        help="with --baseline-src: also `search -` of this many piped queries from both trees")
    parser.add_argument("--piped-rounds", type=int, default=3)
    parser.add_argument("--compare-parsers", action="store_true",
                        help="with --query-path-only: cold searches through the fast parser against typer's own, interleaved")
    parser.add_argument("--query-path-only", action="store_true",
                        help="only the query path, on the --cold-size index and model an earlier run left in --work")
    args = parser.parse_args()
    if args.query_path_only:
        if args.work is None:
            parser.error("--query-path-only needs --work")
        args.model_dir = args.work / "model" / "emoret"
        if args.compare_parsers:
            report_parsers(args.work / f"index-{args.cold_size}", args.cold_repeats)
            return
        report_query_path(args.work / f"index-{args.cold_size}", args)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="emoret-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cold = not args.no_cold and args.cold_size in args.sizes
    model = None
    if cold:
        from b32 import build_b32

        from emoret.model import load_model

        args.model_dir = build_b32(work / "model")
        model = load_model(args.model_dir)
        args.dim = model.embed_dim

    rng = np.random.default_rng(0)
    basis = rng.standard_normal((32, args.dim)).astype(np.float32) if args.kind == "embedding-like" else None
    print(f"# {args.kind} {args.dim}-d unit vectors; M={args.m}, ef_construction={args.ef_construction}, "
          f"build threads={args.threads}, {args.queries} queries, top 10", flush=True)
    built = {}
    for n in args.sizes:
        result = bench_size(n, args, rng, basis, work, model if (cold and n == args.cold_size) else None)
        built[n] = result["index"]
        print(f"\nn={n:,}: build {result['build_s']:.0f} s ({args.threads} threads, `write_index` as `emoret index` "
              f"runs it); exact numpy {result['exact_ms']:.2f} ms/query; load {loadavg()}", flush=True)
        print("| ef | hnswlib ms/query | recall@10 | speed-up vs exact |")
        print("|---:|---:|---:|---:|")
        for row in result["rows"]:
            mark = " (default)" if row["default"] else ""
            print(f"| {row['ef']}{mark} | {row['ms']:.3f} | {row['recall']:.4f} | {row['speedup']:.1f}x |", flush=True)
        batched = result["batched"]
        print(f"64 queries a call (Index.search): exact {batched['exact']:.3f} ms/query, graph at ef {args.ef} "
              f"{batched['graph']:.3f} ms/query ({batched['graph'] / batched['exact']:.1f}x); "
              f"`emoret search` uses {result['method']} at this size", flush=True)
    if cold:
        report_query_path(built[args.cold_size], args)


def check_costs(index_dir: Path, repeats: int = 7) -> dict[str, list[float]]:
    """In process, seconds of each integrity check a search makes (the page cache warm)."""
    from emoret.index import check as index_check
    from emoret.query.text_numpy import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE

    meta = store.read_meta(index_dir)
    items = (index_dir / store.ITEMS_FILE).read_bytes()
    checks = {
        "meta.json fields": lambda: index_check.validate_meta(meta, "meta.json"),
        f"items.jsonl sha256 ({len(items) / 1e6:.1f} MB, read anyway)": lambda: index_check.check_sha256(
            index_dir, meta, store.ITEMS_FILE, items),
        "vectors.npy size + header": lambda: store.map_vectors(index_dir, meta),
        "vectors.npy block sums (exact search)": lambda: index_check.check_block_sums(index_dir, meta, store.VECTORS_FILE),
        "tower: text_tower.json + tokenizer.json sha256": lambda: [index_check.check_sha256(index_dir, meta, name)
                                                                    for name in (CONFIG_FILE, TOKENIZER_FILE)],
        "tower: text_tower.safetensors block sums": lambda: index_check.check_block_sums(index_dir, meta, WEIGHTS_FILE),
        "index.bin sha256 (graph search only)": lambda: index_check.check_sha256(index_dir, meta, store.INDEX_FILE),
        "for comparison: vectors.npy full sha256 (--verify)": lambda: index_check.check_sha256(
            index_dir, meta, store.VECTORS_FILE),
        "for comparison: text_tower.safetensors full sha256 (--verify)": lambda: index_check.check_sha256(
            index_dir, meta, WEIGHTS_FILE),
    }
    times: dict[str, list[float]] = {label: [] for label in checks}
    for _ in range(repeats):
        for label, check in checks.items():
            start = time.perf_counter()
            check()
            times[label].append(time.perf_counter() - start)
    return times


def before_after(index_dir: Path, baseline: Path, repeats: int, query: str) -> dict[str, list[float]]:
    """Cold `emoret search` from this tree and from ``baseline`` (the code before the checks), interleaved."""
    trees = {"before (baseline tree)": baseline, "after (this tree)": ROOT}
    methods = {"exact (default)": [], "--method graph": ["--method", "graph"]}
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for method, extra in methods.items():
            for tree_label, tree in trees.items():
                command = [sys.executable, "-m", "emoret_cli", "search", query, "--index", str(index_dir), "--json", *extra]
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(tree)})
                times.setdefault(f"{method}, {tree_label}", []).append(time.perf_counter() - start)
    return times


def piped_before_after(index_dir: Path, baseline: Path, rounds: int, queries: list[str]) -> None:
    """`emoret search -` of ``queries`` from this tree and from ``baseline``, interleaved: queries/s (process
    start included) and whether the two print the same bytes."""
    trees = {"before (baseline tree)": baseline, "after (this tree)": ROOT}
    rates: dict[str, list[float]] = {label: [] for label in trees}
    outputs: dict[str, bytes] = {}
    for _ in range(rounds):
        for label, tree in trees.items():
            command = [sys.executable, "-m", "emoret_cli", "search", "-", "--index", str(index_dir), "--json"]
            start = time.perf_counter()
            done = subprocess.run(command, check=True, input="\n".join(queries).encode() + b"\n", stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(tree)})
            rates[label].append(len(queries) / (time.perf_counter() - start))
            outputs[label] = done.stdout
    print(f"`search -` with {len(queries)} piped queries before/after, {rounds} runs each, interleaved: "
          "queries/s median (min-max)")
    for label, values in rates.items():
        print(f"  {label}: {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})")
    print(f"  the same bytes on stdout: {len(set(outputs.values())) == 1} ({len(outputs[label]):,} bytes)")


def report_parsers(index_dir: Path, repeats: int) -> None:
    """Cold `emoret search` parsed by the fast path (emoret_cli/fastpath.py) and by typer itself
    (the fast path switched off), interleaved; BLAS on one thread in both, as the fast path sets it."""
    argv = ["search", "my daughter laughing at her birthday party", "--index", str(index_dir), "--json"]
    typer_only = ("import sys, emoret_cli.main as m; m._fast_search = lambda args: None; "
                  f"sys.argv = ['emoret', *{argv!r}]; m.main()")
    commands = {"fast parser": [sys.executable, "-m", "emoret_cli", *argv],
                "typer (fast path off)": [sys.executable, "-c", typer_only]}
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(repeats):
        for label, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
            times[label].append(time.perf_counter() - start)
    print(f"cold `emoret search`, {repeats} runs each, interleaved: median (min-max); load {loadavg()}")
    for label, values in times.items():
        print(f"  {label}: {statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})")


def report_before_after(index_dir: Path, args) -> None:
    query = "my daughter laughing at her birthday party"
    print(f"\n## integrity checks on the {args.cold_size:,}-item index; load {loadavg()}")
    print("in process, median (min-max) of 7, ms:")
    for label, times in check_costs(index_dir).items():
        print(f"  {label}: {1000 * statistics.median(times):.1f} ({1000 * min(times):.1f}-{1000 * max(times):.1f})")
    print(f"cold `python -m emoret_cli search` before/after, {args.cold_repeats} runs each, interleaved: "
          "median (min-max)")
    for label, times in before_after(index_dir, args.baseline_src, args.cold_repeats, query).items():
        print(f"  {label}: {statistics.median(times):.3f} s ({min(times):.3f}-{max(times):.3f})")
    if args.piped:
        piped_before_after(index_dir, args.baseline_src, args.piped_rounds, query_texts(args.piped))
    print(f"load {loadavg()}")


def report_query_path(index_dir: Path, args) -> None:
    if args.baseline_src is not None:
        report_before_after(index_dir, args)
        return
    query = "my daughter laughing at her birthday party"
    print(f"\n## query path on the {args.cold_size:,}-item index (ViT-B/32-shaped random model); load {loadavg()}")
    result = cold_start(index_dir, args.model_dir, args.cold_repeats, query)
    base = statistics.median(result["times"]["python -c 'import torch, transformers'"])
    print(f"cold start, {args.cold_repeats} runs each, interleaved: median (min-max)")
    for label, times in result["times"].items():
        median = statistics.median(times)
        print(f"  {label}: {median:.2f} s ({min(times):.2f}-{max(times):.2f}; {median / base:.2f}x the torch import)")
    ids = {label.split(" (")[0]: ranked_ids(out).get(query) for label, out in result["outputs"].items() if "search" in label}
    print("  same top 10, numpy vs torch path:", ids["emoret search"] == ids["emoret search --model M"],
          f"(graph: {len(set(ids['emoret search --method graph']) & set(ids['emoret search']))}/10 of the exact top 10)")

    queries = query_texts(200)
    numpy_s, numpy_ids = piped(index_dir, None, queries)
    torch_s, torch_ids = piped(index_dir, args.model_dir, queries)
    same = sum(numpy_ids[q] == torch_ids[q] for q in set(queries))
    print(f"`search -` with {len(queries)} piped queries, start-up included: numpy {numpy_s:.2f} s, "
          f"torch {torch_s:.2f} s; identical top 10 on {same}/{len(set(queries))} distinct queries; load {loadavg()}")
    rates = warm_rates(index_dir, args.model_dir, query_texts(args.warm_queries), torch_queries=args.warm_queries // 4)
    print("warm queries/s in process (encode + top 10, `emoret search`'s default method):")
    for (label, batch), rate in rates.items():
        print(f"  {label}, {batch} a batch: {rate:.0f} queries/s")
    print(f"load {loadavg()}")


if __name__ == "__main__":
    main()
