"""Training throughput (videos/s) of the ViT-B/32 ``vip`` model against ``meanpool``.

Random ViT-B/32 weights (transformers' default CLIPConfig), 12 frames of 224 px, one
full training step (forward, symmetric InfoNCE, backward, AdamW) timed after warm-up
steps. Both encoders run in the same process on the same inputs, alternating round by
round; the ratio is vip / meanpool of the median rounds. On a GPU it also reports the
FLOP/s reached (counted with torch.utils.flop_counter on one step) as a fraction of the
card's peak bf16 rate.

    python bench/train_step.py                      # CPU: batch 2, 1 warm-up, 3 rounds of 1 step
    python bench/train_step.py --device cuda --batch 64 --amp bf16 --steps 10
    python bench/train_step.py --compare-amp          # vip in fp32 against vip under bf16 autocast
"""

from __future__ import annotations

import argparse
import time

# Dense bf16 tensor-core peaks (no sparsity), by device-name fragment.
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0, "L4": 121.0}


def build(video_encoder: str, device: str):
    import torch
    from transformers import CLIPConfig, CLIPModel

    from emoret.model.config import EmoretConfig
    from emoret.model.emoret_model import EmoretModel
    from emoret.model.load import quiet_transformers
    from emoret.model.tiny import train_word_tokenizer

    quiet_transformers()
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig())  # ViT-B/32 shapes, random weights
    tokenizer = train_word_tokenizer(["a happy dog runs in the park", "a sad cat"], max_length=77)
    config = EmoretConfig(video_encoder=video_encoder, num_frames=12, emotion=True)
    return EmoretModel(clip, tokenizer, config).to(device).train()


def one_step(model, optimizer, batch, amp_dtype):
    import torch

    from emoret.model.loss import symmetric_infonce

    tokens, emotions, frames = batch
    with torch.autocast(frames.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        text, video, log_scale = model(tokens["input_ids"], tokens["attention_mask"], emotions, frames)
    loss = symmetric_infonce(text.float(), video.float(), log_scale)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def setup(video_encoder: str, args, amp: str | None = None):
    import torch

    device = torch.device(args.device)
    model = build(video_encoder, args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(args.batch, 12, 3, 224, 224, generator=generator).to(device)
    tokens = model.tokenize(["a happy dog runs in the park"] * args.batch)
    emotions = torch.zeros(args.batch, 8, device=device)
    emotions[:, 0] = 1
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or args.amp)
    for _ in range(args.warmup):
        one_step(model, optimizer, (tokens, emotions, frames), amp_dtype)
    return model, optimizer, (tokens, emotions, frames), amp_dtype


def timed_steps(setup_, args) -> float:
    """Seconds a step, over ``args.steps`` steps."""
    import torch

    model, optimizer, batch, amp_dtype = setup_
    cuda = batch[2].device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        one_step(model, optimizer, batch, amp_dtype)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / args.steps


def flop_rate(setup_, seconds: float) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model, optimizer, batch, amp_dtype = setup_
    counter = FlopCounterMode(display=False)
    with counter:
        one_step(model, optimizer, batch, amp_dtype)
    tflops = counter.get_total_flops() / seconds / 1e12
    name = torch.cuda.get_device_name(batch[2].device)
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    return {"tflops": tflops, "device": name, "peak_fraction": tflops / peak if peak else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of --steps steps each")
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"])
    parser.add_argument("--compare-amp", action="store_true", help="vip with --amp off against vip with bf16")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}, batch {args.batch}, "
          f"amp {args.amp}, 12 frames x 224 px, {args.warmup} warm-up, {args.rounds} rounds of {args.steps} steps")  # fmt: skip
    import statistics

    if args.compare_amp:
        variants = {"vip fp32": ("vip", "off"), "vip bf16": ("vip", "bf16")}
    else:
        variants = {"meanpool": ("meanpool", args.amp), "vip": ("vip", args.amp)}
    encoders = tuple(variants)
    setups = {name: setup(variants[name][0], args, amp=variants[name][1]) for name in encoders}
    # Alternate the encoders round by round, so that a change in the machine's load
    # falls on both alike; report the median round.
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(args.rounds):
        for name in encoders:
            times[name].append(timed_steps(setups[name], args))
    results = {}
    for name in encoders:
        seconds = statistics.median(times[name])
        result = {"encoder": name, "step_s": seconds, "videos_per_s": args.batch / seconds, "rounds": times[name]}
        if args.device.startswith("cuda"):
            result.update(flop_rate(setups[name], seconds))
        results[name] = result
    for r in results.values():
        extra = f", {r['tflops']:.1f} TFLOP/s ({r['peak_fraction']:.1%} of bf16 peak)" if "tflops" in r else ""
        rounds = ", ".join(f"{t:.2f}" for t in r["rounds"])
        print(f"{r['encoder']:>8}: {r['videos_per_s']:.3f} videos/s (median {r['step_s']:.2f} s/step; rounds {rounds}){extra}")
    first, second = encoders
    ratio = results[second]["videos_per_s"] / results[first]["videos_per_s"]
    low = min(results[second]["rounds"]) / max(results[first]["rounds"])
    high = max(results[second]["rounds"]) / min(results[first]["rounds"])
    print(f"{second} / {first} throughput: {ratio:.2f}x (step-time ratio range over rounds "
          f"{1 / high:.2f}-{1 / low:.2f}x)")


if __name__ == "__main__":
    main()
