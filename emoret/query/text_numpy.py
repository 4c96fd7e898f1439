"""The CLIP or SigLIP text tower (with the emotion bias) in numpy, for queries without torch.

``emoret index`` exports what the tower needs into the index directory (see
query_export.py): ``text_tower.safetensors`` (the text weights, float32),
``text_tower.json`` (shape, activation, pooling, the model's fingerprint) and
``tokenizer.json``. Loading them takes numpy, safetensors and tokenizers only, a
fraction of a second where torch + transformers take seconds.

The arithmetic is transformers' CLIPTextTransformer: token + position embedding (+ the
emotion bias), pre-norm layers with causal attention, a final layer norm, the
end-of-text token pooled, the text projection, then L2 normalisation. SigLIP's text model
(the export's config says ``"pooling": "last"``) differs in three places: the tokens are
padded to a fixed length (``pad_to``, on ``pad_side``), attention is full (padding keys
masked only where the model is given the mask, ``text_mask``), and the last position is
pooled, through a projection with a bias.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from emoret.index.check import Background

WEIGHTS_FILE = "text_tower.safetensors"
CONFIG_FILE = "text_tower.json"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_FORMAT = 1
# Each layer's tensors in the order _layer unpacks them; matrices stored as [in, out]
# (q, k and v side by side), so loading is a memory map and no copy.
LAYER_TENSORS = ("ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "out.weight", "out.bias",
                 "ln2.weight", "ln2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}
ACTIVATIONS = ("quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu")


def exported(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a complete export (its config is written last)."""
    path = Path(directory)
    return all((path / name).is_file() for name in (WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE))


