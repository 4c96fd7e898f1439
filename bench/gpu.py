"""GPU figures of issue 11, in one run: embedding frames/s and the vip training-step MFU.

1. Embedding: ViT-B/32 (random weights), bf16, batch 256 of frames already decoded
   (uint8 [B, 224, 224, 3] on the device; the normalisation is inside the timing),
   `get_image_features` + L2 normalisation. Weights cast to bf16 (`--autocast`: fp32
   weights under autocast instead). Reported: frames/s, median of rounds, and the cosine
   of the bf16 embeddings to fp32 on one batch.
2. Training: bench/train_step.py's `vip` step (12 frames, 224 px, batch 64, bf16
   autocast, AdamW), FLOPs counted with torch.utils.flop_counter on one step, over the
   card's dense bf16 peak looked up by device name (PEAK_BF16_TFLOPS).

    bench/gpu.sh                                  # the card's figures (about 3-5 minutes)
    bench/gpu.sh --device cpu --tiny              # a dry run of every step on a CPU, seconds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train_step

PEAK_BF16_TFLOPS = train_step.PEAK_BF16_TFLOPS


def peak_for(name: str) -> float | None:
    # Longest fragment first: "H100 PCIe" before "H100".
    for fragment in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if fragment in name:
            return PEAK_BF16_TFLOPS[fragment]
    return None


def clip_config(tiny: bool):
    from transformers import CLIPConfig

    if not tiny:
        return CLIPConfig()  # ViT-B/32 shapes
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    return CLIPConfig(text_config=dict(small, max_position_embeddings=77),
                      vision_config=dict(small, image_size=224, patch_size=32), projection_dim=24)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def embed_bench(args) -> dict:
    import torch
    from transformers import CLIPModel

    from emoret.model.load import quiet_transformers
    from emoret.model.preprocess import CLIP_MEAN, CLIP_STD

    quiet_transformers()
    device = torch.device(args.device)
    torch.manual_seed(0)
    fp32 = CLIPModel(clip_config(args.tiny)).to(device).eval()
    model = fp32 if args.autocast else CLIPModel(clip_config(args.tiny)).to(device).eval()
    if not args.autocast:
        model.load_state_dict(fp32.state_dict())
        model = model.to(torch.bfloat16)
    mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
    frames = torch.randint(0, 256, (args.embed_batch, 224, 224, 3), dtype=torch.uint8, device=device)

    def run(net, dtype):
        x = frames.permute(0, 3, 1, 2).to(dtype).div_(255).sub_(mean.to(dtype)).div_(std.to(dtype))
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.autocast):
            out = net.get_image_features(pixel_values=x)
        out = getattr(out, "pooler_output", out)
        return torch.nn.functional.normalize(out.float(), dim=-1)

    dtype = torch.float32 if args.autocast else torch.bfloat16
    with torch.inference_mode():
        reference = run(fp32, torch.float32)
        cosine = float((run(model, dtype) * reference).sum(-1).min())
        for _ in range(args.warmup):
            run(model, dtype)
        rounds = []
        for _ in range(args.rounds):
            sync(device)
            start = time.perf_counter()
            for _ in range(args.embed_steps):
                run(model, dtype)
            sync(device)
            rounds.append(args.embed_batch * args.embed_steps / (time.perf_counter() - start))
    return {"frames_per_s": statistics.median(rounds), "rounds": rounds, "cosine_min": cosine}


def train_bench(args) -> dict:
    import torch
    import transformers

    real = transformers.CLIPConfig
    if args.tiny:  # train_step.build makes ViT-B/32 with CLIPConfig(): a tiny one for the dry run
        tiny_config = clip_config(True)
        transformers.CLIPConfig = lambda *a, **k: tiny_config
    try:
        step_args = argparse.Namespace(device=args.device, batch=args.train_batch, steps=args.train_steps,
                                       warmup=args.warmup, amp="bf16")
        state = train_step.setup("vip", step_args)
    finally:
        transformers.CLIPConfig = real
    rounds = [train_step.timed_steps(state, step_args) for _ in range(args.rounds)]
    seconds = statistics.median(rounds)
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        train_step.one_step(*state[:2], state[2], state[3])
    flops = counter.get_total_flops()
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    peak = peak_for(name)
    tflops = flops / seconds / 1e12
    return {"step_s": seconds, "rounds": rounds, "tflops": tflops, "device": name, "peak_tflops": peak,
            "mfu": tflops / peak if peak else None, "videos_per_s": args.train_batch / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny model and batches: a dry run on any machine")
    parser.add_argument("--embed-batch", type=int)
    parser.add_argument("--embed-steps", type=int)
    parser.add_argument("--train-batch", type=int)
    parser.add_argument("--train-steps", type=int)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--autocast", action="store_true", help="embedding: fp32 weights under bf16 autocast")
    parser.add_argument("--skip", choices=("embed", "train"), action="append", default=[])
    args = parser.parse_args()
    tiny = args.tiny
    args.embed_batch = args.embed_batch or (8 if tiny else 256)
    args.embed_steps = args.embed_steps or (1 if tiny else 20)
    args.train_batch = args.train_batch or (2 if tiny else 64)
    args.train_steps = args.train_steps or (1 if tiny else 5)
    if tiny:
        args.warmup, args.rounds = 1, 2
    import torch

    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(f"# device {name}, torch {torch.__version__}, peak bf16 {peak_for(name)} TFLOP/s, tiny={tiny}", flush=True)
    if "embed" not in args.skip:
        r = embed_bench(args)
        print(f"embed ViT-B/32{' (tiny)' if tiny else ''} bf16 batch {args.embed_batch}: {r['frames_per_s']:.0f} frames/s "
              f"(rounds {', '.join(f'{x:.0f}' for x in r['rounds'])}); min cosine to fp32 {r['cosine_min']:.5f}", flush=True)
    if "train" not in args.skip:
        r = train_bench(args)
        mfu = f"{r['mfu']:.1%} of {r['peak_tflops']} TFLOP/s" if r["mfu"] is not None else "peak unknown for this device"
        print(f"train vip{' (tiny)' if tiny else ''} bf16 batch {args.train_batch}: {r['step_s']:.3f} s/step, "
              f"{r['videos_per_s']:.1f} videos/s, {r['tflops']:.1f} TFLOP/s = MFU {mfu}", flush=True)


if __name__ == "__main__":
    main()
