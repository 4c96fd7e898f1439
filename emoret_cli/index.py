"""``emoret index``: build or refresh the hnswlib index directory."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from emoret.retrieval import embed
from emoret.retrieval import index as store
from emoret.retrieval.embed import embedding_paths
from emoret.retrieval.refresh import refresh
from emoret_cli.common import EXIT_FAILED, exit_with, fail, message, progress
from emoret_cli.modelopt import load_model_or_fail
from emoret_cli.samplingopt import SAMPLING_HELP, Rule

EPILOG = (
    "From embeddings: emoret index videos --out my-index   (videos.npy + videos.jsonl; shards: list them all)\n\n"
    "From videos, for cron: emoret index --model model/ ~/Videos --out my-index   "
    "(embeds only new or changed videos, drops deleted ones)\n\n"
    "The index goes to --out, else $EMORET_INDEX, else ./emoret-index."
)


def COMMAND(
    sources: List[str] = typer.Argument(..., help="Embeddings (NAME or NAME.npy), or video files/directories with --model."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Index directory (default $EMORET_INDEX, then ./emoret-index)."),
    model_spec: Optional[str] = typer.Option(None, "--model", "-m", help="Model for video sources (and to check embeddings)."),
    m: Optional[int] = typer.Option(None, "--m", min=2, help="hnswlib M: links a node (default 16; more: better recall, more memory)."),
    ef_construction: Optional[int] = typer.Option(None, "--ef-construction", min=1, help="hnswlib build-time breadth (default 200)."),
    ef: Optional[int] = typer.Option(None, "--ef", min=1, help="Default search breadth recorded in the index (default 512)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for another run on this index, or fail at once."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", min=1, help="Videos a batch when embedding."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    sampling: Optional[Rule] = typer.Option(None, "--sampling", help=SAMPLING_HELP + " Videos only."),
) -> None:
    """Build an index from embeddings, or keep one in step with folders of videos."""

    target = out or store.default_index_dir()
    params = {
        "m": m or store.DEFAULT_M,
        "ef_construction": ef_construction or store.DEFAULT_EF_CONSTRUCTION,
        "ef": ef or store.DEFAULT_EF,
    }
    embeddings = [source for source in sources if _is_embeddings(source)]
    if embeddings and len(embeddings) != len(sources):
        fail("give either embeddings or videos, not both")
    if not embeddings and model_spec is None:
        fail("indexing videos needs --model (or give embeddings made by 'emoret embed')")
    if embeddings and sampling is not None:
        fail("--sampling applies to videos; embeddings were sampled when they were made")
    store.refuse_foreign_directory(Path(target))

    def waiting() -> None:
        message(f"index: waiting for another run on {target} to finish")

    try:
        with store.writer_lock(target, wait=wait, on_wait=waiting):
            if embeddings:
                _from_embeddings(embeddings, target, model_spec, device, params)
            else:
                failed = _from_videos(sources, target, model_spec, device, batch_size, params,
                                      (sampling or Rule.linspace).value)
                if failed:
                    exit_with(EXIT_FAILED)
    except store.IndexBusy as err:
        fail(str(err), EXIT_FAILED)


def _is_embeddings(source: str) -> bool:
    """NAME.npy / NAME.jsonl, or a NAME with NAME.npy beside it; a directory is videos."""

    if source.endswith((".npy", ".jsonl")):
        return True
    npy, _, _ = embedding_paths(source)
    if Path(source).is_dir():
        if npy.is_file() and not source.endswith("/"):
            fail(f"{source}: both a directory and {npy.name} exist; write {npy} for the embeddings or {source}/ for the videos")
        return False
    return npy.is_file()


def _from_embeddings(names, target, model_spec, device, params) -> None:
    parts = [embed.load_embeddings(name) for name in names]
    combined = embed.combine_embeddings(parts)
    meta = combined.meta
    if model_spec is not None:

        model = load_model_or_fail(model_spec, device)
        embed.check_made_by(combined, model, model_spec)
        meta.update({key: value for key, value in embed.model_meta(model, model_spec).items() if key != "dim"})
    elif not meta.get("fingerprint"):
        message("index: these embeddings do not say which model made them; 'emoret search' will need --model")
    kinds = {part.meta.get("kind") for part in parts} - {None}
    if kinds == {"texts"}:
        message("index: note: these are caption embeddings, not videos")
    meta["source"] = "embeddings"
    written = store.write_index(target, combined.vectors, combined.records, meta, **params)
    message(f"index: {written['count']} items, dimension {written['dim']} → {target}")


def _from_videos(paths, target, model_spec, device, batch_size, params, rule: str) -> int:
    model = load_model_or_fail(model_spec, device)
    with progress() as bar:
        task = bar.add_task("embedding new videos", total=0)

        def report(failure) -> None:
            message(f"emoret: {failure.record.get('path')}: {failure.reason}")

        result = refresh(
            target, model, model_spec, [Path(p) for p in paths], params, batch_size,
            on_start=lambda n: bar.update(task, total=n),
            on_item=lambda: bar.advance(task),
            on_failure=report,
            rule=rule,
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
