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
    params = {
        "m": m or store.DEFAULT_M,
        "ef_construction": ef_construction or store.DEFAULT_EF_CONSTRUCTION,
        "ef": ef or store.DEFAULT_EF,
    }
    embeddings = [source for source in sources if _is_embeddings(source)]
    if embeddings and len(embeddings) != len(sources):
        fail("give either embeddings or videos, not both")
    if not embeddings:
        _check_video_sources(sources, model_spec)
    if embeddings and sampling is not None:
        fail("--sampling applies to videos; embeddings were sampled when they were made")
    if embeddings and (segment is not None or scenes):
        fail("--segment and --scenes cut videos; embeddings are already cut (use them with extract-frames or embed)")
    if overlap and segment is None:
        fail("--overlap needs --segment")
    if segment is not None and overlap >= segment:
        fail("--overlap must be less than --segment")
    store.refuse_foreign_directory(Path(target))
    emotions = None
    if emotions_file is not None:
        from emoret.retrieval.feel.join import read_emotions

        emotions = read_emotions(emotions_file)
    add_emotions = _emotion_adder(emotions, feel, model_spec, device)

    def waiting() -> None:
        message(f"index: waiting for another run on {target} to finish")

    try:
        with store.writer_lock(target, wait=wait, on_wait=waiting):
            if embeddings:
                _from_embeddings(embeddings, target, model_spec, device, params, add_emotions)
            else:
                failed = _from_videos(sources, target, model_spec, device, batch_size, params,
                                      (sampling or Rule.linspace).value, dict(segment=segment, overlap=overlap, scenes=scenes),
                                      add_emotions)
                if failed:
                    exit_with(EXIT_FAILED)
    except store.IndexBusy as err:
        fail(str(err), EXIT_FAILED)


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
    return npy.is_file()


def _check_video_sources(sources: List[str], model_spec: Optional[str]) -> None:
    """A missing path is named as missing, before any word about --model."""
    for source in sources:
        if not Path(source).exists():
            fail(f"{source}: no such file or directory")
    if model_spec is None:
        files = [source for source in sources if Path(source).is_file()]
        if files:
            fail(f"{embed.not_a_set(files[0])}; to index it as a video, give --model")
        fail("indexing videos needs --model (or give embeddings made by 'emoret embed')")


def _from_embeddings(names, target, model_spec, device, params, add_emotions) -> None:
    parts = [embed.load_embeddings(name) for name in names]
    combined = embed.combine_embeddings(parts)
    meta = combined.meta
    model = None
    if model_spec is not None:
        model = load_model_or_fail(model_spec, device)
        embed.check_made_by(combined, model, model_spec)
        meta.update({key: value for key, value in embed.model_meta(model, model_spec).items() if key != "dim"})
    elif not meta.get("fingerprint"):
        message("index: these embeddings do not say which model made them; 'emoret search' will need --model")
    else:
        model = _recorded_model(meta)
    kinds = {part.meta.get("kind") for part in parts} - {None}
    if kinds == {"texts"}:
        message("index: note: these are caption embeddings, not videos")
    meta["source"] = "embeddings"
    add_emotions(combined.vectors, combined.records, meta.get("model"), model)
    written = store.write_index(target, combined.vectors, combined.records, meta,
                                extras=_query_export(model), **params)
    message(f"index: {written['count']} items, dimension {written['dim']} → {target}")


def _from_videos(paths, target, model_spec, device, batch_size, params, rule: str, cutting: dict, add_emotions) -> int:
    from emoret_cli.modelopt import load_model_or_fail

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
            **cutting,
            before_write=lambda vectors, records: add_emotions(vectors, records, model_spec, model),
            extras=_query_export(model),
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


def _emotion_adder(emotions, feel: bool, model_spec, device):
    """A function (vectors, records, model spec[, model]) that puts video_emotions on the records."""

    def add(vectors, records, spec, model=None) -> None:
        if emotions is not None:
            from emoret.retrieval.feel.join import attach

            missing = attach(records, emotions)
            if missing:
                message(f"index: {missing} of {len(records)} videos have no record in --emotions")
        if feel:
            from emoret.retrieval.feel.join import attach_scene

            if model is None:
                if not (model_spec or spec):
                    fail("--feel needs the model: pass --model")
                from emoret_cli.modelopt import load_model_or_fail

                model = load_model_or_fail(model_spec or spec, device)
            added = attach_scene(records, vectors, model)
            message(f"index: scene emotions read for {added} videos")

    return add


def _query_export(model):
    """The step that lets 'emoret search' answer without torch (see emoret.retrieval.query_export)."""
    if model is None:
        return None
    from emoret.retrieval.query_export import exporter

    return exporter(model, lambda why: message(f"index: searches will load torch: no numpy query encoder ({why})"))


def _recorded_model(meta):
    """The model the embeddings record, loaded for the query export; None (said why) if it cannot be."""
    from emoret.errors import InputError
    from emoret.model import load_model

    spec = str(meta.get("model") or "")
    if not spec:
        return None
    try:
        model = load_model(spec)
    except (InputError, OSError, ValueError) as err:
        message(f"index: searches will load torch: cannot load {spec} for the query export ({err})")
        return None
    if model.fingerprint != meta.get("fingerprint"):
        message(f"index: searches will load torch: {spec} has changed since these embeddings were made")
        return None
    return model
