"""``emoret train``: contrastive training of the emotion-aware video-text model."""

from __future__ import annotations

from typing import Optional

import typer

from emoret import api
from emoret_cli import common
from emoret_cli.typer_compat import missing_option

EPILOG = (
    "Example: emoret train --model demo/base-model --captions annotated.jsonl --frames frames/ "
    "--out model/ --epochs 5 --lr 1e-6\n\n"
    "Distributed: torchrun --nproc_per_node 2 -m emoret_cli train ... (gloo on CPU, nccl on GPU). "
    "Settings may come from --config FILE (JSON or YAML, the flags' names as keys); flags win."
)

REQUIRED = ("model", "captions", "frames", "out")  # from the flags, or from --config / the run resumed


def COMMAND(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", help="Base model: hub id, CLIP or emoret dir, CLIP-ViP .pt."),
    captions: Optional[str] = typer.Option(None, "--captions", help="Caption records (annotated JSON/JSONL)."),
    frames: Optional[str] = typer.Option(None, "--frames", help="Frame store directory (emoret extract-frames)."),
    out: Optional[str] = typer.Option(None, "--out", help="Output directory (best/ and last/ checkpoints, metrics)."),
    val_captions: Optional[str] = typer.Option(None, "--val-captions", help="Captions to validate on each epoch."),
    video_encoder: Optional[str] = typer.Option(None, "--video-encoder", help="vip (default) or meanpool."),
    emotion: Optional[bool] = typer.Option(None, "--emotion/--no-emotion", help="Emotion embedding (default on)."),
    emotion_init: Optional[str] = typer.Option(None, "--emotion-init", help="zero (default) or normal (the seed's)."),
    emotion_loss: Optional[float] = typer.Option(
        None, "--emotion-loss", min=0.0, help="Weight W of the emotion alignment term (default 0: off; see README)."
    ),
    num_frames: Optional[int] = typer.Option(None, "--num-frames", min=1, help="Frames a video (default 12)."),
    sampling: Optional[str] = typer.Option(
        None, "--sampling", help="linspace (default) or middle: how --num-frames are picked from a store holding more or fewer."
    ),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs (default 5)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=2, help="Videos a step, per process (default 32)."),
    accum_steps: Optional[int] = typer.Option(None, "--accum-steps", min=1, help="Batches accumulated a step (default 1)."),
    lr: Optional[float] = typer.Option(None, "--lr", min=0.0, help="Learning rate of CLIP weights (default 1e-6)."),
    lr_new: Optional[float] = typer.Option(None, "--lr-new", min=0.0, help="Learning rate of new parameters (default 1e-4)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", min=0.0, help="AdamW weight decay (default 0.2)."),
    warmup: Optional[float] = typer.Option(None, "--warmup", min=0.0, max=1.0, help="Warm-up fraction of steps (default 0.01)."),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", min=0.0, help="Gradient norm clip, 0 = off (default 1.0)."),
    amp: Optional[str] = typer.Option(None, "--amp", help="bf16, fp16 or off (default: bf16 on GPU, off on CPU)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Random seed (default 0)."),
    save_every: Optional[int] = typer.Option(None, "--save-every", min=0, help="Checkpoint every N steps (default: each epoch)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (default), cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help="CPU threads (default: torch's); 1 suits tiny models."),
    config: Optional[str] = typer.Option(None, "--config", help="Settings file, JSON or YAML."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
) -> None:
    """Train the model on captions and stored frames; write checkpoints and metrics.jsonl."""
    import os
    import sys

    given = dict(
        model=model, captions=captions, frames=frames, out=out, val_captions=val_captions,
        video_encoder=video_encoder, emotion=emotion, emotion_init=emotion_init, emotion_loss=emotion_loss,
        num_frames=num_frames, sampling=sampling, epochs=epochs, batch_size=batch_size, accum_steps=accum_steps,
        lr=lr, lr_new=lr_new,
        weight_decay=weight_decay, warmup=warmup, grad_clip=grad_clip, amp=amp, seed=seed,
        save_every=save_every, device=device, threads=threads,
    )  # fmt: skip
    # Resuming needs only --out: the rest comes from the run's saved settings.
    file_values = api.train_settings(config, out, resume)
    if config is None and not file_values:  # the flags alone: worded as every command words a missing option
        for name in REQUIRED:
            if given[name] is None:
                raise missing_option(ctx, name)
    settings = api.train_config(file_values, given, source=config or "flags")
    common.silence_hf()
    rank = int(os.environ.get("RANK", "0"))
    show = rank == 0 and sys.stderr.isatty()

    clock = EpochClock(settings.epochs)

    def report(record: dict) -> None:
        if "train_loss" in record:
            val = record.get("val", {}).get("t2v")
            extra = f"  val t2v R@1 {val['R@1']:.3f} R@5 {val['R@5']:.3f}" if val else ""
            common.message(f"{clock.epoch_done(record['epoch'])}: loss {record['train_loss']:.4f}{extra}"
                           f"  ({clock.timing()})")
        elif show and record["step"] % 10 == 0:
            common.message(f"step {record['step']}: loss {record['loss']:.4f} ({record['videos_per_s']:.1f} videos/s)")

    result = api.train(settings, resume, on_record=report if rank == 0 else None)
    if rank == 0:
        common.message(f"emoret: trained model in {result / 'best'} (last: {result / 'last'})")


class EpochClock:
    """``epoch 5/250`` with the time taken and an estimate of the time left.

    The first epoch of a run also pays its start-up (loading the model, the first
    batches' allocations): timed into the estimate, it once predicted 45 minutes for a
    59-second run. The estimate is the mean of the epochs after this run's first, and
    ``estimating`` until there is one.
    """

    def __init__(self, epochs: int, now=None):
        import time

        self.epochs = epochs
        self.now = now or time.monotonic
        self.started = self.now()
        self.ends: list[float] = []  # when each epoch of this run ended
        self.done = 0

    def epoch_done(self, epoch: int) -> str:
        """Note that epoch ``epoch`` (counted from 0) has ended; its label."""
        self.ends.append(self.now())
        self.done = epoch + 1
        return f"epoch {self.done}/{self.epochs}"

    def seconds_left(self) -> float | None:
        """The estimate of the time left; None until an epoch after the first has ended."""
        remaining = max(0, self.epochs - self.done)
        if remaining == 0:
            return 0.0
        if len(self.ends) < 2:
            return None
        per_epoch = (self.ends[-1] - self.ends[0]) / (len(self.ends) - 1)
        return per_epoch * remaining

    def timing(self) -> str:
        elapsed = duration(self.now() - self.started)
        left = self.seconds_left()
        return f"{elapsed} elapsed, {'estimating' if left is None else duration(left) + ' left'}"


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
