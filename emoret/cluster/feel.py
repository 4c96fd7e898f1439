"""``emoret feel --ray``: each video's emotions read on Ray, records back in the items' order.

Decode tasks load the frames and read the faces (the local path's face reader, on the
frames as loaded); the actors embed the scene and read its emotions; the driver joins
both with :func:`emoret.perception.run.feel_record`, as the local path does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emoret.cluster import jobs, session
from emoret.cluster.stages import Decoding, ModelJob, SceneFeeler, unpacked
from emoret.embedding.sources import VideoFailure
from emoret.index.build import Say, quiet
from emoret.perception.aggregate import DEFAULT_FACE_SHARE
from emoret.perception.run import NO_MODEL_FRAMES, NO_MODEL_SIZE, feel_items, feel_record
from emoret.video.decode import DEFAULT_RULE


def feel_on_ray(model_spec: str | None, videos: Sequence[str | os.PathLike[str]] = (),
                frames: str | os.PathLike[str] | None = None, faces: bool = True,
                face_model: str | os.PathLike[str] | None = None, face_share: float = DEFAULT_FACE_SHARE,
                batch_size: int = 8, options: jobs.RayOptions | None = None, say: Say = quiet,
                on_items: Callable[[int, int], None] | None = None) -> tuple[list[dict[str, Any]], list[VideoFailure]]:
    """Each readable video's record with ``video_emotions`` (and ``faces``), in order, and the
    videos that could not be read (said as they come); ``model_spec`` None: faces only."""
    session.require_ray()
    options = options or jobs.RayOptions()
    with session.connected(options.address) as ray:
        job, model = None, None
        if model_spec is not None:
            from emoret.model.factory import ModelOptions, create_model

            model = create_model(model_spec, ModelOptions(device="cpu"))  # the driver's: sampling
            device = jobs.actor_device(options, ray)
            # The local path's precision for feel: half on a GPU, fp32 on a CPU.
            job = ModelJob(model_spec, model.fingerprint, device, "fp16" if device == "cuda" else "fp32",
                           batch_size, max(1, int(options.actor_cpus)))
        items = feel_items(model, [Path(video) for video in videos], frames, say)
        frames_an_item = int(model.num_frames) * int(model.image_size) ** 2 * 3 if model else NO_MODEL_FRAMES * NO_MODEL_SIZE ** 2 * 3
        decoding = Decoding(int(model.num_frames) if model is not None else None, DEFAULT_RULE, faces,
                            None if face_model is None else os.fspath(face_model), model is not None, frames_an_item)
        source = str(getattr(model, "source", "the face model"))
        del model
        plan = jobs.cut(items, options.shard_size)
        results: dict[int, Any] = {}
        for row in jobs.run_shards(ray, plan, decoding, SceneFeeler if job else None, job, options):
            results[row["shard"]] = _shard_result(unpacked(row["payload"]), job is not None)
            for failure in results[row["shard"]][3]:
                jobs.report(VideoFailure(failure["record"], failure["reason"]), say)
            if on_items is not None:
                on_items(sum(len(plan[index].items) for index in results), len(items))
    records, failures = [], []
    for index in range(len(plan)):
        shard_records, scenes, summaries, shard_failures = results[index]
        records += [feel_record(record, scene, summary, faces, face_share, source)
                    for record, scene, summary in zip(shard_records, scenes, summaries, strict=True)]
        failures += [VideoFailure(failure["record"], failure["reason"]) for failure in shard_failures]
    return records, failures


def _shard_result(payload: Any, scene: bool) -> tuple[list, list, list, list]:
    """(records, scenes, face summaries, failures) of a shard, with or without a scene actor."""
    if scene:
        records, scenes, summaries, failures = payload
        return records, scenes, summaries or [None] * len(records), failures
    loaded, failures, faces = payload  # straight from the decode task: faces only
    records = [record for _, rows, _ in loaded for record, _ in rows]
    summaries = [summary for shard in (faces or []) for summary in shard]
    return records, [None] * len(records), summaries or [None] * len(records), failures
