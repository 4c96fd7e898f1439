"""The query tower in int8 (emoret/query/text_onnx.py) against the fp32 numpy tower.

A ViT-B/32-shaped model with random weights (bench/b32.py) and a 100k index of
embedding-like vectors built as `emoret index` builds it (bench/search.py), with the query
export and the int8 tower beside it. Then, the two towers on the same index:

- top-10 agreement: of 200 MSR-VTT captions as queries, how many get the same 10 videos
  (exact search, so that only the towers differ), and the lowest cosine between them;
- `emoret search -` with 1000 piped queries, queries/s (EMORET_CPU_VNNI=0: fp32 numpy
  tower, =1: int8), alternated over rounds;
- a cold single query, `emoret search "..." --index`, both ways, alternated.

    python bench/query_int8.py                  # 100k, 3 rounds
    python bench/query_int8.py --size 20000 --rounds 1
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OVERRIDE = "EMORET_CPU_VNNI"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build_index(work: Path, size: int) -> Path:
    from b32 import build_b32
    from search import unit_vectors

    from emoret.embedding.files import model_meta
    from emoret.index import store
    from emoret.index.build import query_export
    from emoret.model import load_model
    from emoret.query import text_onnx

    model_dir = build_b32(work / "model")
    model = load_model(model_dir)
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((32, model.embed_dim)).astype(np.float32)
    vectors = unit_vectors(size, model.embed_dim, "embedding-like", rng, basis)
    records = [{"video_id": f"v{i}", "path": f"/videos/v{i}.mp4"} for i in range(size)]
    os.environ[OVERRIDE] = "1"  # the int8 tower is written where the CPU has int8 instructions
    os.environ["EMORET_QUERY_INT8"] = "1"  # and where asked for
    start = time.perf_counter()
    # `emoret index` refuses the int8 tower on this index (it changes probe queries' top 10):
    # written here all the same, since measuring that agreement is the point.
    text_onnx.check_top_agreement = lambda directory: None
    store.write_index(work / "index", vectors, records, model_meta(model, model_dir), extras=query_export(model, print))
    assert (work / "index" / text_onnx.INT8_FILE).exists()
    print(f"index of {size:,} built with both towers in {time.perf_counter() - start:.0f} s")
    return work / "index"


def agreement(index_dir: Path, queries: list[str]) -> None:
    from emoret.index import store
    from emoret.query import search as searching
    from emoret.query import text_onnx
    from emoret.query.text_numpy import for_index

    index = store.open_index(index_dir)
    plain = for_index(index.path, index.meta.get("fingerprint"))
    assert plain is not None
    fast = text_onnx.for_index(index.path, plain, index.meta)
    assert isinstance(fast, text_onnx.OnnxTextEncoder)
    ours, theirs = fast.encode_queries(queries), plain.encode_queries(queries)
    cosine = np.sum(ours * theirs, axis=1)
    top8 = index.search(ours, top=10, method="exact")
    top32 = index.search(theirs, top=10, method="exact")
    same_set = sum({h.item["video_id"] for h in a} == {h.item["video_id"] for h in b} for a, b in zip(top8, top32, strict=True))
    same_order = sum([h.item["video_id"] for h in a] == [h.item["video_id"] for h in b] for a, b in zip(top8, top32, strict=True))
    singles = np.stack([fast.encode_queries([q])[0] for q in queries])
    hits = searching.search(index, fast, queries[:1], top=10)  # the path `emoret search` takes
    assert len(hits[0]) == 10
    print(f"\n## top-10 agreement, {len(queries)} queries, exact search on {len(index):,} items; load {loadavg()}")
    print(f"same 10 videos: {same_set}/{len(queries)} ({100 * same_set / len(queries):.1f} %); same order: "
          f"{same_order}/{len(queries)}; cosine int8 to fp32: min {cosine.min():.5f}, median {np.median(cosine):.5f}; "
          f"a query alone vs in a batch of {len(queries)}: min cosine {np.min(np.sum(singles * ours, axis=1)):.5f}")


def piped_rates(index_dir: Path, queries: list[str], rounds: int) -> None:
    emoret = str(Path(sys.executable).with_name("emoret"))
    times: dict[str, list[float]] = {"fp32 numpy tower": [], "int8 tower": []}
    for _ in range(rounds):
        for label, flag in (("fp32 numpy tower", "0"), ("int8 tower", "1")):
            start = time.perf_counter()
            subprocess.run([emoret, "search", "-", "--index", str(index_dir), "--json"], check=True,
                           input="\n".join(queries).encode() + b"\n", stdout=subprocess.DEVNULL,
                           env={**os.environ, OVERRIDE: flag})
            times[label].append(time.perf_counter() - start)
    print(f"\n## `emoret search -`, {len(queries)} piped queries (process start included), {rounds} rounds; load {loadavg()}")
    for label, seconds in times.items():
        rates = [len(queries) / s for s in seconds]
        print(f"{label}: {statistics.median(rates):.0f} queries/s (min-max {min(rates):.0f}-{max(rates):.0f})")


def cold(index_dir: Path, query: str, rounds: int) -> None:
    emoret = str(Path(sys.executable).with_name("emoret"))
    times: dict[str, list[float]] = {"fp32 numpy tower": [], "int8 tower": []}
    for _ in range(rounds):
        for label, flag in (("fp32 numpy tower", "0"), ("int8 tower", "1")):
            start = time.perf_counter()
            subprocess.run([emoret, "search", query, "--index", str(index_dir), "--json"], check=True,
                           stdout=subprocess.DEVNULL, env={**os.environ, OVERRIDE: flag})
            times[label].append(time.perf_counter() - start)
    print(f"\n## cold `emoret search \"{query}\"`, {rounds} runs each, alternated; load {loadavg()}")
    for label, seconds in times.items():
        print(f"{label}: median {statistics.median(seconds):.3f} s (min-max {min(seconds):.3f}-{max(seconds):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--piped", type=int, default=1000)
    parser.add_argument("--work", type=Path, help="keep (or reuse) the model and index here")
    args = parser.parse_args()
    from search import query_texts

    from emoret.embedding.precision import INT8_CPU_FLAGS, cpu_reports_flags

    work = args.work or Path(tempfile.mkdtemp(prefix="emoret-query-int8-"))
    index_dir = work / "index" if (work / "index" / "meta.json").is_file() else build_index(work, args.size)
    print(f"# CPU int8 instructions ({', '.join(INT8_CPU_FLAGS)}): {cpu_reports_flags(INT8_CPU_FLAGS)}; "
          f"{os.cpu_count()} CPUs; load {loadavg()}")
    queries = query_texts(args.piped)
    agreement(index_dir, queries[:200])
    piped_rates(index_dir, queries, args.rounds)
    cold(index_dir, "my daughter laughing at her birthday party", max(args.rounds, 5))


if __name__ == "__main__":
    main()
