"""Exact search's scan: numpy's product against ONNX Runtime's (emoret/index/exact.py), on a
100k-item index with a ViT-B/32-sized text tower (bench/serve.py builds it).

1. ``exact.top_k`` alone, for 1 to 64 queries, the two products alternated in one process:
   median ms, and whether the hits are the same (rows and score bits).
2. Whole searches (``emoret.search``: tower, scan, rescoring) of QUERIES queries, each product
   in a fresh process of SEARCHES searches, alternated over ROUNDS: the median ms of each
   process; what a search gains once the tower ran first (its BLAS threads, the memory).

    python bench/serve.py --work /tmp/sb ...        # builds /tmp/sb/index-100000 first
    python bench/scan.py --index /tmp/sb/index-100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import loadavg, query_texts  # noqa: E402

from emoret.index import exact  # noqa: E402


def products(use_onnx: bool) -> None:
    """Which product scores the blocks from now on (the session made already where ONNX)."""
    if use_onnx:
        exact.prepare_scan()
    else:
        exact._onnx_scan = lambda: None  # type: ignore[method-assign]


def top_k_alone(index: Path, repeats: int) -> None:
    import emoret

    idx = emoret.open_index(index)
    vectors = idx.vectors()
    encoder = emoret.query_encoder(idx)
    queries = encoder.encode_queries(query_texts(64))
    real = exact._onnx_scan
    exact.prepare_scan()
    exact.ONNX_SCAN_MAX_QUERIES = 1 << 30  # both products at every count (the library takes numpy's above its bound)
    print(f"\n## exact.top_k alone, {len(vectors):,} × {vectors.shape[1]}; load {loadavg()}")
    print("| queries | numpy ms | ONNX Runtime ms | same hits |")
    print("|---:|---:|---:|---|")
    for count in (1, 2, 8, 32, 64):
        times: dict[str, list[float]] = {"numpy": [], "onnx": []}
        found = {}
        for _ in range(repeats):
            for label in times:
                exact._onnx_scan = real if label == "onnx" else (lambda: None)  # type: ignore[method-assign]
                start = time.perf_counter()
                found[label] = exact.top_k(vectors, queries[:count], 10)
                times[label].append(1000 * (time.perf_counter() - start))
        same = all(np.array_equal(a, b) for a, b in zip(found["numpy"], found["onnx"], strict=True))
        print(f"| {count} | {statistics.median(times['numpy']):.1f} | {statistics.median(times['onnx']):.1f} | {same} |")
    exact._onnx_scan = real  # type: ignore[method-assign]


def one_process(index: Path, use_onnx: bool, queries: int, searches: int, offset: int) -> float:
    """Median ms of ``searches`` whole searches of ``queries`` queries (run in a child process)."""
    import emoret

    idx = emoret.open_index(index)
    encoder = emoret.query_encoder(idx)
    texts = query_texts(1000)
    options = emoret.SearchOptions(top=10)
    products(use_onnx)
    emoret.search(idx, texts[:queries], encoder, options)
    times = []
    for number in range(searches):
        start = (offset + number * queries) % (len(texts) - queries)
        began = time.perf_counter()
        emoret.search(idx, texts[start : start + queries], encoder, options)
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def whole_searches(index: Path, queries: int, searches: int, rounds: int) -> None:
    print(f"\n## whole searches of {queries} queries, {searches} a process, {rounds} rounds alternated; load {loadavg()}")
    medians: dict[str, list[float]] = {"numpy": [], "onnx": []}
    for number in range(rounds):
        for label in medians:
            done = subprocess.run([sys.executable, __file__, "--index", str(index), "--child", label,
                                   "--queries", str(queries), "--searches", str(searches), "--offset", str(number * 97)],
                                  check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            medians[label].append(float(done.stdout.split()[-1]))
    for label, values in medians.items():
        print(f"{label} scan: median of the processes' medians {statistics.median(values):.1f} ms "
              f"(each: {', '.join(f'{v:.0f}' for v in values)})")
    print(f"load {loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--queries", type=int, default=6, help="queries a whole search (the server's batches: 5-7)")
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=["numpy", "onnx"], help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(one_process(args.index, args.child == "onnx", args.queries, args.searches, args.offset))
        return
    from gemm import cpu_flags

    print(f"# CPU flags: {cpu_flags()}; {os.cpu_count()} CPUs")
    top_k_alone(args.index, args.repeats)
    whole_searches(args.index, args.queries, args.searches, args.rounds)


if __name__ == "__main__":
    main()
