"""Small data for the embed / index / search / eval / tsne tests: a tiny model and a frame store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIDEO_IDS = [f"clip{i}" for i in range(6)]
CAPTIONS = {
    "clip0": ["a happy dog plays in the park", "a dog runs on the grass"],
    "clip1": ["a scary storm over the sea", "dark clouds over the water"],
    "clip2": ["a sad man sits alone", "a man sits on a bench"],
    "clip3": ["children laugh at a party", "kids eat cake at a party"],
    "clip4": ["an angry driver shouts in traffic", "cars wait in traffic"],
    "clip5": ["a cat sleeps on a sofa", "a cat rests at home"],
}
EMOTIONAL = {"a happy dog plays in the park", "a scary storm over the sea", "a sad man sits alone",
             "an angry driver shouts in traffic", "children laugh at a party"}


def caption_records() -> list[dict]:
    return [
        {"video_id": video_id, "caption": caption, "emotion": int(caption in EMOTIONAL)}
        for video_id in VIDEO_IDS
        for caption in CAPTIONS[video_id]
    ]


def all_captions() -> list[str]:
    return [caption for video_id in VIDEO_IDS for caption in CAPTIONS[video_id]] + [
        "a", "an", "the", "dog", "happy", "fear", "joy", "trust", "angry", "sad", "query",
    ]


def build_models(root: Path) -> tuple[Path, Path]:
    """(a tiny CLIP directory, an emoret directory of it with a random emotion table and 4 frames)."""
    from emoret.model import load_model
    from emoret.model.tiny import build_tiny_clip

    base = build_tiny_clip(all_captions(), root / "base", seed=0)
    model = load_model(base, emotion=True, emotion_init="normal", num_frames=4)
    model.save(root / "emo")
    return base, root / "emo"


def build_frames(root: Path, broken: str | None = None) -> Path:
    """A frame store of 6 videos of 3 random 40x40 frames (``broken``: a manifest error)."""
    from emoret.video.frames import save_frames, write_manifest

    rng = np.random.default_rng(0)
    out = root / "frames"
    records = []
    for video_id in VIDEO_IDS:
        record = {"video_id": video_id, "source": f"videos/{video_id}.mp4", "n_frames": 3, "duration": 2.5}
        if video_id == broken:
            record["error"] = "cannot decode"
        else:
            save_frames(out, video_id, rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8))
        records.append(record)
    write_manifest(out, records)
    return out


def write_captions(path: Path, records: list[dict]) -> Path:
    import orjson

    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


class Env:
    """Built once a test session (the ``env`` fixture in conftest.py); tests write their own outputs under tmp_path."""

    def __init__(self, root: Path):
        from emoret.embedding import files as set_files
        from emoret.embedding import runner as embed
        from emoret.embedding import sources
        from emoret.model import load_model

        self.root = root
        self.base, self.model_dir = build_models(root)
        self.frames = build_frames(root)
        self.captions = write_captions(root / "captions.jsonl", caption_records())
        model = load_model(self.model_dir)
        self.fingerprint = model.fingerprint
        items, _ = sources.items_from_frames(self.frames)
        # fp32 named, not left to a default: tests compare with these vectors at 1e-5.
        vectors, records = embed.embed_videos(model, items, precision="fp32")
        meta = set_files.model_meta(model, self.model_dir)
        self.videos = root / "videos"
        set_files.save_embeddings(self.videos, vectors, records, {**meta, "kind": "videos"})
        texts = caption_records()
        text_vectors = embed.embed_texts(model, [r["caption"] for r in texts], embed.text_emotions(texts),
                                         precision="fp32")
        self.texts = root / "texts"
        set_files.save_embeddings(self.texts, text_vectors, texts, {**meta, "kind": "texts"})
        self.model = model
