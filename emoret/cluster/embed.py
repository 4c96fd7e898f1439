"""``emoret embed --ray``: video items embedded on Ray into a sharded set.

The driver lists the items as the local path does (:func:`emoret.embedding.sets.video_items`),
cuts them into shards and keeps those a killed run already wrote whole; the rest go
through decode tasks and the actor pool, each actor writing its shards. The manifest,
written last, lists the shards in the items' order, whichever finished first.
OUT (and the videos) must be on a file system every node sees at the same path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

from emoret import lockfile
from emoret.cluster import jobs, session
from emoret.cluster.stages import Decoding, ModelJob, ShardEmbedder, unpacked
from emoret.embedding import shards as shard_files
from emoret.embedding.files import embedding_paths, model_meta
from emoret.embedding.sets import WrittenSet, video_items
from emoret.index.build import Cutting, Say, quiet
from emoret.video.decode import DEFAULT_RULE


def embed_on_ray(model_spec: str, videos: Sequence[str | os.PathLike[str]] = (),
                 frames: str | os.PathLike[str] | None = None, out: str | os.PathLike[str] = "videos",
                 options: jobs.RayOptions | None = None, cutting: Cutting | None = None, rule: str = DEFAULT_RULE,
                 batch_size: int = 8, precision: str = "auto", say: Say = quiet,
                 on_items: Callable[[int, int], None] | None = None) -> WrittenSet:
    """Video files and folders (or a frame store, ``frames``) embedded on Ray into the sharded
    set ``out``, as ``emoret embed --ray``; an unreadable video is said and left out (the
    result's ``failures``). ``on_items(done, total)`` follows the items."""
    session.require_ray()
    options = options or jobs.RayOptions()
    with session.connected(options.address) as ray:
        from emoret.embedding.precision import resolve_precision
        from emoret.model.factory import ModelOptions, create_model

        device = jobs.actor_device(options, ray)
        model = create_model(model_spec, ModelOptions(device="cpu"))  # the driver's: sampling and meta
        chosen = resolve_precision(precision, device)
        meta = {**model_meta(model, model_spec), "precision": chosen, "sampling": rule, "kind": "videos"}
        items = video_items(model, [Path(video) for video in videos], frames, rule, cutting, say=say)
        job = ModelJob(str(meta["model"]), model.fingerprint, device, chosen, batch_size,
                       max(1, int(options.actor_cpus)), meta)
        decoding = Decoding(int(model.num_frames), rule, item_bytes=int(model.num_frames) * int(model.image_size) ** 2 * 3)
        del model
        settings = {"meta": meta, "cutting": asdict(cutting or Cutting()), "shard_size": options.shard_size}
        lock = embedding_paths(out)[0].with_suffix(".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lockfile.held(lock):
            return _embed_shards(ray, items, out, settings, job, decoding, options, say, on_items)


def _embed_shards(ray: ModuleType, items: Sequence[Any], out: str | os.PathLike[str], settings: dict[str, Any],
                  job: ModelJob, decoding: Decoding, options: jobs.RayOptions, say: Say,
                  on_items: Callable[[int, int], None] | None) -> WrittenSet:
    """The shards not already written, embedded; the manifest written when any row was."""
    directory = shard_files.shards_dir(out)
    directory.mkdir(parents=True, exist_ok=True)
    shard_files.remove_temps(directory)  # of a job killed before: we hold the lock now
    plan = jobs.cut(items, options.shard_size)
    for shard in plan:
        key = shard_files.shard_key([item.record for item in shard.items], settings)
        shard.path = shard_files.shard_path(out, shard.index, key).absolute()
    entries = {shard.index: entry for shard in plan
               if shard.path is not None and (entry := shard_files.checked_shard(shard.path)) is not None}
    todo = [shard for shard in plan if shard.index not in entries]
    if entries:
        say(f"embed: {len(entries)} of {len(plan)} shards already written whole, kept; embedding {len(todo)}")
    done = 0

    def finished(entry: dict[str, Any], shard: jobs.Shard) -> None:
        nonlocal done
        for failure in jobs.failures_of([entry]):
            jobs.report(failure, say)
        done += len(shard.items)
        if on_items is not None:
            on_items(done, len(items))

    for index, entry in entries.items():
        finished(entry, plan[index])
    if todo:
        for row in jobs.run_shards(ray, todo, decoding, ShardEmbedder, job, options):
            entries[row["shard"]] = unpacked(row["entry"])
            finished(entries[row["shard"]], plan[row["shard"]])
    ordered = [entries[shard.index] for shard in plan]
    shard_files.remove_temps(directory)
    failures = jobs.failures_of(ordered)
    count = sum(entry["count"] for entry in ordered)
    if not count:
        return WrittenSet(None, 0, failures=failures)
    path = shard_files.write_manifest(out, ordered, settings["meta"])
    return WrittenSet(path, count, any(entry.get("moments") for entry in ordered), failures)
