"""Contrastive training of the emoret model on captions + the frame store.

Each epoch pairs every video with one of its captions drawn at random and shuffles
the pairs; both draws depend only on (seed, epoch), so a resumed run sees exactly the
batches the uninterrupted run would have. Under ``torchrun`` every process takes its
slice of each global batch and the features of all processes are gathered before the
loss, so the loss and its gradient are those of one process holding the global batch.

Output directory::

    OUT/train_config.json       the settings of the run
    OUT/metrics.jsonl           one line an optimiser step, one an epoch (validation)
    OUT/checkpoints/step-N/     a model directory (+ train_state.pt for resuming)
    OUT/last -> checkpoints/step-N   the newest checkpoint (symlink, swapped atomically)
    OUT/best -> checkpoints/step-M   the best by validation R@1+R@5+R@10 (else the newest)

``load_model(OUT)`` loads ``OUT/best``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from emoret.records import (
    InputError,
    JsonlWriter,
    iter_numbered,
    read_jsonl,
    require_caption,
    source_name,
    video_id_of,
    write_bytes_atomic,
)

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
STATE_FILE = "train_state.pt"
AMP_CHOICES = ("auto", "bf16", "fp16", "off")


@dataclass
class TrainConfig:
    model: str = ""
    captions: str = ""
    frames: str = ""
    out: str = ""
    val_captions: str | None = None
    video_encoder: str = "vip"
    emotion: bool = True
    emotion_init: str = "zero"
    num_frames: int = 12
    epochs: int = 5
    batch_size: int = 32  # per process
    accum_steps: int = 1
    lr: float = 1e-6  # CLIP weights (CLIP-ViP's rate)
    lr_new: float = 1e-4  # proxies, temporal and emotion embeddings, temperature
    weight_decay: float = 0.2
    warmup: float = 0.01  # fraction of the optimiser steps
    grad_clip: float = 1.0
    amp: str = "auto"  # bf16 on a GPU, off on the CPU
    seed: int = 0
    save_every: int = 0  # optimiser steps between checkpoints; 0: at each epoch's end
    # (a new best on validation and the end of training are always saved)
    device: str = "auto"
    # CPU threads for torch (0: its default). Small models train several times faster on
    # one thread when other jobs share the cores: each op's threads otherwise wait on them.
    threads: int = 0

    def validate(self, source: str = "train settings") -> None:
        for key in ("model", "captions", "frames", "out"):
            if not getattr(self, key):
                raise InputError(source, f"missing setting {key!r}")
        checks = [
            (self.video_encoder in ("vip", "meanpool"), "video_encoder must be vip or meanpool"),
            (self.emotion_init in ("zero", "normal"), "emotion_init must be zero or normal"),
            (self.amp in AMP_CHOICES, f"amp must be one of {', '.join(AMP_CHOICES)}"),
            (self.num_frames >= 1, "num_frames must be at least 1"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 2, "batch_size must be at least 2 (contrastive loss needs negatives)"),
            (self.accum_steps >= 1, "accum_steps must be at least 1"),
            (self.lr >= 0 and self.lr_new >= 0, "learning rates must not be negative"),
            (0 <= self.warmup < 1, "warmup is a fraction of the steps, in [0, 1)"),
            (self.grad_clip >= 0, "grad_clip must not be negative (0 turns it off)"),
            (self.save_every >= 0, "save_every must not be negative"),
            (self.threads >= 0, "threads must not be negative (0: torch's default)"),
        ]
        for ok, why in checks:
            if not ok:
                raise InputError(source, why)


def config_keys() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a JSON or YAML file (same keys as the flags, '-' or '_' alike)."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except (IsADirectoryError, UnicodeDecodeError) as err:
        raise InputError(source, f"cannot read ({err})") from None
    try:
        if Path(path).suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as err:  # json and yaml errors alike
        raise InputError(source, f"malformed config ({str(err).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(source, "expected a mapping of setting names to values")
    known = config_keys()
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise InputError(source, f"unknown key {key!r}")
        out[name] = value
    return out


def make_config(file_values: dict[str, Any], overrides: dict[str, Any], source: str = "train settings") -> TrainConfig:
    """Defaults, then the config file, then the flags given (``None`` = not given)."""
    values = asdict(TrainConfig())
    values.update(file_values)
    values.update({k: v for k, v in overrides.items() if v is not None})
    types = {f.name: f.type for f in fields(TrainConfig)}
    for key, value in values.items():
        values[key] = _coerce(key, value, types[key], source)
    config = TrainConfig(**values)
    config.validate(source)
    return config


def _coerce(key: str, value: Any, kind: str, source: str) -> Any:
    try:
        if value is None:
            return None
        if kind == "bool":
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise InputError(source, f"{key} = {value!r} is not a valid {kind}") from None


# --- data -------------------------------------------------------------------------------


@dataclass
class VideoCaptions:
    video_id: str
    captions: list[str]
    emotions: list[list[int]]


def load_video_captions(captions_path: str, frames_dir: str) -> list[VideoCaptions]:
    """Caption records grouped by video, in first-seen order; every video needs frames."""
    from emoret.text.emotions import record_emotion_vector
    from emoret.video.frames import frames_path

    source = source_name(captions_path)
    by_video: dict[str, VideoCaptions] = {}
    first_line: dict[str, int] = {}
    for line, record in iter_numbered(captions_path):
        caption = require_caption(record, source, line)
        vid = video_id_of(record)
        if vid is None:
            raise InputError(source, "record has neither 'video_id' nor 'video'", line)
        if vid not in by_video:
            by_video[vid] = VideoCaptions(vid, [], [])
            first_line[vid] = line
        by_video[vid].captions.append(caption)
        by_video[vid].emotions.append(record_emotion_vector(record))
    if not by_video:
        raise InputError(source, "no captions: nothing to train on")
    missing = [vid for vid in by_video if not frames_path(frames_dir, vid).exists()]
    if missing:
        vid = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(source, f"video {vid!r} has no frames in {frames_dir}{more}", first_line[vid])
    return list(by_video.values())


class FrameCache:
    """Preprocessed frames of each video, kept in memory up to a byte budget."""

    def __init__(self, frames_dir: str, model, num_frames: int, budget_bytes: int = 1 << 30):
        self.frames_dir = frames_dir
        self.model = model
        self.num_frames = num_frames
        self.budget = budget_bytes
        self.used = 0
        self.cache: dict[str, Any] = {}

    def get(self, video_id: str):
        hit = self.cache.get(video_id)
        if hit is not None:
            return hit
        from emoret.video.decode import pick_frames
        from emoret.video.frames import load_frames

        tensor = self.model.preprocess_frames(pick_frames(load_frames(self.frames_dir, video_id), self.num_frames))
        size = tensor.numel() * tensor.element_size()
        if self.used + size <= self.budget:
            self.cache[video_id] = tensor
            self.used += size
        return tensor


def epoch_pairs(videos: list[VideoCaptions], seed: int, epoch: int) -> list[tuple[int, int]]:
    """(video, caption) index pairs of one epoch: shuffled, one random caption a video."""
    import torch

    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(videos), generator=generator).tolist()
    return [(v, int(torch.randint(len(videos[v].captions), (1,), generator=generator))) for v in order]


# --- schedule -----------------------------------------------------------------------------


def lr_factor(step: int, total_steps: int, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of steps, then cosine decay to 0."""
    warmup_steps = math.ceil(warmup * total_steps)
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / span))


