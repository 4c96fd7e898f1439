"""Another int8 runtime for the vision tower: PyTorch's own (PT2E quantization with the x86
Inductor quantizer, then `torch.compile`: oneDNN's fused int8 kernels), beside emoret's
`--precision int8` (ONNX Runtime's dynamic quantization) and its bf16 path, in one run.

Issue 22 asks for the best path at 80 % of its arithmetic's GEMM rate; ONNX Runtime's int8 path
reaches about 61 %, its int8 products alone about 82 %. This asks whether a runtime that fuses
the rest of the graph does better. Each path: frames/s, GFLOP/s, share of the int8 GEMM rate
(the faster of ONNX Runtime's MatMulInteger and torch's `_int_mm`, square 2048 products, measured
here), lowest cosine to fp32. Rounds alternate the paths.

Needs torchao (the PT2E quantizer left torch for it), not a dependency of emoret:

    pip install --target /tmp/taolib --no-deps torchao==0.18.0
    PYTHONPATH=/tmp/taolib python bench/int8_inductor.py --model /tmp/sb/bench/model/emoret
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embed import vision_gflop  # noqa: E402
from gemm import best_rate, cpu_flags, int8_rate  # noqa: E402
from search import loadavg  # noqa: E402


def torch_int8_rate(n: int = 2048) -> float:
    import torch

    a = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    b = torch.randint(-128, 128, (n, n), dtype=torch.int8)
    return best_rate(lambda: torch._int_mm(a, b), n)


def inductor_int8(model, calibration: list, dynamic: bool) -> tuple[Callable, float]:
    """The video encoder quantized by PT2E (x86 Inductor quantizer) and compiled; seconds it took."""
    import torch
    import torch._inductor.config as inductor_config
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from emoret.embedding.int8 import video_features_module

    began = time.perf_counter()
    exported = torch.export.export(video_features_module(model), (calibration[0],)).module()
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config(is_dynamic=dynamic))
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for frames in calibration:  # static: the activation ranges it will use
            prepared(frames)
    converted = convert_pt2e(prepared)
    inductor_config.freezing = True  # weights as constants: prepacked int8
    with torch.no_grad():
        compiled = torch.compile(converted)
        compiled(calibration[0])
    return compiled, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="an emoret model directory (default: bench/b32.py's, built)")
    parser.add_argument("--videos", type=int, default=2, help="videos a call")
    parser.add_argument("--calls", type=int, default=5, help="timed calls a round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from emoret.embedding import int8
    from emoret.embedding.precision import autocast
    from emoret.model import load_model

    if args.model is None:
        from b32 import build_b32

        args.model = build_b32(Path(tempfile.mkdtemp(prefix="emoret-int8-inductor-")) / "model")
    model = load_model(args.model).eval()
    frames_a_video, size = int(model.num_frames), int(model.image_size)
    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.standard_normal((args.videos, frames_a_video, 3, size, size)).astype(np.float32))
               for _ in range(3)]
    frames = batches[0]
    rates = {"ONNX Runtime MatMulInteger": int8_rate(), "torch _int_mm": torch_int8_rate()}
    ceiling = max(rates.values())
    print(f"# CPU flags: {cpu_flags()}; load {loadavg()}")
    print("int8 GEMM rates (2048², GOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))

    vision = int8.towers(model, print).vision()
    static, static_s = inductor_int8(model, batches, dynamic=False)
    dynamic, dynamic_s = inductor_int8(model, batches, dynamic=True)
    print(f"Inductor int8: quantized and compiled in {static_s:.0f} s (static), {dynamic_s:.0f} s (dynamic)")

    def bf16() -> torch.Tensor:
        with autocast("bf16", "cpu"):
            return model.video_features(frames).float()

    paths: dict[str, Callable[[], torch.Tensor]] = {
        "bf16 (emoret, torch autocast)": bf16,
        "int8 ONNX Runtime (emoret --precision int8)": lambda: torch.from_numpy(
            vision.run(["features"], {"frames": frames.numpy()})[0]),
        "int8 Inductor, static activations": lambda: static(frames),
        "int8 Inductor, dynamic activations": lambda: dynamic(frames),
    }
    with torch.inference_mode():
        reference = model.video_features(frames)
        times: dict[str, list[float]] = {label: [] for label in paths}
        cosines = {}
        for label, run in paths.items():
            cosines[label] = torch.nn.functional.cosine_similarity(run().float(), reference).min().item()
        for _ in range(args.rounds):
            for label, run in paths.items():
                began = time.perf_counter()
                for _ in range(args.calls):
                    run()
                times[label].append(args.calls * args.videos * frames_a_video / (time.perf_counter() - began))
    gflop = vision_gflop(model)
    print(f"\n## vision tower, {args.videos} videos × {frames_a_video} frames a call, {args.rounds} rounds; "
          f"{gflop:.1f} GFLOP a frame; load {loadavg()}")
    print("| path | frames/s (min-max) | GFLOP/s | share of the int8 GEMM rate | lowest cosine to fp32 |")
    print("|---|---:|---:|---:|---:|")
    for label, rates_seen in times.items():
        rate = statistics.median(rates_seen)
        print(f"| {label} | {rate:.1f} ({min(rates_seen):.1f}-{max(rates_seen):.1f}) | {rate * gflop:.0f} | "
              f"{100 * rate * gflop / ceiling:.0f} % | {cosines[label]:.5f} |")


if __name__ == "__main__":
    main()
