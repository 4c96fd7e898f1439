"""The public Python API: what the commands do, for a script, a Ray worker or a server.

Import it as ``import emoret`` or ``from emoret import api``. Importing it is cheap: it loads
neither numpy nor torch; each function imports what it runs, and the types and constants
re-exported here (``SearchOptions``, ``Cutting``, ``InputError``...) load on first use.
Each function runs the library code the matching command runs (the command parses
options, calls it and prints); ``search`` is the very call ``emoret search`` makes.

    model = emoret.create_model("openai/clip-vit-base-patch32", emoret.ModelOptions(device="cpu"))
    emoret.embed_videos(model, "openai/clip-vit-base-patch32", ["my-videos/"], out="videos")
    emoret.build_index("my-index", ["videos"])
    index = emoret.open_index("my-index")
    for answer in emoret.search(index, ["a happy dog"]):
        print(answer.records())

Long calls report through optional callbacks: ``say(text)`` (notes a command prints on
stderr), ``on_total(n)`` (steps to come), ``on_step(k)`` (k more done), ``on_failure(failure)``
(a video that cannot be read, left out).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoret.fields import VideoRecord

if TYPE_CHECKING:
    from emoret.atomic import Busy
    from emoret.cluster.embed import embed_on_ray
    from emoret.cluster.feel import feel_on_ray
    from emoret.cluster.jobs import DEFAULT_SHARD_SIZE, RayOptions
    from emoret.embedding.encoder import Encoder, QueryEncoder
    from emoret.embedding.files import names_a_set, not_a_set
    from emoret.embedding.sets import NoVideos, WrittenSet
    from emoret.embedding.sources import VideoFailure, parse_shard
    from emoret.evaluation.evaluate import CannotEvaluate
    from emoret.evaluation.metrics import Report, format_table
    from emoret.evaluation.tsne import CannotPlot, plot_tsne
    from emoret.index.build import Cutting, EmotionTagger, IndexParams, NeedsModel
    from emoret.index.refresh import RefreshResult
    from emoret.index.store import EXACT_MAX_ITEMS, SEARCH_METHODS, Hit, Index, IndexBusy
    from emoret.index.verify import verify_index
    from emoret.model.factory import ModelOptions, create_model
    from emoret.perception.faces import FaceReader, FacesUnavailable, face_reader
    from emoret.query.rerank import emotion_index
    from emoret.query.search import Answer, ModelMismatch, SearchOptions
    from emoret.records import JsonlWriter, dumps, read_captions
    from emoret.report.gallery import play_link, read_hits
    from emoret.serve.run import ServeRefused
    from emoret.text.emotions import EMOTIONS, parse_emotion_names
    from emoret.text.filtering import FilterSummary
    from emoret.train.config import TrainConfig
    from emoret.video.decode import Sampling
    from emoret.video.moments import clock
    from emoret.workflows import extract_frames, gallery_page, train, train_config, train_settings, write_gallery

PathLike = str | os.PathLike[str]
Say = Callable[[str], None]
Count = Callable[[int], None]

# Re-exported names → the module that defines each, imported when the name is first used.
_LAZY = {
    "DEFAULT_SHARD_SIZE": "emoret.cluster.jobs", "RayOptions": "emoret.cluster.jobs",
    "embed_on_ray": "emoret.cluster.embed", "feel_on_ray": "emoret.cluster.feel",
    "Busy": "emoret.atomic", "Encoder": "emoret.embedding.encoder", "QueryEncoder": "emoret.embedding.encoder",
    "names_a_set": "emoret.embedding.files", "not_a_set": "emoret.embedding.files",
    "NoVideos": "emoret.embedding.sets", "ServeRefused": "emoret.serve.run", "WrittenSet": "emoret.embedding.sets",
    "VideoFailure": "emoret.embedding.sources", "parse_shard": "emoret.embedding.sources",
    "CannotEvaluate": "emoret.evaluation.evaluate", "Report": "emoret.evaluation.metrics",
    "format_table": "emoret.evaluation.metrics", "CannotPlot": "emoret.evaluation.tsne",
    "plot_tsne": "emoret.evaluation.tsne", "Cutting": "emoret.index.build", "IndexParams": "emoret.index.build",
    "NeedsModel": "emoret.index.build", "RefreshResult": "emoret.index.refresh",
    "EXACT_MAX_ITEMS": "emoret.index.store", "SEARCH_METHODS": "emoret.index.store", "Index": "emoret.index.store",
    "IndexBusy": "emoret.index.store", "verify_index": "emoret.index.verify",
    "ModelOptions": "emoret.model.factory", "create_model": "emoret.model.factory",
    "FaceReader": "emoret.perception.faces", "FacesUnavailable": "emoret.perception.faces",
    "face_reader": "emoret.perception.faces", "emotion_index": "emoret.query.rerank",
    "Answer": "emoret.query.search", "Hit": "emoret.index.store", "dumps": "emoret.records", "ModelMismatch": "emoret.query.search", "SearchOptions": "emoret.query.search",
    "read_captions": "emoret.records", "JsonlWriter": "emoret.records", "play_link": "emoret.report.gallery", "read_hits": "emoret.report.gallery",
    "EMOTIONS": "emoret.text.emotions", "parse_emotion_names": "emoret.text.emotions",
    "FilterSummary": "emoret.text.filtering", "TrainConfig": "emoret.train.config", "Sampling": "emoret.video.decode",
    "clock": "emoret.video.moments", "extract_frames": "emoret.workflows", "gallery_page": "emoret.workflows",
    "train": "emoret.workflows", "train_config": "emoret.workflows", "train_settings": "emoret.workflows", "write_gallery": "emoret.workflows",
}

__all__ = [  # the functions defined here, and the re-exported names of _LAZY
    "DEFAULT_SHARD_SIZE", "embed_on_ray", "feel_on_ray", "RayOptions",
    "annotate", "Answer", "build_index", "Busy", "CannotEvaluate", "CannotPlot", "check_precision", "clock",
    "create_model", "Cutting", "dumps", "embed_captions", "embed_videos", "emotion_index", "EMOTIONS", "Encoder",
    "evaluate", "evaluate_model", "EXACT_MAX_ITEMS", "extract_frames", "face_reader", "FaceReader",
    "FacesUnavailable", "feel", "filter_captions", "FilterSummary", "format_table", "gallery_page", "Hit", "Index",
    "index_path", "IndexBusy", "IndexParams", "JsonlWriter", "ModelMismatch", "ModelOptions", "names_a_set",
    "NeedsModel", "not_a_set", "NoVideos", "open_index", "parse_emotion_names", "parse_shard", "play_link",
    "plot_tsne", "precision_note", "query_encoder", "QueryEncoder", "read_captions", "read_hits", "refresh_index",
    "RefreshResult", "Report", "Sampling", "search", "SEARCH_METHODS", "SearchOptions", "serve", "ServeRefused", "train", "train_config",
    "train_settings", "TrainConfig", "verify_index", "VideoFailure", "VideoRecord", "writable_index", "write_gallery",
    "write_records", "WrittenSet",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


def quiet(_: str) -> None:
    """A ``say`` that tells nobody."""


def _said(say: Say) -> Callable[[VideoFailure], None]:
    return lambda failure: say(f"emoret: {VideoRecord(failure.record).label}: {failure.reason}")


# --- records ---------------------------------------------------------------------------


def write_records(records: Iterable[dict[str, Any]], output: PathLike | None = None) -> int:
    """JSON lines to ``output`` (atomically) or, None, to stdout; how many. Bad input met while
    ``records`` are read still publishes those before it (as stdout would have shown them)."""
    from emoret.records import JsonlWriter

    with JsonlWriter(output) as writer:
        return writer.write_all(records)


def annotate(captions: PathLike | None = "-", by_video: bool = False, lowercase: bool = False,
             workers: int | None = None) -> Iterator[dict[str, Any]]:
    """The caption records of a JSON array or JSON-lines file (``-``: stdin) with ``sentiment``
    (VADER) and the NRC emotion counts, in input order (``emoret annotate``). ``by_video``:
    one record a video, its captions joined; ``lowercase``: NRC words looked up lowercased;
    ``workers``: processes (default: the machine's cores)."""
    from emoret.devices import available_cpus
    from emoret.text.annotate import annotate_path

    return annotate_path(None if captions is None else str(captions), workers=workers or available_cpus(),
                         by_video=by_video, lowercase=lowercase)


def filter_captions(captions: PathLike | None = "-", threshold: float = 0.6, keywords: str | None = None,
                    use_keywords: bool = True, mode: str = "emotional", seed: int = 0,
                    summary: FilterSummary | None = None) -> Iterable[dict[str, Any]]:
    """Caption records (annotated or not) flagged ``emotion`` 1 (|VADER compound| > ``threshold`` or
    the ``keywords`` regex, default the emotion keyword list) or 0, as ``emoret filter``: ``mode``
    ``emotional`` keeps the 1s, ``neutral`` the 0s, ``all`` every record, ``balance`` the 1s and as
    many 0s drawn with ``seed``. Counts go to ``summary``; a bad regex raises re.error at once."""
    from emoret.records import iter_numbered, source_name
    from emoret.text import emotions, filtering

    summary = summary if summary is not None else filtering.FilterSummary()
    pattern = emotions.keyword_pattern(keywords or emotions.DEFAULT_KEYWORDS) if use_keywords else None
    flagged = filtering.flag_records(iter_numbered(captions), source_name(captions), threshold, pattern, summary)
    if mode == "balance":
        return _later(lambda: filtering.balance(flagged, seed, summary))
    return filtering.select(flagged, mode, summary)


def _later(make: Callable[[], list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    yield from make()  # read when iterated, inside the caller's writer


# --- embedding sets --------------------------------------------------------------------


def check_precision(spec: str) -> None:
    """ValueError for a precision other than auto, fp32, bf16 or int8, or a bad EMORET_CPU_BF16
    or EMORET_CPU_VNNI."""
    from emoret.embedding.precision import PRECISIONS, bf16_override, int8_override

    if spec not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, not {spec!r}")
    bf16_override()
    int8_override()


def precision_note(spec: str, device_type: str, model: Encoder | None = None, kind: str = "videos",
                   say: Say = quiet) -> tuple[str, str]:
    """The precision ``spec`` means on ``device_type``, and why (for auto on a CPU). With
    ``model``: int8 where auto measured it faster and close to fp32, or asked for and made ready."""
    from emoret.embedding.precision import BF16_OVERRIDE, bf16_override, cpu_has_bf16, resolve_precision

    chosen, int8_why = resolve_precision(spec, device_type), ""
    if model is not None:
        from emoret.embedding.int8 import choose_precision

        chosen, int8_why = choose_precision(spec, model, kind, say)
    override = bf16_override()
    if override is not None:
        why = f"{BF16_OVERRIDE}={int(override)}"
    else:
        why = "this CPU has bf16 instructions" if cpu_has_bf16() else "no AMX/AVX-512 BF16 on this CPU"
    return chosen, why + (f"; {int8_why}" if int8_why else "")


def _set_meta(model: Encoder, model_spec: str, precision: str | None, shard: str | None, kind: str,
              say: Say = quiet, **more: Any) -> tuple[dict[str, Any], str, tuple[int, int]]:
    from emoret.embedding.files import model_meta
    from emoret.embedding.int8 import choose_precision
    from emoret.embedding.sources import parse_shard

    # fp16 is what auto gives on a GPU: taken as resolved (choose_precision takes only what a user may ask).
    chosen = precision if precision == "fp16" else choose_precision(precision or "auto", model, kind, say)[0]
    meta = {**model_meta(model, model_spec), "precision": chosen, **({"shard": shard} if shard else {}), **more}
    return meta, chosen, parse_shard(shard)


def embed_captions(model: Encoder, model_spec: str, captions: Sequence[dict[str, Any]], out: PathLike,
                   use_emotion: bool = True, batch_size: int = 64, precision: str | None = None,
                   shard: str | None = None, on_total: Count | None = None, on_step: Count | None = None) -> WrittenSet:
    """Caption records embedded by ``model`` (loaded from ``model_spec``) into the set ``out``
    (OUT.npy + OUT.jsonl + OUT.meta.json), as ``emoret embed --texts``; ``shard`` "I/N": only
    the I-th of N equal parts."""
    from emoret.embedding.sets import caption_set
    from emoret.embedding.sources import shard_bounds

    meta, chosen, part = _set_meta(model, model_spec, precision, shard, "texts")
    if on_total is not None:
        start, stop = shard_bounds(len(captions), part)
        on_total(stop - start)
    return caption_set(model, captions, out, meta, use_emotion, batch_size, part, chosen, on_batch=on_step)


def embed_videos(model: Encoder, model_spec: str, videos: Sequence[PathLike] = (), out: PathLike = "videos",
                 frames: PathLike | None = None, cutting: Cutting | None = None, rule: str = "linspace",
                 batch_size: int = 8, precision: str | None = None, say: Say = quiet, shard: str | None = None,
                 decode_workers: int | None = None, on_total: Count | None = None, on_step: Count | None = None,
                 on_failure: Callable[[VideoFailure], None] | None = None) -> WrittenSet:
    """Video files and folders (or a frame store, ``frames``) embedded by ``model`` into the
    set ``out``, as ``emoret embed``; whole videos, or moments by ``cutting``. A video that
    cannot be read is said (or given to ``on_failure``) and left out (the result's ``failures``);
    :class:`NoVideos` when there is none to embed."""
    from emoret.embedding.sets import NoVideos, video_items, video_set

    meta, chosen, part = _set_meta(model, model_spec, precision, shard, "videos", say, sampling=rule)
    items = video_items(model, [Path(video) for video in videos], frames, rule, cutting, part, say=say)
    if not items:
        raise NoVideos("no videos to embed" + (" in this shard" if part != (0, 1) else ""))
    if on_total is not None:
        on_total(len(items))
    return video_set(model, items, out, meta, batch_size, rule, chosen, 0 if frames is not None else decode_workers,
                     on_item=None if on_step is None else lambda: on_step(1), on_failure=on_failure or _said(say))


# --- indexes and search ----------------------------------------------------------------


def index_path(path: PathLike | None = None) -> Path:
    """The index directory ``path`` names (default ``$EMORET_INDEX``, then ``./emoret-index``;
    a symlink stands for its target)."""
    from emoret.index import store

    return store.resolve_target(path or store.default_index_dir())


def build_index(target: PathLike | None, embeddings: Sequence[PathLike], model_spec: str | None = None,
                params: IndexParams | None = None, emotions: PathLike | None = None, wait: bool = True,
                say: Say = quiet, feel: bool = False, device: str = "auto") -> dict[str, Any]:
    """Index embedding sets (NAME or NAME.npy) into the directory ``target``, as ``emoret
    index NAME...``; ``emotions``: ``emoret feel`` output whose ``video_emotions`` the items
    keep; ``feel``: scene emotions read (through the model) for those still without.
    Published atomically under the index's writer lock; returns the meta written."""
    from emoret.index.build import index_embeddings, locked

    resolved = writable_index(target)
    with locked(resolved, wait, say):
        return index_embeddings(list(embeddings), resolved, model_spec, device, params,
                                _tagger(emotions, say, feel, model_spec, device), say)


def refresh_index(target: PathLike | None, videos: Sequence[PathLike], model: Encoder, model_spec: str,
                  params: IndexParams | None = None, cutting: Cutting | None = None, rule: str = "linspace",
                  emotions: PathLike | None = None, batch_size: int = 8, wait: bool = True,
                  say: Say = quiet, feel: bool = False, on_total: Count | None = None, on_step: Count | None = None,
                  on_failure: Callable[[VideoFailure], None] | None = None) -> RefreshResult:
    """Keep the index ``target`` in step with folders of videos, as ``emoret index --model``:
    embeds only new or changed videos, drops deleted ones, rewrites nothing when nothing changed."""
    from emoret.index.build import index_videos, locked

    resolved = writable_index(target)
    with locked(resolved, wait, say):
        return index_videos(list(videos), resolved, model, model_spec, params, batch_size, rule, cutting,
                            _tagger(emotions, say, feel, model_spec), say, on_start=on_total,
                            on_item=None if on_step is None else lambda: on_step(1),
                            on_failure=on_failure or _said(say))


def writable_index(target: PathLike | None) -> Path:
    """:func:`index_path`, refused (InputError) when it is something else than an index or nothing."""
    from emoret.index import store

    resolved = index_path(target)
    store.refuse_foreign_directory(resolved)
    return resolved


def _tagger(emotions: PathLike | None, say: Say, feel: bool = False, model_spec: str | None = None,
            device: str = "auto") -> EmotionTagger | None:
    from emoret.index.build import EmotionTagger

    if emotions is None and not feel:
        return None
    from emoret.perception.join import read_emotions

    return EmotionTagger(None if emotions is None else read_emotions(emotions), feel, model_spec, device, say)


def open_index(path: PathLike | None = None) -> Index:
    """The index directory ``path`` (default ``$EMORET_INDEX``, then ``./emoret-index``), opened."""
    from emoret.index import store
    from emoret.query.search import index_dir

    return store.open_index(index_dir(path))


def query_encoder(index: Index, model_spec: str | None = None, device: str = "cpu") -> QueryEncoder:
    """What answers queries on ``index``: its numpy query tower (no torch) when it carries one,
    else the model it records (or ``model_spec``); ModelMismatch if that is not its model."""
    from emoret.query.search import query_encoder as encoder_for

    return encoder_for(index, model_spec, device)


def search(index: Index, queries: Sequence[str], encoder: QueryEncoder | None = None,
           options: SearchOptions | None = None) -> list[Answer]:
    """Each query's answer: ``answer.hits`` ranked, ``answer.records()`` the records ``emoret
    search --json`` prints. ``encoder`` defaults to :func:`query_encoder` of the index."""
    from emoret.query.search import SearchOptions, answer

    return answer(index, encoder or query_encoder(index), list(queries), options or SearchOptions())


# --- emotions of videos, evaluation ----------------------------------------------------


def feel(videos: Sequence[PathLike] = (), frames: PathLike | None = None, model: Encoder | None = None,
         faces: bool | FaceReader = True, face_model: PathLike | None = None, face_share: float = 0.5,
         batch_size: int = 8, say: Say = quiet, on_total: Count | None = None, on_step: Count | None = None,
         on_failure: Callable[[VideoFailure], None] | None = None) -> list[dict[str, Any]]:
    """Each readable video's record with ``video_emotions`` (8 NRC emotions + neutral) read from
    its scene (with ``model``) and its faces (``faces``: True, or a :func:`face_reader`;
    ``face_model``: a local ONNX file, else the default, fetched once), as ``emoret feel``;
    :class:`NoVideos` when there is none to read."""
    from emoret.embedding.sets import NoVideos
    from emoret.perception.faces import face_reader
    from emoret.perception.run import feel as read
    from emoret.perception.run import feel_items

    reader = face_reader(face_model) if faces is True else faces or None
    items = feel_items(model, [Path(video) for video in videos], frames, say)
    if not items:
        raise NoVideos("no videos to read")
    if on_total is not None:
        on_total(len(items))
    return read(items, model, reader, face_share, batch_size, on_item=None if on_step is None else lambda: on_step(1),
                on_failure=on_failure or _said(say))


def evaluate(texts: PathLike, videos: PathLike, video_emotions: PathLike | None = None,
             emotion_weight: float | None = None, say: Say = quiet) -> dict[str, Report]:
    """Recall@1/5/10, median and mean rank of caption and video embedding sets, as ``emoret
    eval --texts --videos``: ``all``, and ``emotion`` where the captions carry it."""
    from emoret.evaluation.evaluate import evaluate as compute
    from emoret.evaluation.evaluate import load_pair

    return compute(load_pair(texts, videos), video_emotions, emotion_weight, say)


def evaluate_model(model: Encoder, captions: Sequence[dict[str, Any]], frames: PathLike, use_emotion: bool = True,
                   video_emotions: PathLike | None = None, emotion_weight: float | None = None, say: Say = quiet,
                   on_total: Count | None = None, on_step: Count | None = None) -> dict[str, Report]:
    """:func:`evaluate` of caption records and a frame store embedded by ``model`` (``emoret eval --model``)."""
    from emoret.evaluation.evaluate import embed_pair
    from emoret.evaluation.evaluate import evaluate as compute

    pair = embed_pair(model, captions, frames, use_emotion, on_total=on_total, on_step=on_step, say=say)
    return compute(pair, video_emotions, emotion_weight, say)


# --- serving ------------------------------------------------------------------------------


def serve(index: PathLike | None = None, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          no_token: bool = False, model_spec: str | None = None, device: str = "cpu", say: Say = quiet) -> None:
    """Serve the search page and ``/api/search`` over ``index`` until interrupted (``emoret
    serve``; needs the ``serve`` extra). :class:`ServeRefused` where ``host`` is not loopback and
    neither ``token`` nor ``no_token`` is given, or the port cannot be had."""
    from emoret.serve.run import run_server

    run_server(index, host, port, token, no_token, model_spec, device, say)
