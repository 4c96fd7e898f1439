"""Building an index: from embedding sets, or kept in step with folders of videos.

What ``emoret index`` does, for any caller (a command, a Ray worker, a server): the model
the embeddings record, the emotions put on the records, the query export that lets a
search answer without torch, the writer lock. Notes for a person (why searches will load
torch, how many videos had emotions) go to ``say``; errors are raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emoret.embedding import files as set_files
from emoret.embedding import sources
from emoret.embedding.encoder import Encoder
from emoret.errors import InputError
from emoret.index import store
from emoret.index.refresh import RefreshResult, refresh
from emoret.video.sampling import DEFAULT_RULE

if TYPE_CHECKING:
    from emoret.model.emoret_model import EmoretModel

Say = Callable[[str], None]
VideoEmotions = dict[tuple[str, Any, Any], dict[str, Any]]  # emoret.perception.join.read_emotions


def quiet(_: str) -> None:
    """A ``say`` that tells nobody."""


class NeedsModel(Exception):
    """Reading scene emotions needs a model, and none was given or recorded."""


@contextmanager
def locked(target: str | os.PathLike[str], wait: bool = True, say: Say = quiet) -> Iterator[None]:
    """The index's writer lock (:class:`emoret.index.store.IndexBusy` at once without ``wait``)."""
    with store.writer_lock(target, wait=wait, on_wait=lambda: say(f"index: waiting for another run on {target} to finish")):
        yield


@dataclass(frozen=True)
class IndexParams:
    """hnswlib's build settings, and the search breadth recorded in the index."""

    m: int = store.DEFAULT_M
    ef_construction: int = store.DEFAULT_EF_CONSTRUCTION
    ef: int = store.DEFAULT_EF

    def as_dict(self) -> dict[str, int]:
        return {"m": self.m, "ef_construction": self.ef_construction, "ef": self.ef}


@dataclass
class EmotionTagger:
    """Puts ``video_emotions`` on records before they are indexed: joined from ``emotions``
    (``emoret feel`` output, by video), and with ``feel``, read from the scene through the
    model for the videos still without them. ``model_spec``/``device``: the model to load
    for ``feel`` when the caller has none."""

    emotions: VideoEmotions | None = None
    feel: bool = False
    model_spec: str | None = None
    device: str = "auto"
    say: Say = field(default=quiet)

    def __call__(self, vectors: np.ndarray, records: list[dict[str, Any]], spec: str | None,
                 model: Encoder | None = None) -> None:
        if self.emotions is not None:
            from emoret.perception.join import attach

            missing = attach(records, self.emotions)
            if missing:
                self.say(f"index: {missing} of {len(records)} videos have no record in --emotions")
        if self.feel:
            from emoret.perception.join import attach_scene

            if model is None:
                if not (self.model_spec or spec):
                    raise NeedsModel("reading scene emotions needs the model")
                from emoret.model.factory import ModelOptions, create_model

                model = create_model(str(self.model_spec or spec), ModelOptions(device=self.device))
            added = attach_scene(records, vectors, model)
            self.say(f"index: scene emotions read for {added} videos")


def query_export(model: Encoder | None, say: Say = quiet) -> Callable[[Path], None] | None:
    """The step that lets a search answer without torch (see emoret.query.export)."""
    if model is None:
        return None
    from emoret.query.export import exporter
    from emoret.query.text_onnx import int8_exporter

    export = exporter(model, lambda why: say(f"index: searches will load torch: no numpy query encoder ({why})"))
    export_int8 = int8_exporter(say)

    def run(directory: Path) -> None:
        export(directory)
        export_int8(directory)

    return run


def recorded_model(meta: dict[str, Any], say: Say = quiet) -> EmoretModel | None:
    """The model embeddings record, loaded for the query export; None (said why) if it cannot be."""
    from emoret.model import load_model

    spec = str(meta.get("model") or "")
    if not spec:
        return None
    try:
        model = load_model(spec)
    except (InputError, OSError, ValueError) as err:
        say(f"index: searches will load torch: cannot load {spec} for the query export ({err})")
        return None
    if model.fingerprint != meta.get("fingerprint"):
        say(f"index: searches will load torch: {spec} has changed since these embeddings were made")
        return None
    return model


def index_embeddings(names: Sequence[str | os.PathLike[str]], target: str | os.PathLike[str],
                     model_spec: str | None = None, device: str = "auto", params: IndexParams | None = None,
                     tagger: EmotionTagger | None = None, say: Say = quiet) -> dict[str, Any]:
    """Index the embedding sets ``names`` (NAME or NAME.npy) into ``target``; the meta written.

    With ``model_spec``, the sets must have been made by that model; else the model they
    record is loaded (when it can be) only to export the query tower. The caller holds
    :func:`emoret.index.store.writer_lock` (:func:`locked` takes it).
    """
    parts = [set_files.load_embeddings(name) for name in names]
    combined = set_files.combine_embeddings(parts)
    meta = combined.meta
    model: EmoretModel | None = None
    if model_spec is not None:
        from emoret.model.factory import ModelOptions, create_model

        model = create_model(model_spec, ModelOptions(device=device))
        set_files.check_made_by(combined, model, model_spec)
        meta.update({key: value for key, value in set_files.model_meta(model, model_spec).items() if key != "dim"})
    elif not meta.get("fingerprint"):
        say("index: these embeddings do not say which model made them; 'emoret search' will need --model")
    else:
        model = recorded_model(meta, say)
    kinds = {part.meta.get("kind") for part in parts} - {None}
    if kinds == {"texts"}:
        say("index: note: these are caption embeddings, not videos")
    meta["source"] = "embeddings"
    if tagger is not None:
        tagger(combined.vectors, combined.records, meta.get("model"), model)
    return store.write_index(target, combined.vectors, combined.records, meta,
                             extras=query_export(model, say), **(params or IndexParams()).as_dict())


@dataclass(frozen=True)
class Cutting:
    """Videos whole (the default), or cut into moments: ``segment`` seconds, windows
    ``overlap`` seconds apart from overlapping, or ``scenes`` (shots)."""

    segment: float | None = None
    overlap: float = 0.0
    scenes: bool = False


def index_videos(paths: Sequence[str | os.PathLike[str]], target: str | os.PathLike[str], model: Encoder,
                 model_spec: str, params: IndexParams | None = None, batch_size: int = 8,
                 rule: str = DEFAULT_RULE, cutting: Cutting | None = None, tagger: EmotionTagger | None = None,
                 say: Say = quiet, on_start: Callable[[int], None] | None = None,
                 on_item: Callable[[], None] | None = None,
                 on_failure: Callable[[sources.VideoFailure], None] | None = None) -> RefreshResult:
    """Bring the index at ``target`` in step with the videos under ``paths`` (see
    :func:`emoret.index.refresh.refresh`), the query tower exported beside it."""
    cutting = cutting or Cutting()

    def before_write(vectors: np.ndarray, records: list[dict[str, Any]]) -> None:
        if tagger is not None:
            tagger(vectors, records, model_spec, model)

    return refresh(
        target, model, model_spec, [Path(p) for p in paths], (params or IndexParams()).as_dict(), batch_size,
        on_start=on_start, on_item=on_item, on_failure=on_failure, rule=rule,
        segment=cutting.segment, overlap=cutting.overlap, scenes=cutting.scenes,
        before_write=before_write, extras=query_export(model, say),
    )