NEW_PARAMETERS = (
    "vision_model.embeddings.added_cls",
    "vision_model.embeddings.temporal_embedding",
    "text_model.embeddings.emotion_embedding.weight",
    "logit_scale",
)


def parameter_groups(model, config: TrainConfig) -> list[dict[str, Any]]:
    """CLIP weights at ``lr`` (decay on matrices only); new parameters at ``lr_new``, no decay."""
    decay, no_decay, new = [], [], []
    for name, param in model.clip.named_parameters():
        if not param.requires_grad:
            continue
        if name in NEW_PARAMETERS:
            new.append(param)
        elif param.ndim >= 2:
            decay.append(param)
        else:
            no_decay.append(param)
    return [
        {"params": decay, "base_lr": config.lr, "weight_decay": config.weight_decay, "lr": config.lr},
        {"params": no_decay, "base_lr": config.lr, "weight_decay": 0.0, "lr": config.lr},
        {"params": new, "base_lr": config.lr_new, "weight_decay": 0.0, "lr": config.lr_new},
    ]


# --- distributed ---------------------------------------------------------------------------


@dataclass
class Runtime:
    rank: int = 0
    world: int = 1
    device: Any = "cpu"
    distributed: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def start_runtime(device: str) -> Runtime:
    import torch

    from emoret.devices import resolve_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device)
    cuda = device.startswith("cuda")
    if world > 1:
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        if cuda:
            torch.cuda.set_device(local)
        return Runtime(dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local}" if cuda else "cpu"), True)
    return Runtime(0, 1, torch.device(device), False)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