def read_config(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The export's config, or None when absent, unreadable or of another format."""
    try:
        config = json.loads((Path(directory) / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("format") != EXPORT_FORMAT:
        return None
    return config


def map_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only views of one memory map.

    Pages are read when touched: a query reads only its tokens' rows of the embedding
    table. (safetensors' own numpy loader reads and copies the whole file.)
    """
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    data = np.asarray(np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size))
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = data[begin:end].view(_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and scipy costs a second to import.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "quick_gelu":
        return x / (1.0 + np.exp(-1.702 * x))
    if name == "gelu":
        return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    if name == "relu":
        return np.maximum(x, 0.0)
    raise ValueError(f"unsupported activation {name!r}")


def activation_inplace(name: str, x: np.ndarray) -> np.ndarray:
    """``activation(name, x)``, overwriting ``x`` where it can (quick_gelu: fewer passes over memory)."""
    if name != "quick_gelu":
        return activation(name, x)
    gate = np.multiply(x, np.float32(-1.702))
    np.exp(gate, out=gate)
    gate += 1.0
    np.divide(x, gate, out=x)
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


class NumpyTextEncoder:
    """Embeds queries like ``EmoretModel.encode_text``, from an exported directory."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], tokenizer: Any):
        self.config = config
        self.tokenizer = tokenizer
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.act = str(config["hidden_act"])
        self.eos_id = int(config["eos_token_id"])
        self.embed_dim = int(config["projection_dim"])
        self.fingerprint = str(config.get("fingerprint") or "")
        self.max_positions = int(config["max_position_embeddings"])
        # SigLIP: fixed-length padding, full attention, the last position pooled (CLIP: none, causal, EOS).
        self.pad_to = int(config.get("pad_to", 0))
        self.pool_last = config.get("pooling", "eos") == "last"
        self.text_mask = bool(config.get("text_mask", False))
        w = weights
        self.token_embedding = w["token_embedding"]
        self.position_embedding = w["position_embedding"]
        self.emotion_table = w.get("emotion_table")
        self.layers = [
            tuple(w[f"layers.{i}.{name}"] for name in LAYER_TENSORS) for i in range(int(config["num_hidden_layers"]))
        ]
        self.final_norm = (w["final_norm.weight"], w["final_norm.bias"])
        self.projection = w["projection"]
        self.projection_bias = w.get("projection_bias")
        activation(self.act, np.zeros(1, np.float32))  # an unknown activation fails at load, not at a query

    @classmethod
    def load(cls, directory: str | os.PathLike, before_weights: Callable[[], None] | None = None) -> NumpyTextEncoder:
        """The encoder of an export; ``before_weights()`` runs after the tokenizer is loaded,
        before the weights are mapped (the wait for their check)."""
        from tokenizers import Tokenizer

        path = Path(directory)
        config = read_config(path)
        if config is None:
            raise ValueError(f"{path}: no text tower export of format {EXPORT_FORMAT}")
        tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(config["max_position_embeddings"]))
        if config.get("pad_to"):
            pad_id = int(config["pad_token_id"])
            tokenizer.enable_padding(direction=str(config.get("pad_side", "right")), pad_id=pad_id,
                                     pad_token=tokenizer.id_to_token(pad_id) or "", length=int(config["pad_to"]))
        if before_weights is not None:
            before_weights()
        return cls(map_safetensors(path / WEIGHTS_FILE), config, tokenizer)

    # --- encoding ------------------------------------------------------------------------
    @property
    def batch_independent(self) -> bool:
        """Whether a query's vector is the same bits whatever it is encoded with (CLIP's packed
        path: tests/test_query_numpy.py checks it), so that a kept vector may stand for a new one."""
        return not self.pool_last

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def emotion_bias(self, emotions: Sequence[Sequence[float]] | None, count: int) -> np.ndarray | None:
        """[B, hidden]: the mean of the rows of the emotions present, as EmotionText adds."""
        if self.emotion_table is None or emotions is None:
            return None
        present = (np.asarray(emotions, dtype=np.float32).reshape(count, -1) > 0).astype(np.float32)
        total = _rows_times(present, self.emotion_table)
        return total / np.maximum(present.sum(axis=1, keepdims=True), 1.0)

    def encode_queries(self, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None = None) -> np.ndarray:
        """L2-normalised float32 [B, D], as ``embed_texts(model, texts, emotions)``.

        The texts' tokens are packed end to end (no padding) for the projections and MLPs,
        which are nearly all the arithmetic; only attention is done per text.
        """
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        if self.pool_last:
            return unit_rows(self._encode_fixed_length(texts, emotions))
        packing, x, pooled = self.packed_input(texts, emotions)
        for layer in self.layers:
            x = self._layer(x, layer, packing)
        return unit_rows(_rows_times(_layer_norm(x[pooled], *self.final_norm, self.eps), self.projection))

    def packed_input(self, texts: Sequence[str],
                     emotions: Sequence[Sequence[float]] | None) -> tuple[Packing, np.ndarray, np.ndarray]:
        """The texts' tokens packed end to end: their Packing, the first layer's input [tokens, width]
        (token and position embeddings, plus each text's emotion bias) and the packed row each text
        is pooled from. The int8 tower (text_onnx.py) starts from the same."""
        ids = self.token_ids(texts)
        packing = Packing([len(row) for row in ids])
        x = self.token_embedding[np.concatenate(ids)] + self.position_embedding[packing.positions]
        bias = self.emotion_bias(emotions, len(ids))
        if bias is not None:
            x += bias[packing.texts]
        return packing, x, packing.starts + self._pool_positions(ids)

    def _encode_fixed_length(self, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None) -> np.ndarray:
        """SigLIP's text model: [B, L] padded tokens, full attention, the last position through the head."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([encoding.ids for encoding in encodings])
        count, length = ids.shape
        x = self.token_embedding[ids] + self.position_embedding[:length]
        bias = self.emotion_bias(emotions, count)
        if bias is not None:
            x += bias[:, None, :]
        keys = np.array([encoding.attention_mask for encoding in encodings]) if self.text_mask else None
        attention = FullAttention(count, length, keys)
        x = x.reshape(count * length, -1)
        for layer in self.layers:
            x = self._layer(x, layer, attention)
        last = x.reshape(count, length, -1)[:, -1]
        features = _rows_times(_layer_norm(last, *self.final_norm, self.eps), self.projection)
        return features if self.projection_bias is None else features + self.projection_bias

    def _pool_positions(self, ids: list[list[int]]) -> np.ndarray:
        if self.eos_id == 2:  # transformers' legacy rule for old CLIP configs: the highest id
            return np.array([int(np.argmax(row)) for row in ids])
        out = []
        for row in ids:
            try:
                out.append(row.index(self.eos_id))
            except ValueError:
                out.append(0)  # transformers' argmax over an all-false mask
        return np.array(out)

    def _layer(self, x: np.ndarray, layer: tuple, packing: Packing | FullAttention) -> np.ndarray:
        ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b = layer
        h = _layer_norm(x, ln1_w, ln1_b, self.eps)
        qkv = h @ qkv_w
        qkv += qkv_b
        attended = packing.attend(qkv, self.heads)
        x = x + attended @ out_w
        x += out_b
        h = _layer_norm(x, ln2_w, ln2_b, self.eps) @ fc1_w
        h += fc1_b
        h = activation_inplace(self.act, h) @ fc2_w
        h += fc2_b
        x += h
        return x


class Packing:
    """Where each text's tokens lie in the packed [tokens, width] array, and attention over them.

    Attention is causal and a text never attends to another: the packed q, k, v are laid
    out as one zero-padded [texts, length] block for one batched product. Padding sits
    after each text's end, so causality alone keeps it out of every real token's view.
    """

    def __init__(self, lengths: Sequence[int]):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.texts = np.repeat(np.arange(len(self.lengths)), self.lengths)
        self.positions = np.arange(int(self.lengths.sum())) - np.repeat(self.starts, self.lengths)
        self.length = int(self.lengths.max())
        self.causal = np.triu(np.full((self.length, self.length), -np.inf, dtype=np.float32), k=1)

    def attend(self, qkv: np.ndarray, heads: int) -> np.ndarray:
        """Multi-head causal attention of packed [tokens, 3·width] q|k|v → [tokens, width].

        Texts of one length are attended as one [texts, length] block, with no padding: a
        text's sums then run over its own tokens in the same order whatever it is batched
        with, so a query's vector does not depend on the other queries (``search -``, the
        server's batches); padding changed their last bits."""
        if len(self.lengths) == 1:
            return _attention(qkv[None], heads, self.causal)[0]
        out = np.empty((len(qkv), qkv.shape[1] // 3), dtype=qkv.dtype)
        for length in np.unique(self.lengths):
            tokens = self._tokens_of_length(int(length))
            block = qkv[tokens.ravel()].reshape(*tokens.shape, -1)
            out[tokens.ravel()] = _attention(block, heads, self.causal[:length, :length]).reshape(tokens.size, -1)
        return out

    def _tokens_of_length(self, length: int) -> np.ndarray:
        """[texts, length] packed rows of the texts of ``length`` tokens."""
        starts = self.starts[self.lengths == length]
        return starts[:, None] + np.arange(length)


class FullAttention:
    """Attention over [texts, length] fixed-length rows, every position seeing every other
    (SigLIP's text model); with ``keys`` [texts, length] (1: a token, 0: padding), padding
    is no key, as transformers' bidirectional mask makes it."""

    def __init__(self, count: int, length: int, keys: np.ndarray | None = None):
        self.count, self.length = count, length
        self.mask = np.zeros((count, 1, 1, length), np.float32)
        # A text of padding alone (an empty one, where the tokenizer adds no end token) has
        # no key: torch's attention gives it zeros, as this does (and no NaN on the way).
        self.empty = np.zeros(count, bool)
        if keys is not None:
            self.mask[keys[:, None, None, :] == 0] = np.finfo(np.float32).min
            self.empty = np.asarray(keys.sum(axis=1) == 0)

    def attend(self, qkv: np.ndarray, heads: int) -> np.ndarray:
        """[texts·length, 3·width] q|k|v → [texts·length, width]."""
        width = qkv.shape[1] // 3
        out = _attention(qkv.reshape(self.count, self.length, 3 * width), heads, self.mask)
        out[self.empty] = 0.0
        return out.reshape(self.count * self.length, width)


def _attention(block: np.ndarray, heads: int, mask: np.ndarray) -> np.ndarray:
    """Multi-head attention of [texts, length, 3·width] q|k|v with an additive ``mask`` → [texts, length, width]."""
    count, length, triple = block.shape
    width = triple // 3
    head = width // heads
    split = block.reshape(count, length, 3, heads, head)
    q, k, v = (split[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(head**-0.5) + mask
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    return (scores @ v).transpose(0, 2, 1, 3).reshape(count, length, width)


def _rows_times(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix`` one row at a time: BLAS picks its kernel by the number of rows (a few
    rows take other kernels, whose last bits differ), and a query's vector must be the one it
    gets alone whatever it is batched with (``search -``, the server's batches). These
    products are a text's single row: a matrix-vector product each costs next to nothing."""
    out = np.empty((len(rows), matrix.shape[1]), dtype=np.result_type(rows, matrix))
    for number, row in enumerate(rows):
        out[number] = row @ matrix
    return out


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1, as float32 (a zero row stays zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


def for_index(directory: str | os.PathLike, fingerprint: str | None,
              meta: dict[str, Any] | None = None) -> NumpyTextEncoder | None:
    """The export in an index directory when it is of the index's model, else None.

    With the index's ``meta`` (which lists its files' digests), the export's files are
    checked first, the weights by their block sums: a damaged file raises
    :class:`emoret.index.check.IndexDamaged` instead of answering wrongly.
    """
    weights_check = None if meta is None else check_export(Path(directory), meta)
    config = read_config(directory)
    if config is None or not exported(directory) or not fingerprint or config.get("fingerprint") != fingerprint:
        if weights_check is not None:
            weights_check.join()
        return None
    try:
        encoder = NumpyTextEncoder.load(directory, None if weights_check is None else weights_check.join)
    except Exception as err:  # noqa: BLE001 - a damaged export (tokenizers raises plain Exception): torch still answers
        from emoret.index.check import IndexDamaged

        if isinstance(err, IndexDamaged):
            raise
        return None
    return encoder


def check_export(directory: Path, meta: dict[str, Any]) -> Background | None:
    """The export's files against the digests the index's meta.json lists (nothing where it lists
    none): the small ones now, the weights on another thread, returned (``join()`` it before
    mapping them; None when there is nothing to wait for)."""
    from emoret.index import check as index_check

    if not index_check.has_digests(meta):
        return None
    for name in (CONFIG_FILE, TOKENIZER_FILE):
        index_check.check_sha256(directory, meta, name)
    if index_check.listed(meta, WEIGHTS_FILE) is None:
        index_check.check_size(directory, meta, WEIGHTS_FILE)  # refuses one that is there but not listed
        return None
    return index_check.Background(index_check.check_block_sums, directory, meta, WEIGHTS_FILE)
