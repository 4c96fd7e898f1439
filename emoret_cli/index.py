"""``emoret index``: build or refresh the hnswlib index directory."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret import api
from emoret_cli.common import EXIT_FAILED, exit_with, fail, message, progress
from emoret_cli.modelopt import load_model_or_fail
from emoret_cli.samplingopt import SAMPLING_HELP, Rule, check_cutting

EPILOG = (
    "From embeddings: emoret index videos --out my-index   (videos.npy + videos.jsonl; shards: list them all)\n\n"
    "From videos, for cron: emoret index --model model/ ~/Videos --out my-index   "
    "(embeds only new or changed videos, drops deleted ones)\n\n"
    "Long videos as moments: emoret index --model model/ ~/Videos --segment 10   (or --scenes: one moment a shot)\n\n"
    "The index goes to --out, else $EMORET_INDEX, else ./emoret-index.\n\n"
    "Check one (every file's digest): emoret index --verify my-index"
)


def COMMAND(
    sources: Optional[List[str]] = typer.Argument(None, help="Embeddings (NAME or NAME.npy), or video files/directories with --model."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Index directory (default $EMORET_INDEX, then ./emoret-index)."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="Model for video sources (and to check embeddings)."),
    m: Optional[int] = typer.Option(None, "--m", min=2, help="hnswlib M: links a node (default 16; more: better recall, more memory)."),
    ef_construction: Optional[int] = typer.Option(None, "--ef-construction", min=1, help="hnswlib build-time breadth (default 200)."),
    ef: Optional[int] = typer.Option(None, "--ef", min=1, help="Default search breadth recorded in the index (default 512)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for another run on this index, or fail at once."),
    segment: Optional[float] = typer.Option(None, "--segment", min=0.001, help="Videos: index moments of this many seconds."),
    overlap: float = typer.Option(0.0, "--overlap", min=0.0, help="Seconds each --segment window shares with the next."),
    scenes: bool = typer.Option(False, "--scenes", help="Videos: index one moment a shot (with --segment: long shots split)."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Videos a batch when embedding."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    sampling: Optional[Rule] = typer.Option(None, "--sampling", help=SAMPLING_HELP + " Videos only."),
    emotions_file: Optional[Path] = typer.Option(None, "--emotions", help="'emoret feel' output: keep each video's video_emotions (joined by video_id)."),
    feel: bool = typer.Option(False, "--feel", help="Read scene emotions for videos without them, from their embeddings (needs the model)."),
    verify: Optional[Path] = typer.Option(None, "--verify", help="Check this index directory in full (every file's digest, its meta.json, its vectors) and build nothing."),
) -> None:
    """Build an index from embeddings, or keep one in step with folders of videos."""
    if verify is not None:
        if sources:
            fail("--verify checks an index; give no sources with it")
        _verify(verify)
        return
    if not sources:
        fail("give embeddings, or video files/directories with --model (or --verify DIR)")
    params = api.IndexParams(m or api.IndexParams.m, ef_construction or api.IndexParams.ef_construction,
                             ef or api.IndexParams.ef)
    embeddings = _embeddings(sources, model_spec, sampling is not None, segment is not None or scenes)
    check_cutting(segment, overlap)
    target = api.writable_index(out)
    try:
        if embeddings:
            written = api.build_index(target, embeddings, model_spec, params, emotions_file, wait, message, feel, device)
            message(f"index: {written['count']} items, dimension {written['dim']} → {target}")
        else:
            assert model_spec is not None  # _embeddings asked for it
            failed = _from_videos(sources, target, model_spec, device, batch_size, params, (sampling or Rule.linspace).value,
                                  api.Cutting(segment, overlap, scenes), emotions_file, wait, feel)
            if failed:
                exit_with(EXIT_FAILED)
    except api.IndexBusy as err:
        fail(str(err), EXIT_FAILED)
    except api.NeedsModel:
        fail("--feel needs the model: pass --model")


def _embeddings(sources: List[str], model_spec: Optional[str], sampling: bool, cutting: bool) -> List[str]:
    """The sources when they are embedding sets; [] when they are videos (checked to exist, with --model)."""
    embeddings = [source for source in sources if api.names_a_set(source)]
    if embeddings and len(embeddings) != len(sources):
        fail("give either embeddings or videos, not both")
    if not embeddings:
        _check_video_sources(sources, model_spec)
    if embeddings and sampling:
        fail("--sampling applies to videos; embeddings were sampled when they were made")
    if embeddings and cutting:
        fail("--segment and --scenes cut videos; embeddings are already cut (use them with extract-frames or embed)")
    return embeddings


def _verify(path: Path) -> None:
    """One line on stderr: what was checked, or (exit 2, from the error) the first fault found."""
    checked = api.verify_index(path)
    what = f"{checked['count']} items, dimension {checked['dim']}, {checked['files']} files"
    if checked["digests"]:
        message(f"index: {path}: verified ({what}: every digest matches meta.json, vectors finite and of unit length)")
    else:
        message(f"index: {path}: built before indexes carried digests: {what}; meta.json, items and vectors checked, "
                "the graph and the query tower cannot be; rebuild it with 'emoret index' to have them checked")


def _check_video_sources(sources: List[str], model_spec: Optional[str]) -> None:
    """A missing path is named as missing, before any word about --model."""
    for source in sources:
        if not Path(source).exists():
            fail(f"{source}: no such file or directory")
    if model_spec is None:
        files = [source for source in sources if Path(source).is_file()]
        if files:
            fail(f"{api.not_a_set(files[0])}; to index it as a video, give --model")
        fail("indexing videos needs --model (or give embeddings made by 'emoret embed')")


def _from_videos(paths: List[str], target: Path, model_spec: str, device: str, batch_size: int,
                 params: api.IndexParams, rule: str, cutting: api.Cutting, emotions: Optional[Path], wait: bool,
                 feel: bool) -> int:
    model = load_model_or_fail(model_spec, device)
    with progress() as bar:
        task = bar.add_task("embedding new videos", total=0)
        result = api.refresh_index(target, paths, model, model_spec, params, cutting, rule, emotions, batch_size, wait,
                                   message, feel, on_total=lambda n: bar.update(task, total=n),
                                   on_step=lambda n: bar.advance(task, n))
    summary = f"kept {result.kept}, embedded {result.embedded}, removed {result.removed}"
    if result.failed:
        summary += f", failed {len(result.failed)}"
    if result.written:
        message(f"index: {summary} → {target}")
    elif result.kept + result.embedded == 0:
        message(f"index: no readable videos; {target} left as it was")
    else:
        message(f"index: up to date ({summary})")
    return len(result.failed)
