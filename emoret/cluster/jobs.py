"""What a Ray job is cut into and how it runs: shards of items through decode tasks and model actors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from emoret.cluster import session
from emoret.cluster.stages import Decoding, ModelJob, Row, decode_shard, shard_row
from emoret.embedding.sources import VideoFailure, VideoItem
from emoret.errors import InputError

# Items a shard: the unit of retry and of resume; a multiple of the batch size keeps the
# batches (and so the vectors, to the last bit) those of the local path.
DEFAULT_SHARD_SIZE = 64


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a job runs.

    ``address``: None starts a local Ray (or joins ``RAY_ADDRESS``), ``auto`` the cluster
    running here, ``HOST:PORT`` / ``ray://HOST:PORT`` another. ``actors``: models running
    at once (one a GPU with ``device`` cuda, ``gpus_per_actor`` each); ``device`` auto puts
    them on GPUs where the cluster has some. ``actor_cpus`` / ``decode_cpus``: the CPUs Ray
    reserves for an actor (its torch threads) and for a decode task.
    """

    address: str | None = None
    actors: int = 1
    device: str = "auto"
    gpus_per_actor: float = 1.0
    actor_cpus: float = 1.0
    decode_cpus: float = 1.0
    shard_size: int = DEFAULT_SHARD_SIZE


@dataclass
class Shard:
    index: int
    start: int  # the position of its first item among all the job's items
    items: Sequence[VideoItem]
    path: Path | None = None  # where its set goes (embed); None when it goes back to the driver


def cut(items: Sequence[VideoItem], size: int) -> list[Shard]:
    """Contiguous shards of ``size`` items, in the items' order."""
    return [Shard(index, start, items[start : start + size]) for index, start in enumerate(range(0, len(items), size))]


def actor_device(options: RayOptions, ray: ModuleType) -> str:
    """The actors' device: as asked, or (auto) cuda where the cluster offers GPUs."""
    if options.device != "auto":
        return options.device
    return "cuda" if session.has_gpus(ray) else "cpu"


def check_room(ray: ModuleType, options: RayOptions) -> None:
    """Refuse actors that would leave no CPU to decode on: the job would wait forever."""
    cpus = float(ray.cluster_resources().get("CPU", 0))
    needed = options.actors * options.actor_cpus + options.decode_cpus
    if needed > cpus:
        raise InputError("--ray-actors", f"{options.actors} actors of {options.actor_cpus:g} CPU and a decode task "
                                         f"of {options.decode_cpus:g} need {needed:g} CPUs, the cluster has {cpus:g}: "
                                         "run fewer actors")


def run_shards(ray: ModuleType, shards: Sequence[Shard], decoding: Decoding, actor: type | None,
               job: ModelJob | None, options: RayOptions) -> Iterator[Row]:
    """Each shard through a decode task and (with ``actor``) the actor pool; rows as they
    finish, in any order (each names its shard)."""
    if actor is not None:
        check_room(ray, options)
    rows = [shard_row(shard.index, shard.start, list(shard.items), str(shard.path or "")) for shard in shards]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))  # a block a shard: retried alone
    # Ray Data runs a task whose worker died again, without limit; actors restart likewise.
    # The memory a shard's frames take is reserved for its decode task; it also keeps the
    # tasks apart from the actors (Ray Data fuses stages whose resources are equal).
    memory = max(1, decoding.item_bytes * options.shard_size)
    dataset = dataset.map(decode_shard, fn_kwargs={"decoding": decoding}, num_cpus=options.decode_cpus,
                          memory=memory)
    if actor is not None:
        gpus = options.gpus_per_actor if job is not None and job.device == "cuda" else 0
        dataset = dataset.map(actor, fn_constructor_kwargs={"job": job},
                              compute=ray.data.ActorPoolStrategy(size=options.actors),
                              num_cpus=options.actor_cpus, num_gpus=gpus or None)
    yield from dataset.iter_rows()


def failures_of(entries: Sequence[dict[str, Any]]) -> list[VideoFailure]:
    return [VideoFailure(failure["record"], failure["reason"]) for entry in entries for failure in entry["failures"]]


def report(failure: VideoFailure, say: Callable[[str], None]) -> None:
    record = failure.record
    say(f"emoret: {record.get('path') or record.get('source') or record.get('video_id')}: {failure.reason}")
