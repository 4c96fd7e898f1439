"""``emoret embed``: embed videos or captions into NAME.npy + NAME.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret.cluster.jobs import DEFAULT_SHARD_SIZE, RayOptions
from emoret.embedding import files as set_files
from emoret.embedding import sets
from emoret.embedding.sources import parse_shard, shard_bounds
from emoret.index.build import Cutting
from emoret.records import read_captions
from emoret_cli.common import EXIT_FAILED, exit_with, fail, hint_reading_stdin, message, progress, stderr_console
from emoret_cli.modelopt import load_model_or_fail
from emoret_cli.rayopt import ACTORS_HELP, RAY_HELP
from emoret_cli.samplingopt import SAMPLING_HELP, Rule, check_cutting

EPILOG = (
    "Examples: emoret embed --model model/ --frames frames/ --out videos\n\n"
    "emoret embed --model openai/clip-vit-base-patch32 ~/Videos --out videos\n\n"
    "emoret embed --model model/ --texts annotated.jsonl --out texts\n\n"
    "Long videos as moments: emoret embed --model model/ ~/Videos --segment 10 --out moments   (or --scenes)\n\n"
    "Split a large library over 4 machines: --shard 0/4 ... --shard 3/4 (outputs concatenate in shard order)."
)


def COMMAND(
    videos: Optional[List[Path]] = typer.Argument(None, help="Video files or directories, decoded on the fly."),
    model_spec: str = typer.Option(..., "--model", "-m", help="Hub id, CLIP or emoret model directory, or CLIP-ViP .pt."),
    out: str = typer.Option(..., "--out", "-o", help="Output NAME: writes NAME.npy, NAME.jsonl and NAME.meta.json."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="A frame store made by 'emoret extract-frames'."),
    texts: Optional[str] = typer.Option(None, "--texts", help="Caption records to embed (a path, or '-' for stdin)."),
    no_emotion: bool = typer.Option(False, "--no-emotion", help="Embed captions without their emotion vector."),
    segment: Optional[float] = typer.Option(None, "--segment", min=0.001, help="Video files: embed moments of this many seconds."),
    overlap: float = typer.Option(0.0, "--overlap", min=0.0, help="Seconds each --segment window shares with the next."),
    scenes: bool = typer.Option(False, "--scenes", help="Video files: embed one moment a shot (with --segment: long shots split)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help="Items a batch (default 64 texts, 8 videos)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (half precision on a GPU)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: embed only the I-th of N equal parts (0-based)."),
    sampling: Optional[Rule] = typer.Option(None, "--sampling", help=SAMPLING_HELP),
    decode_workers: Optional[int] = typer.Option(None, "--decode-workers", min=0, help="Video files: processes decoding ahead of the model (default: 0 on a CPU, where a thread does it; spare cores up to 8 on a GPU)."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32 or bf16 (auto: bf16 on a CPU with AMX/AVX-512 BF16, fp16 on a GPU, else fp32)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP + " Writes a sharded set (OUT.meta.json lists OUT.shards/)."),
    ray_actors: int = typer.Option(1, "--ray-actors", min=1, help=ACTORS_HELP),
    ray_shard_size: int = typer.Option(DEFAULT_SHARD_SIZE, "--ray-shard-size", min=1, help="With --ray: videos a shard, the unit of retry and of resume (a multiple of --batch-size keeps the local path's vectors)."),
) -> None:
    """Embed videos (a frame store or video files) or captions with a model."""

    sources = sum((bool(videos), frames is not None, texts is not None))
    if sources != 1:
        fail("give one of: video paths, --frames DIR or --texts FILE")
    if no_emotion and texts is None:
        fail("--no-emotion applies to --texts only")
    if (segment is not None or scenes) and not videos:
        fail("--segment and --scenes apply to video files (a frame store is cut by extract-frames)")
    check_cutting(segment, overlap)
    if sampling is not None and texts is not None:
        fail("--sampling applies to videos only")
    rule = (sampling or Rule.linspace).value
    try:
        part = parse_shard(shard)
    except ValueError as err:
        fail(str(err))

    from emoret.embedding.precision import PRECISIONS, bf16_override

    if precision not in PRECISIONS:
        fail(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    try:
        bf16_override()
    except ValueError as err:
        fail(str(err))
    if ray is not None:
        _embed_on_ray(model_spec, videos or [], frames, texts is not None or bool(shard), out,
                      RayOptions(ray or None, ray_actors, device, shard_size=ray_shard_size), Cutting(segment, overlap, scenes), rule,
                      batch_size or 8, precision)
        return
    model = load_model_or_fail(model_spec, device)
    precision = _say_precision(precision, model.device.type)
    meta = set_files.model_meta(model, model_spec)
    meta["precision"] = precision
    if shard:
        meta["shard"] = shard
    if texts is not None:
        _embed_texts(model, texts, not no_emotion, batch_size or 64, part, out, meta, precision)
        return
    meta["sampling"] = rule
    cutting = Cutting(segment, overlap, scenes)
    failed = _embed_videos(model, videos or [], frames, batch_size or 8, part, out, meta, rule, cutting, precision,
                           decode_workers)
    if failed:
        exit_with(EXIT_FAILED)


def _say_precision(spec: str, device_type: str) -> str:
    """The precision ``spec`` means here; what auto chose goes to stderr on a terminal (logs
    and pipes keep stderr for errors; NAME.meta.json records the choice either way)."""
    from emoret.embedding.precision import BF16_OVERRIDE, bf16_override, cpu_has_bf16, resolve_precision

    chosen = resolve_precision(spec, device_type)
    if spec == "auto" and device_type == "cpu" and stderr_console().is_terminal:
        override = bf16_override()
        if override is not None:
            why = f"{BF16_OVERRIDE}={int(override)}"
        else:
            why = "this CPU has bf16 instructions" if cpu_has_bf16() else "no AMX/AVX-512 BF16 on this CPU"
        message(f"embed: precision {chosen} (auto: {why})")
    return chosen


def _embed_texts(model, source: str, use_emotion: bool, batch_size: int, part, out: str, meta: dict,
                 precision: str | None = None) -> None:
    hint_reading_stdin(source, "embed", "caption records", "a file: --texts captions.jsonl")
    captions = read_captions(source)
    start, stop = shard_bounds(len(captions), part)
    with progress() as bar:
        task = bar.add_task("embedding captions", total=stop - start)
        written = sets.caption_set(model, captions, out, meta, use_emotion, batch_size, part, precision,
                                   on_batch=lambda n: bar.advance(task, n))
    message(f"embed: {written.count} captions → {written.path}")


def _embed_on_ray(model_spec: str, paths, frames_dir, texts_or_shard: bool, out: str, options: RayOptions,
                  cutting: Cutting, rule: str, batch_size: int, precision: str) -> None:
    from emoret.cluster.embed import embed_on_ray

    if texts_or_shard:
        fail("--ray embeds videos, cut into shards itself (not --texts, not --shard)")
    with progress() as bar:
        task = bar.add_task("embedding videos on Ray", total=None)
        written = embed_on_ray(model_spec, paths, frames_dir, out, options, cutting, rule, batch_size, precision,
                               say=message, on_items=lambda done, total: bar.update(task, completed=done, total=total))
    failures = written.failures
    if written.path is None and not failures:  # as the local path: no video at all is bad usage
        fail("no videos to embed")
    if written.path is not None:
        what = "moments" if written.moments else "videos"
        message(f"embed: {written.count} {what} → {written.path}" + (f"; {len(failures)} failed" if failures else ""))
    if failures:
        exit_with(EXIT_FAILED)


def _embed_videos(model, paths, frames_dir, batch_size: int, part, out: str, meta: dict, rule: str,
                  cutting: Cutting, precision: str | None = None, decode_workers: int | None = None) -> int:
    items = sets.video_items(model, paths, frames_dir, rule, cutting, part, say=message)
    if not items:
        fail("no videos to embed" + (" in this shard" if part != (0, 1) else ""))

    def report(failure) -> None:
        where = failure.record.get("path") or failure.record.get("source") or failure.record.get("video_id")
        message(f"emoret: {where}: {failure.reason}")

    with progress() as bar:
        task = bar.add_task("embedding videos", total=len(items))
        written = sets.video_set(model, items, out, meta, batch_size, rule, precision,
                                 decode_workers if frames_dir is None else 0, on_item=lambda: bar.advance(task),
                                 on_failure=report)
    failures = written.failures
    if written.path is not None:
        what = "moments" if written.moments else "videos"
        message(f"embed: {written.count} {what} → {written.path}" + (f"; {len(failures)} failed" if failures else ""))
    return len(failures)
