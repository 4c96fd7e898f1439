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

from emoret.retrieval import index as store  # noqa: E402


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


def bench_size(n: int, args, rng: np.random.Generator, basis) -> dict:
    vectors = unit_vectors(n, args.dim, args.kind, rng, basis)
    queries = unit_vectors(args.queries, args.dim, args.kind, rng, basis)
    truth = np.concatenate([exact_top(vectors, queries[i : i + 100], 10) for i in range(0, len(queries), 100)])

    start = time.perf_counter()
    hnsw = store.build_hnsw(vectors, m=args.m, ef_construction=args.ef_construction, threads=args.threads)
    build_s = time.perf_counter() - start
    hnsw.set_num_threads(1)

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
    return {"n": n, "build_s": build_s, "exact_ms": exact_ms, "rows": rows}


def cold_start(repeats: int) -> dict:
    """Median wall time of a cold `emoret search` against importing torch and transformers."""
    from emoret.model import load_model
    from emoret.model.tiny import build_tiny_clip
    from emoret.retrieval.embed import model_meta

    work = Path(tempfile.mkdtemp(prefix="emoret-bench-"))
    model_dir = build_tiny_clip(["a dog runs", "a happy child laughs", "a storm at sea"], work / "model")
    model = load_model(model_dir)
    rng = np.random.default_rng(0)
    vectors = unit_vectors(1000, model.embed_dim, "uniform", rng, None)
    records = [{"video_id": f"v{i}", "path": f"/videos/v{i}.mp4", "duration": 10.0} for i in range(len(vectors))]
    with store.writer_lock(work / "index"):
        store.write_index(work / "index", vectors, records, model_meta(model, model_dir))
    emoret = str(Path(sys.executable).with_name("emoret"))
    commands = {
        "emoret search (tiny model, 1k items)": [emoret, "search", "a happy dog", "--index", str(work / "index"), "--json"],
        "python -c 'import torch, transformers'": [sys.executable, "-c", "import torch, transformers"],
        "python -c 'from transformers import CLIPModel'": [sys.executable, "-c", "import torch; from transformers import CLIPModel"],
    }
    out = {}
    for label, command in commands.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        out[label] = statistics.median(times)
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
    parser.add_argument("--sweep", type=int, nargs="*", default=[64, 128, 512])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="build threads")
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    basis = rng.standard_normal((32, args.dim)).astype(np.float32) if args.kind == "embedding-like" else None
    print(f"# {args.kind} {args.dim}-d unit vectors; M={args.m}, ef_construction={args.ef_construction}, "
          f"build threads={args.threads}, {args.queries} queries, top 10", flush=True)
    for n in args.sizes:
        result = bench_size(n, args, rng, basis)
        print(f"\nn={n:,}: build {result['build_s']:.0f} s; exact numpy {result['exact_ms']:.2f} ms/query", flush=True)
        print("| ef | hnswlib ms/query | recall@10 | speed-up vs exact |")
        print("|---:|---:|---:|---:|")
        for row in result["rows"]:
            mark = " (default)" if row["default"] else ""
            print(f"| {row['ef']}{mark} | {row['ms']:.3f} | {row['recall']:.4f} | {row['speedup']:.1f}x |", flush=True)
    if not args.no_cold:
        times = cold_start(args.cold_repeats)
        base = times["python -c 'import torch, transformers'"]
        print(f"\ncold start (median of {args.cold_repeats}):")
        for label, seconds in times.items():
            print(f"  {label}: {seconds:.2f} s ({seconds / base:.2f}x the torch+transformers import)")


if __name__ == "__main__":
    main()
