"""``emoret index``: build or refresh the hnswlib index directory."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret.embedding import files as set_files
from emoret.embedding.files import embedding_paths
from emoret.embedding.shards import is_sharded
from emoret.index import store
from emoret.index.build import (
    Cutting,
    EmotionTagger,
    IndexParams,
    NeedsModel,
    index_embeddings,
    index_videos,
    locked,
)
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

    target = store.resolve_target(out or store.default_index_dir())
    params = IndexParams(m or store.DEFAULT_M, ef_construction or store.DEFAULT_EF_CONSTRUCTION, ef or store.DEFAULT_EF)
    embeddings = [source for source in sources if _is_embeddings(source)]
    if embeddings and len(embeddings) != len(sources):
        fail("give either embeddings or videos, not both")
    if not embeddings:
        _check_video_sources(sources, model_spec)
    if embeddings and sampling is not None:
        fail("--sampling applies to videos; embeddings were sampled when they were made")
    if embeddings and (segment is not None or scenes):
        fail("--segment and --scenes cut videos; embeddings are already cut (use them with extract-frames or embed)")
    check_cutting(segment, overlap)
    store.refuse_foreign_directory(Path(target))
    emotions = None
    if emotions_file is not None:
        from emoret.perception.join import read_emotions

        emotions = read_emotions(emotions_file)
    tagger = EmotionTagger(emotions, feel, model_spec, device, message)
    try:
        with locked(target, wait, message):
            if embeddings:
                written = index_embeddings(embeddings, target, model_spec, device, params, tagger, message)
                message(f"index: {written['count']} items, dimension {written['dim']} → {target}")
            else:
                failed = _from_videos(sources, target, model_spec, device, batch_size, params,
                                      (sampling or Rule.linspace).value, Cutting(segment, overlap, scenes), tagger)
                if failed:
                    exit_with(EXIT_FAILED)
    except store.IndexBusy as err:
        fail(str(err), EXIT_FAILED)
    except NeedsModel:
        fail("--feel needs the model: pass --model")


def _verify(path: Path) -> None:
    """One line on stderr: what was checked, or (exit 2, from the error) the first fault found."""
    checked = store.verify_index(path)
    what = f"{checked['count']} items, dimension {checked['dim']}, {checked['files']} files"
    if checked["digests"]:
        message(f"index: {path}: verified ({what}: every digest matches meta.json, vectors finite and of unit length)")
    else:
        message(f"index: {path}: built before indexes carried digests: {what}; meta.json, items and vectors checked, "
                "the graph and the query tower cannot be; rebuild it with 'emoret index' to have them checked")


def _is_embeddings(source: str) -> bool:
    """NAME.npy / NAME.jsonl, or a NAME with NAME.npy beside it; a directory is videos."""

    if source.endswith((".npy", ".jsonl")):
        return True
    npy, _, _ = embedding_paths(source)
    if Path(source).is_dir():
        if npy.is_file() and not source.endswith("/"):
            fail(f"{source}: both a directory and {npy.name} exist; write {npy} for the embeddings or {source}/ for the videos")
        return False
    return npy.is_file() or is_sharded(source)


def _check_video_sources(sources: List[str], model_spec: Optional[str]) -> None:
    """A missing path is named as missing, before any word about --model."""
    for source in sources:
        if not Path(source).exists():
            fail(f"{source}: no such file or directory")
    if model_spec is None:
        files = [source for source in sources if Path(source).is_file()]
        if files:
            fail(f"{set_files.not_a_set(files[0])}; to index it as a video, give --model")
        fail("indexing videos needs --model (or give embeddings made by 'emoret embed')")


def _from_videos(paths: List[str], target: Path, model_spec: Optional[str], device: str, batch_size: int, params: IndexParams,
                 rule: str, cutting: Cutting, tagger: EmotionTagger) -> int:
    assert model_spec is not None  # _check_video_sources asked for it
    model = load_model_or_fail(model_spec, device)
    with progress() as bar:
        task = bar.add_task("embedding new videos", total=0)

        def report(failure) -> None:
            message(f"emoret: {failure.record.get('path')}: {failure.reason}")

        result = index_videos(
            paths, target, model, model_spec, params, batch_size, rule, cutting, tagger, message,
            on_start=lambda n: bar.update(task, total=n), on_item=lambda: bar.advance(task), on_failure=report,
        )
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
