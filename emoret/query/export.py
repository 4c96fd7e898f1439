"""Export a model's text tower for numpy (text_numpy.py), checked against torch.

Written beside an index when it is built, so that ``emoret search`` can answer without
importing torch or transformers. The export is checked on probe queries (with and
without emotions, a long one that gets truncated): the numpy tokens must equal the
model's, and each embedding must lie within ``MIN_COSINE`` of torch's. A model that
fails the check gets no export, and search uses torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from emoret.atomic import atomic_path, write_bytes_atomic
from emoret.query import text_numpy
from emoret.query.text_numpy import (
    CONFIG_FILE,
    EXPORT_FORMAT,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
)

MIN_COSINE = 0.9999

PROBES = (
    "my daughter laughing at her birthday party",
    "a dog runs on the grass",
    "A scary storm over the sea, at night!",
    "two men argue loudly in a crowded kitchen; one of them storms out",
    "Ünïcödé, émojis 😀 and numbers 12345",
    "",
    " ".join(["a happy child plays with a red ball in the park"] * 12),  # past 77 (SigLIP: 64) tokens: truncated
)
EMOTION_PROBES: tuple[list[int] | None, ...] = (
    None,
    [0] * 8,
    [1, 0, 0, 0, 0, 0, 0, 0],
    [0, 2, 1, 0, 0, 0, 3, 0],
    [1] * 8,
)


class NotExportable(Exception):
    """The model's text tower cannot be run by text_numpy (the reason is the message)."""


def export_text_tower(model: Any, directory: str | os.PathLike) -> float:
    """Write the export into ``directory`` and check it; returns the lowest cosine to torch.

    Raises NotExportable (leaving no export behind) when the model cannot be exported or
    the check fails.
    """
    out = Path(directory)
    try:
        _write(model, out)
        return verify(model, out)
    except NotExportable:
        remove_export(out)
        raise


def remove_export(directory: Path) -> None:
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        (directory / name).unlink(missing_ok=True)