# --- checkpoints ---------------------------------------------------------------------------


def _swap_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _prune(out: Path) -> None:
    keep = {os.path.realpath(out / name) for name in ("last", "best") if (out / name).is_symlink()}
    for path in (out / "checkpoints").iterdir():
        if path.is_dir() and os.path.realpath(path) not in keep:
            shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(out: Path, model, train_state: dict[str, Any], is_best: bool) -> Path:
    """Write checkpoints/step-N (model dir + state) under a temporary name, then swap links."""
    import torch

    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{train_state['step']:07d}"
    tmp = folder / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(tmp)
    torch.save(train_state, tmp / STATE_FILE)
    final = folder / name
    if final.exists():  # left by a run killed before it moved the links on
        shutil.rmtree(final)
    os.rename(tmp, final)
    _swap_link(out / "last", f"checkpoints/{name}")
    if is_best:
        _swap_link(out / "best", f"checkpoints/{name}")
    _prune(out)
    return final


def read_train_state(out: Path) -> dict[str, Any] | None:
    import torch

    path = out / "last" / STATE_FILE
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


# --- the loop ----------------------------------------------------------------------------------


def _sync_rng_state() -> dict[str, Any]:
    import torch

    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def prepare_out(config: TrainConfig, resume: bool, runtime: Runtime) -> tuple[TrainConfig, dict[str, Any] | None]:
    """Check OUT, write the settings (fresh run) or read them back (resume)."""
    out = Path(config.out)
    saved_path = out / CONFIG_FILE
    if resume:
        if not saved_path.exists():
            raise InputError(str(out), "no training run here to resume")
        saved = TrainConfig(**json.loads(saved_path.read_text()))
        # More epochs (or another device or thread count) may be given: more epochs stretch the cosine.
        differing = [
            f.name
            for f in fields(TrainConfig)
            if getattr(saved, f.name) != getattr(config, f.name) and f.name not in ("device", "epochs", "threads")
        ]
        if differing:
            key = differing[0]
            raise InputError(
                str(saved_path),
                f"--resume continues with the saved settings, but {key} differs "
                f"(saved {getattr(saved, key)!r}, given {getattr(config, key)!r})",
            )
        if saved.epochs != config.epochs and runtime.main:
            write_bytes_atomic(saved_path, (json.dumps(asdict(config), indent=2) + "\n").encode())
        return config, read_train_state(out)
    if saved_path.exists() or (out / METRICS_FILE).exists():
        raise InputError(str(out), "already holds a training run: --resume to continue it, or choose another --out")
    runtime.barrier()  # every process has looked before the first one writes
    if runtime.main:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(saved_path, (json.dumps(asdict(config), indent=2) + "\n").encode())
    return config, None


