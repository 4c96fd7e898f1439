"""``emoret embed``: embed videos or captions into NAME.npy + NAME.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret import api
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
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or int8 (auto: bf16 on a CPU with AMX/AVX-512 BF16, fp16 on a GPU, else fp32; int8 where the CPU has VNNI and int8 was measured faster and close to fp32)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help=RAY_HELP + " Writes a sharded set (OUT.meta.json lists OUT.shards/)."),
    ray_actors: int = typer.Option(1, "--ray-actors", min=1, help=ACTORS_HELP),
    ray_shard_size: int = typer.Option(api.DEFAULT_SHARD_SIZE, "--ray-shard-size", min=1, help="With --ray: videos a shard, the unit of retry and of resume (a multiple of --batch-size keeps the local path's vectors)."),
) -> None:
    """Embed videos (a frame store or video files) or captions with a model."""
    if sum((bool(videos), frames is not None, texts is not None)) != 1:
        fail("give one of: video paths, --frames DIR or --texts FILE")
    if no_emotion and texts is None:
        fail("--no-emotion applies to --texts only")
    if (segment is not None or scenes) and not videos:
        fail("--segment and --scenes apply to video files (a frame store is cut by extract-frames)")
    check_cutting(segment, overlap)
    if sampling is not None and texts is not None:
        fail("--sampling applies to videos only")
    try:
        api.parse_shard(shard)
        api.check_precision(precision)
    except ValueError as err:
        fail(str(err))
    if ray is not None:
        _embed_on_ray(model_spec, videos or [], frames, texts is not None or bool(shard), out,
                      api.RayOptions(ray or None, ray_actors, device, shard_size=ray_shard_size),
                      api.Cutting(segment, overlap, scenes), (sampling or Rule.linspace).value, batch_size or 8, precision)
        return
    model = load_model_or_fail(model_spec, device)
    chosen = _say_precision(precision, model, "texts" if texts is not None else "videos")
    if texts is not None:
        hint_reading_stdin(texts, "embed", "caption records", "a file: --texts captions.jsonl")
        captions = api.read_captions(texts)
    with progress() as bar:
        task = bar.add_task("embedding captions" if texts is not None else "embedding videos", total=0)
        on_total, on_step = (lambda n: bar.update(task, total=n)), (lambda n: bar.advance(task, n))
        if texts is not None:
            written = api.embed_captions(model, model_spec, captions, out, not no_emotion,
                                         batch_size or 64, chosen, shard, on_total, on_step)
            message(f"embed: {written.count} captions → {written.path}")
            return
        try:
            written = api.embed_videos(model, model_spec, videos or [], out, frames, api.Cutting(segment, overlap, scenes),
                                       (sampling or Rule.linspace).value, batch_size or 8, chosen, message, shard,
                                       decode_workers, on_total, on_step)
        except api.NoVideos as err:
            fail(str(err))
    _summary(written)


def _summary(written: api.WrittenSet) -> None:
    failures = written.failures
    if written.path is not None:
        what = "moments" if written.moments else "videos"
        message(f"embed: {written.count} {what} → {written.path}" + (f"; {len(failures)} failed" if failures else ""))
    if failures:
        exit_with(EXIT_FAILED)


def _say_precision(spec: str, model: api.Encoder, kind: str) -> str:
    """The precision ``spec`` means here (int8 where auto measured it better); what auto chose
    goes to stderr on a terminal (logs and pipes keep stderr for errors; NAME.meta.json records
    the choice either way)."""
    device_type = model.device.type
    chosen, why = api.precision_note(spec, device_type, model, kind, message)
    if spec == "auto" and device_type == "cpu" and stderr_console().is_terminal:
        message(f"embed: precision {chosen} (auto: {why})")
    return chosen


def _embed_on_ray(model_spec: str, paths: List[Path], frames_dir: Optional[Path], texts_or_shard: bool, out: str,
                  options: api.RayOptions, cutting: api.Cutting, rule: str, batch_size: int, precision: str) -> None:
    if texts_or_shard:
        fail("--ray embeds videos, cut into shards itself (not --texts, not --shard)")
    with progress() as bar:
        task = bar.add_task("embedding videos on Ray", total=None)
        written = api.embed_on_ray(model_spec, paths, frames_dir, out, options, cutting, rule, batch_size, precision,
                                   say=message, on_items=lambda done, total: bar.update(task, completed=done, total=total))
    if written.path is None and not written.failures:  # as the local path: no video at all is bad usage
        fail("no videos to embed")
    _summary(written)