def _write(model: Any, out: Path) -> None:
    from safetensors.numpy import save_file

    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise NotExportable("the tokenizer is not a fast (tokenizers) one")
    text_config = model.clip.config.text_config
    act = str(text_config.hidden_act)
    if act not in text_numpy.ACTIVATIONS:
        raise NotExportable(f"activation {act!r} is not implemented in numpy")
    family = model.family
    state = {name: tensor.detach().float().cpu().numpy() for name, tensor in model.clip.state_dict().items()
             if name.startswith(("text_model.", f"{family.text_projection}."))}
    config = {
        "format": EXPORT_FORMAT,
        "fingerprint": model.fingerprint,
        "num_hidden_layers": int(text_config.num_hidden_layers),
        "num_attention_heads": int(text_config.num_attention_heads),
        "layer_norm_eps": float(text_config.layer_norm_eps),
        "hidden_act": act,
        "pad_token_id": int(model.tokenizer.pad_token_id or 0),
        "max_position_embeddings": int(text_config.max_position_embeddings),
        "projection_dim": int(model.embed_dim),
        **_text_rules(model),
    }
    tensors = _compute_layout(state, config["num_hidden_layers"], family.text_projection)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(tensors, tmp, metadata={"format": "np", "emoret": "text_tower"})
    write_bytes_atomic(out / TOKENIZER_FILE, backend.to_str().encode())
    # The config last: a directory with it holds a complete export.
    write_bytes_atomic(out / CONFIG_FILE, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def _text_rules(model: Any) -> dict[str, Any]:
    """How the family pools, attends and pads (text_numpy's defaults are CLIP's)."""
    family = model.family
    if family.text_pooling == "eos":
        return {"eos_token_id": int(model.clip.text_model.eos_token_id)}
    return {
        "eos_token_id": int(model.tokenizer.eos_token_id or 0),
        "pooling": family.text_pooling,
        "attention": family.text_attention,
        "pad_to": int(model.clip.config.text_config.max_position_embeddings),
        "pad_side": str(model.tokenizer.padding_side),
        "text_mask": bool(model.text_mask),
    }


def _compute_layout(state: dict[str, np.ndarray], layers: int, projection: str) -> dict[str, np.ndarray]:
    """transformers' tensors → text_numpy's: matrices as [in, out], q k v side by side."""
    def c(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=np.float32)

    out = {
        "token_embedding": c(state["text_model.embeddings.token_embedding.weight"]),
        "position_embedding": c(state["text_model.embeddings.position_embedding.weight"]),
        "final_norm.weight": c(state["text_model.final_layer_norm.weight"]),
        "final_norm.bias": c(state["text_model.final_layer_norm.bias"]),
        "projection": c(state[f"{projection}.weight"].T),
    }
    if f"{projection}.bias" in state:  # SigLIP's text head has one, CLIP's projection not
        out["projection_bias"] = c(state[f"{projection}.bias"])
    table = state.get("text_model.embeddings.emotion_embedding.weight")
    if table is not None:
        out["emotion_table"] = c(table)
    for i in range(layers):
        p = f"text_model.encoder.layers.{i}."
        out.update({
            f"layers.{i}.ln1.weight": c(state[p + "layer_norm1.weight"]),
            f"layers.{i}.ln1.bias": c(state[p + "layer_norm1.bias"]),
            f"layers.{i}.qkv.weight": c(np.concatenate([state[p + f"self_attn.{n}_proj.weight"] for n in "qkv"]).T),
            f"layers.{i}.qkv.bias": c(np.concatenate([state[p + f"self_attn.{n}_proj.bias"] for n in "qkv"])),
            f"layers.{i}.out.weight": c(state[p + "self_attn.out_proj.weight"].T),
            f"layers.{i}.out.bias": c(state[p + "self_attn.out_proj.bias"]),
            f"layers.{i}.ln2.weight": c(state[p + "layer_norm2.weight"]),
            f"layers.{i}.ln2.bias": c(state[p + "layer_norm2.bias"]),
            f"layers.{i}.fc1.weight": c(state[p + "mlp.fc1.weight"].T),
            f"layers.{i}.fc1.bias": c(state[p + "mlp.fc1.bias"]),
            f"layers.{i}.fc2.weight": c(state[p + "mlp.fc2.weight"].T),
            f"layers.{i}.fc2.bias": c(state[p + "mlp.fc2.bias"]),
        })
    return out


def verify(model: Any, directory: Path) -> float:
    """The lowest cosine between numpy and torch over the probes; NotExportable below MIN_COSINE."""
    import torch

    encoder = text_numpy.NumpyTextEncoder.load(directory)
    texts = list(PROBES)
    expected = model.tokenize(texts)
    for row, ids in enumerate(encoder.token_ids(texts)):
        # Padded to a fixed length (SigLIP): the whole row; else the tokens before the padding.
        length = len(ids) if encoder.pad_to else int(expected["attention_mask"][row].sum())
        if ids != expected["input_ids"][row][:length].tolist():
            raise NotExportable(f"the tokenizers library tokenizes {texts[row]!r} differently from the model")
    worst = 1.0
    for emotions in EMOTION_PROBES:
        rows = None if emotions is None else [emotions] * len(texts)
        ours = encoder.encode_queries(texts, rows)
        with torch.inference_mode():  # fp32, whatever the device: the reference, not a fast path
            theirs = model.encode_text(texts, None if rows is None else torch.tensor(rows)).float().cpu().numpy()
        cosines = np.sum(ours * theirs, axis=1)
        if not np.all(np.isfinite(cosines)):  # min() would pass a NaN over
            raise NotExportable("numpy and torch disagree (an embedding that is not finite)")
        worst = min(worst, float(np.min(cosines)))
    if not worst >= MIN_COSINE:
        raise NotExportable(f"numpy and torch disagree (cosine {worst:.6f} < {MIN_COSINE})")
    return worst


def exporter(model: Any, on_skip: Callable[[str], None] | None = None) -> Callable[[Path], None]:
    """An ``extras`` step for ``write_index``: export, or report why not and go on."""

    def run(directory: Path) -> None:
        try:
            export_text_tower(model, directory)
        except NotExportable as err:
            if on_skip is not None:
                on_skip(str(err))

    return run