def train(
    config: TrainConfig,
    resume: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Train; return the output directory. ``on_record`` sees every metrics record."""
    import torch

    from emoret.model import load_model
    from emoret.model.emoret_model import INITIAL_LOG_SCALE
    from emoret.model.loss import gather_features, logit_scale, symmetric_infonce

    runtime = start_runtime(config.device)
    threads_before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        config, state = prepare_out(config, resume, runtime)
        out = Path(config.out)
        videos = load_video_captions(config.captions, config.frames)
        val = load_video_captions(config.val_captions, config.frames) if config.val_captions else None
        global_batch = config.batch_size * runtime.world
        if global_batch > len(videos):
            procs = f" × {runtime.world} processes" if runtime.world > 1 else ""
            raise InputError(
                source_name(config.captions),
                f"batch size {config.batch_size}{procs} is above the {len(videos)} videos with captions",
            )

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
        with torch.no_grad():
            model.clip.logit_scale.fill_(INITIAL_LOG_SCALE)
        if state is not None:
            from safetensors.torch import load_file

            weights = load_file(str(out / "last" / "model.safetensors"))
            model.clip.load_state_dict(weights, strict=True)
        model.config.base = config.model
        model.to(runtime.device).train()
        net = model
        if runtime.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [runtime.device.index] if runtime.device.type == "cuda" else None
            net = DistributedDataParallel(model, device_ids=ids)

        optimizer = torch.optim.AdamW(parameter_groups(model, config), betas=(0.9, 0.98), eps=1e-6)
        amp = config.amp if config.amp != "auto" else ("bf16" if runtime.device.type == "cuda" else "off")
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        scaler = torch.amp.GradScaler(runtime.device.type, enabled=amp == "fp16")

        batches_per_epoch = len(videos) // global_batch
        steps_per_epoch = math.ceil(batches_per_epoch / config.accum_steps)
        total_steps = config.epochs * steps_per_epoch
        step, epoch, batch_index, best = 0, 0, 0, -math.inf
        epoch_losses: list[float] = []  # this epoch's step losses, for its summary
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            _restore_rng_state(state["rng"])
            step, epoch, batch_index, best = state["step"], state["epoch"], state["batch"], state["best"]
            epoch_losses = list(state["epoch_losses"])
        # A resumed run drops what the killed one logged after its checkpoint (all of it if none).
        metrics = MetricsLog(out / METRICS_FILE, runtime.main, keep_until_step=step if resume else None)
        frames = FrameCache(config.frames, model, config.num_frames)
        emit = on_record or (lambda record: None)

        def checkpoint(next_epoch: int, next_batch: int, is_best: bool) -> None:
            train_state = {
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": _sync_rng_state(),
                "step": step,
                "epoch": next_epoch,
                "batch": next_batch,
                "best": best,
                "epoch_losses": list(epoch_losses),
            }
            if runtime.main:
                save_checkpoint(out, model, train_state, is_best)
            runtime.barrier()

        while epoch < config.epochs:
            pairs = epoch_pairs(videos, config.seed, epoch)
            while batch_index < batches_per_epoch:
                started = time.perf_counter()
                group = range(batch_index, min(batch_index + config.accum_steps, batches_per_epoch))
                step_loss = 0.0
                for i, current in enumerate(group):
                    first = current * global_batch + runtime.rank * config.batch_size
                    chosen = pairs[first : first + config.batch_size]
                    captions = [videos[v].captions[c] for v, c in chosen]
                    emotions = torch.tensor([videos[v].emotions[c] for v, c in chosen], dtype=torch.float32)
                    pixels = torch.stack([frames.get(videos[v].video_id) for v, _ in chosen]).to(runtime.device)
                    tokens = model.tokenize(captions)
                    sync = i == len(group) - 1 or not runtime.distributed
                    context = net.no_sync() if not sync else _nullcontext()
                    with context:
                        with torch.autocast(runtime.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                            text, video, log_scale = net(
                                tokens["input_ids"],
                                tokens["attention_mask"],
                                emotions.to(runtime.device) if config.emotion else None,
                                pixels,
                            )
                        loss = symmetric_infonce(gather_features(text.float()), gather_features(video.float()), log_scale)
                        scaler.scale(loss / len(group)).backward()
                    step_loss += loss.item() / len(group)
                factor = lr_factor(step, total_steps, config.warmup)
                for group_params in optimizer.param_groups:
                    group_params["lr"] = group_params["base_lr"] * factor
                if config.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                batch_index = group[-1] + 1
                epoch_losses.append(step_loss)
                elapsed = time.perf_counter() - started
                record = {
                    "step": step,
                    "epoch": epoch,
                    "loss": round(step_loss, 6),
                    "lr": optimizer.param_groups[0]["lr"],
                    "lr_new": optimizer.param_groups[2]["lr"],
                    "temperature": round(1.0 / float(logit_scale(model.clip.logit_scale.detach())), 6),
                    "step_time": round(elapsed, 4),
                    "videos_per_s": round(global_batch * len(group) / elapsed, 2),
                }
                metrics.write(record)
                emit(record)
                if config.save_every and step % config.save_every == 0 and batch_index < batches_per_epoch:
                    checkpoint(epoch, batch_index, is_best=val is None)
            summary: dict[str, Any] = {"epoch": epoch, "step": step, "train_loss": round(float(np.mean(epoch_losses)), 6)}
            # Without validation there is nothing to choose by: the best is the newest.
            score = math.inf
            if val is not None:
                report = validate(model, val, config, frames) if runtime.main else None
                if report is not None:
                    summary["val"] = report
                    score = report["t2v"]["R@1"] + report["t2v"]["R@5"] + report["t2v"]["R@10"]
                runtime.barrier()
            score = _broadcast(score, runtime)
            is_best = score >= best
            best = max(best, score)
            summary["best"] = is_best
            metrics.write(summary)
            emit(summary)
            epoch += 1
            batch_index = 0
            epoch_losses = []
            due = not config.save_every or step % config.save_every == 0 or epoch == config.epochs
            if due or (is_best and val is not None):
                checkpoint(epoch, 0, is_best)
        metrics.close()
        return out
    finally:
        torch.set_num_threads(threads_before)
        stop_runtime(runtime)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _broadcast(value: float, runtime: Runtime) -> float:
    if not runtime.distributed:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=runtime.device)
    dist.broadcast(tensor, 0)
    return float(tensor.item())


def validate(model, videos: list[VideoCaptions], config: TrainConfig, frames: FrameCache, batch: int = 32) -> dict:
    """Text→video and video→text R@1/5/10 of every caption against the videos."""
    import torch

    from emoret.retrieval.metrics import evaluate

    was_training = model.training
    model.eval()
    texts, emotions, owner = [], [], []
    for index, item in enumerate(videos):
        texts += item.captions
        emotions += item.emotions
        owner += [index] * len(item.captions)
    with torch.inference_mode():
        video_emb = torch.cat(
            [
                model.encode_video(torch.stack([frames.get(v.video_id) for v in videos[i : i + batch]]))
                for i in range(0, len(videos), batch)
            ]
        )
        text_emb = torch.cat(
            [
                model.encode_text(texts[i : i + batch], torch.tensor(emotions[i : i + batch], dtype=torch.float32) if config.emotion else None)
                for i in range(0, len(texts), batch)
            ]
        )
    model.train(was_training)
    similarity = (text_emb.float() @ video_emb.float().t()).cpu().numpy()
    report = evaluate(similarity, owner).as_dict()
    return {direction: {k: report[direction][k] for k in ("R@1", "R@5", "R@10", "MdR")} for direction in report}


class MetricsLog:
    """metrics.jsonl, appended a line at a time; a resumed run first drops the lines
    written after its checkpoint, so the file reads as one uninterrupted run."""

    def __init__(self, path: Path, active: bool, keep_until_step: int | None = None):
        self.handle = None
        if not active:
            return
        if keep_until_step is not None and path.exists():
            kept = [r for r in read_jsonl(path) if _record_step(r) <= keep_until_step]
            with JsonlWriter(path) as writer:
                writer.write_all(kept)
        self.handle = open(path, "ab")

    def write(self, record: dict[str, Any]) -> None:
        if self.handle is not None:
            from emoret.records import dumps

            self.handle.write(dumps(record))
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _record_step(record: dict[str, Any]) -> int:
    return int(record.get("step", 0))
