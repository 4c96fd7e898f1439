"""This machine's matrix-multiply rate in each arithmetic, the ceiling of each embedding path.

fp32 and bf16: torch.mm of two 2048x2048 matrices (bf16 only where the CPU has native bf16;
torch emulates it elsewhere). int8: ONNX Runtime's MatMulInteger (uint8 x int8 -> int32),
the kernel the int8 towers run, on the same shapes (only where the CPU has VNNI or AMX-INT8).
The best of a few repeats, in GFLOP/s (2·n³ a product, int8 "operations" counted alike).

    python bench/gemm.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIZE = 2048


def best_rate(run: Callable[[], object], n: int = SIZE, repeats: int = 5) -> float:
    run()  # warm up: first-touch pages, kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def torch_rate(dtype_name: str, n: int = SIZE) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    return best_rate(lambda: torch.mm(a, b), n)


def int8_rate(n: int = SIZE) -> float:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from emoret.ort_session import cpu_session

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.integers(-127, 128, (n, n), dtype=np.int8), "b")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "gemm",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.INT32, [n, n])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "gemm.onnx"
        onnx.save(model, path)
        session = cpu_session(path)
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    return best_rate(lambda: session.run(["c"], {"a": a}), n)


def rates() -> dict[str, float]:
    """GFLOP/s by arithmetic: fp32 always, bf16 and int8 where the CPU has them natively."""
    from emoret.embedding.precision import cpu_has_bf16, cpu_has_int8

    out = {"fp32": torch_rate("float32")}
    if cpu_has_bf16():
        out["bf16"] = torch_rate("bfloat16")
    if cpu_has_int8():
        out["int8"] = int8_rate()
    return out


def cpu_flags() -> str:
    """The CPU's flags that decide the arithmetic (from /proc/cpuinfo)."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")
    try:
        line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    present = set(line.split(":", 1)[1].split())
    return " ".join(flag for flag in wanted if flag in present) or "none of " + " ".join(wanted)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(f"# CPU flags: {cpu_flags()}")
    for name, rate in rates().items():
        print(f"{name}: {rate:.0f} GFLOP/s")
