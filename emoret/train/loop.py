"""Contrastive training of the emoret model on captions + the frame store: the loop.

The pieces live beside this module: the settings (:mod:`~emoret.train.config`), the data
and each epoch's pairs (:mod:`~emoret.train.data`), the learning rates
(:mod:`~emoret.train.schedule`), one process or many (:mod:`~emoret.train.distributed`),
the output directory and metrics log (:mod:`~emoret.train.run_dir`), checkpoints
(:mod:`~emoret.train.checkpoint`) and validation (:mod:`~emoret.train.validation`).

``load_model(OUT)`` loads ``OUT/best``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from emoret.errors import InputError
from emoret.records import source_name
from emoret.train.checkpoint import restore_rng_state, rng_state, save_checkpoint, sweep_partial_checkpoints
from emoret.train.config import TrainConfig
from emoret.train.data import FrameCache, VideoCaptions, epoch_pairs, load_video_captions
from emoret.train.distributed import Runtime, broadcast, start_runtime, stop_runtime
from emoret.train.run_dir import METRICS_FILE, MetricsLog, check_out, discard_unstarted, write_settings
from emoret.train.schedule import lr_factor, parameter_groups, set_learning_rates
from emoret.train.validation import validate

Record = dict[str, Any]


def train(
    config: TrainConfig,
    resume: bool = False,
    on_record: Callable[[Record], None] | None = None,
) -> Path:
    """Train; return the output directory. ``on_record`` sees every metrics record."""
    import torch  # heavy: imported when training starts, not when the CLI parses flags

    runtime = start_runtime(config.device)
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        with _out_lock(config, runtime):
            return _train_locked(config, resume, runtime, on_record)
    finally:
        torch.set_num_threads(threads_before)
        stop_runtime(runtime)


@contextlib.contextmanager
def _out_lock(config: TrainConfig, runtime: Runtime) -> Iterator[None]:
    """One run a time on an output directory (the main process holds it for all), by a
    lock file beside it that exists only while held (``.OUT.lock``, as an index's)."""
    from emoret import lockfile

    if not runtime.main:
        yield
        return
    out = Path(os.path.realpath(config.out))  # through a link: the directory written

    def busy() -> InputError:
        return InputError(str(config.out), "another 'emoret train' is writing this directory")

    made_parent = not out.parent.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with lockfile.held(out.parent / f".{out.name.removeprefix('.')}.lock", wait=False, busy=busy):
            yield
    finally:
        if made_parent:  # a run that failed before writing leaves no directory made for its lock
            with contextlib.suppress(OSError):
                out.parent.rmdir()


def _train_locked(config: TrainConfig, resume: bool, runtime: Runtime,
                  on_record: Callable[[Record], None] | None) -> Path:
    """Train, holding the lock on OUT."""
    # Every input is checked (OUT, captions, frames, the model) before anything is written.
    config, state, settings_due = check_out(config, resume)
    videos, val = _load_data(config, runtime)
    trainer = _Trainer(config, runtime, videos, val, state)
    if settings_due:
        write_settings(config, runtime)
    if resume and runtime.main:
        sweep_partial_checkpoints(Path(config.out))  # a killed run's; --resume runs alone on OUT
    # A resumed run drops what the killed one logged after its checkpoint (all of it if none).
    keep = trainer.progress.step if resume else None
    try:
        with MetricsLog(Path(config.out) / METRICS_FILE, runtime.main, keep_until_step=keep) as metrics:

            def log(record: Record) -> None:
                metrics.write(record)
                if on_record is not None:
                    on_record(record)

            trainer.run(log)
    except BaseException:
        if state is None:  # a fresh run that fails before its first step leaves nothing behind
            discard_unstarted(Path(config.out), runtime)
        raise
    return Path(config.out)


def _load_data(config: TrainConfig, runtime: Runtime) -> tuple[list[VideoCaptions], list[VideoCaptions] | None]:
    """Training and validation videos; refuse a global batch larger than the training set."""
    videos = load_video_captions(config.captions, config.frames)
    val = load_video_captions(config.val_captions, config.frames) if config.val_captions else None
    global_batch = config.batch_size * runtime.world
    if global_batch > len(videos):
        procs = f" × {runtime.world} processes" if runtime.world > 1 else ""
        raise InputError(
            source_name(config.captions),
            f"batch size {config.batch_size}{procs} is above the {len(videos)} videos with captions",
        )
    return videos, val


def _build_model(config: TrainConfig, runtime: Runtime, resuming: bool) -> tuple[Any, Any]:
    """The model on its device (the last checkpoint's weights when resuming), and the module
    a step calls: the model itself, or its DistributedDataParallel wrapper under torchrun."""
    import torch

    from emoret.model import load_model
    from emoret.model.emoret_model import INITIAL_LOG_SCALE

    torch.manual_seed(config.seed)
    model = load_model(
        config.model,
        device="cpu",
        video_encoder=config.video_encoder,
        emotion=config.emotion,
        emotion_init=config.emotion_init,
        num_frames=config.num_frames,
        seed=config.seed,
    )
    if model.family.objective == "infonce":  # CLIP-ViP's start; SigLIP keeps its learnt scale and bias
        with torch.no_grad():
            model.clip.logit_scale.fill_(INITIAL_LOG_SCALE)
    if resuming:
        from safetensors.torch import load_file

        weights = load_file(str(Path(config.out) / "last" / "model.safetensors"))
        model.clip.load_state_dict(weights, strict=True)
    model.config.base = config.model
    model.to(runtime.device).train()
    if not runtime.distributed:
        return model, model
    from torch.nn.parallel import DistributedDataParallel

    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return model, DistributedDataParallel(model, device_ids=ids)


@dataclass
class Progress:
    """Where the run stands; saved with each checkpoint, so a resumed run continues from it."""

    step: int = 0  # optimiser steps taken
    epoch: int = 0
    batch: int = 0  # the next batch of the epoch
    best: float = -math.inf  # the best validation score so far
    epoch_losses: list[float] = field(default_factory=list)  # this epoch's step losses, for its summary


class _Trainer:
    """The model, optimiser and progress of one run, and the steps that move it on."""

    def __init__(
        self,
        config: TrainConfig,
        runtime: Runtime,
        videos: list[VideoCaptions],
        val: list[VideoCaptions] | None,
        state: dict[str, Any] | None,
    ):
        import torch

        self.config, self.runtime, self.videos, self.val = config, runtime, videos, val
        self.global_batch = config.batch_size * runtime.world
        self.model, self.net = _build_model(config, runtime, resuming=state is not None)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, config), betas=(0.9, 0.98), eps=1e-6)
        amp = config.amp if config.amp != "auto" else ("bf16" if runtime.device.type == "cuda" else "off")
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=amp == "fp16")
        self.batches_per_epoch = len(videos) // self.global_batch
        self.total_steps = config.epochs * math.ceil(self.batches_per_epoch / config.accum_steps)
        self.progress = Progress()
        self.emotion_term = 0.0  # this step's emotion alignment term, unweighted (for the log)
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
            restore_rng_state(state["rng"])
            self.progress = Progress(
                state["step"], state["epoch"], state["batch"], state["best"], list(state["epoch_losses"])
            )
        self.frames = FrameCache(config.frames, self.model, config.num_frames, rule=config.sampling)

    def run(self, log: Callable[[Record], None]) -> None:
        """Every remaining epoch; ``log`` gets a record a step and one an epoch."""
        config, progress = self.config, self.progress
        while progress.epoch < config.epochs:
            pairs = epoch_pairs(self.videos, config.seed, progress.epoch)
            while progress.batch < self.batches_per_epoch:
                log(self._step(pairs))
                mid_epoch = progress.batch < self.batches_per_epoch
                if config.save_every and progress.step % config.save_every == 0 and mid_epoch:
                    self._checkpoint(is_best=self.val is None)
            self._end_epoch(log)

    def _step(self, pairs: list[tuple[int, int]]) -> Record:
        """One optimiser step over ``accum_steps`` batches (fewer at the epoch's end)."""
        import torch

        config, progress = self.config, self.progress
        started = time.perf_counter()
        group = range(progress.batch, min(progress.batch + config.accum_steps, self.batches_per_epoch))
        step_loss = 0.0
        self.emotion_term = 0.0
        for i, batch in enumerate(group):
            # DDP all-reduces the gradient once a step, at the group's last batch.
            sync = i == len(group) - 1 or not self.runtime.distributed
            step_loss += self._accumulate(pairs, batch, sync, len(group)) / len(group)
        set_learning_rates(self.optimizer, lr_factor(progress.step, self.total_steps, config.warmup))
        if config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        progress.step += 1
        progress.batch = group[-1] + 1
        progress.epoch_losses.append(step_loss)
        elapsed = time.perf_counter() - started
        return self._step_record(step_loss, elapsed, len(group))

    def _accumulate(self, pairs: list[tuple[int, int]], batch: int, sync: bool, parts: int) -> float:
        """Forward and backward of this process's slice of one batch; returns its loss."""
        import torch

        from emoret.model.loss import contrastive_loss, emotion_alignment, gather_features

        first = batch * self.global_batch + self.runtime.rank * self.config.batch_size
        chosen = pairs[first : first + self.config.batch_size]
        device = self.runtime.device
        captions = [self.videos[v].captions[c] for v, c in chosen]
        emotions = torch.tensor([self.videos[v].emotions[c] for v, c in chosen], dtype=torch.float32)
        pixels = torch.stack([self.frames.get(self.videos[v].video_id) for v, _ in chosen]).to(device)
        tokens = self.model.tokenize(captions)
        with contextlib.nullcontext() if sync else self.net.no_sync():
            with torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                text, video, log_scale = self.net(
                    tokens["input_ids"],
                    tokens["attention_mask"],
                    emotions.to(device) if self.config.emotion else None,
                    pixels,
                )
            loss = contrastive_loss(self.model.family.objective, gather_features(text.float()),
                                    gather_features(video.float()), log_scale, getattr(self.model.clip, "logit_bias", None))
            if self.config.emotion_loss > 0:
                # The emotion table alone (an empty caption with the caption's emotions) against the videos.
                prototypes = self.model.emotion_prototypes(emotions)
                term = emotion_alignment(gather_features(prototypes.float()), gather_features(video.float()),
                                         gather_features(emotions.to(device)), log_scale)  # fmt: skip
                self.emotion_term += term.item() / parts
                loss = loss + self.config.emotion_loss * term
            self.scaler.scale(loss / parts).backward()
        return loss.item()

    def _step_record(self, step_loss: float, elapsed: float, batches: int) -> Record:
        extra = {"emotion_term": round(self.emotion_term, 6)} if self.config.emotion_loss > 0 else {}
        return {
            "step": self.progress.step,
            "epoch": self.progress.epoch,
            "loss": round(step_loss, 6),  # with the weighted emotion term when there is one
            **extra,
            "lr": self.optimizer.param_groups[0]["lr"],
            "lr_new": self.optimizer.param_groups[2]["lr"],
            **self._objective_record(),
            "step_time": round(elapsed, 4),
            "videos_per_s": round(self.global_batch * batches / elapsed, 2),
        }

    def _objective_record(self) -> Record:
        """The loss the run trains with (the family's), its temperature, and SigLIP's bias."""
        from emoret.model.loss import logit_scale

        clip, objective = self.model.clip, self.model.family.objective
        raw = clip.logit_scale.detach()
        scale = float(logit_scale(raw)) if objective == "infonce" else float(raw.exp())
        record: Record = {"objective": objective, "temperature": round(1.0 / scale, 6)}
        if objective == "sigmoid":
            record["logit_bias"] = round(float(clip.logit_bias.detach()), 6)
        return record

    def _end_epoch(self, log: Callable[[Record], None]) -> None:
        """Validate, log the epoch's summary (best so far or not), then checkpoint if due."""
        config, progress = self.config, self.progress
        summary: Record = {
            "epoch": progress.epoch,
            "step": progress.step,
            "train_loss": round(float(np.mean(progress.epoch_losses)), 6),
        }
        # Without validation there is nothing to choose by: the best is the newest.
        score = math.inf
        if self.val is not None:
            report = validate(self.model, self.val, config, self.frames) if self.runtime.main else None
            if report is not None:
                summary["val"] = report
                score = report["t2v"]["R@1"] + report["t2v"]["R@5"] + report["t2v"]["R@10"]
            self.runtime.barrier()
        score = broadcast(score, self.runtime)
        is_best = score >= progress.best
        progress.best = max(progress.best, score)
        summary["best"] = is_best
        log(summary)  # before the checkpoint: a run resumed from it keeps the summary
        progress.epoch += 1
        progress.batch = 0
        progress.epoch_losses = []
        due = not config.save_every or progress.step % config.save_every == 0 or progress.epoch == config.epochs
        if due or (is_best and self.val is not None):
            self._checkpoint(is_best)

    def _checkpoint(self, is_best: bool) -> None:
        progress = self.progress
        train_state = {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "step": progress.step,
            "epoch": progress.epoch,
            "batch": progress.batch,
            "best": progress.best,
            "epoch_losses": list(progress.epoch_losses),
        }
        if self.runtime.main:
            save_checkpoint(Path(self.config.out), self.model, train_state, is_best)
        self.runtime.barrier()
