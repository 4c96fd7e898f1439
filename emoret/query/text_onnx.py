"""The text tower in int8 on ONNX Runtime, for queries and caption embeddings on a CPU with VNNI.

Built from the numpy export (text_numpy.py: the same tensors, the same arithmetic): the
transformer layers, the final norm and the projection become one ONNX graph whose
matrix products ONNX Runtime's dynamic quantization turns into int8 ones (weights int8
per output channel, activations quantized on the fly). Token and position embeddings,
the emotion bias and the tokenizer stay in numpy, read from the export's memory map as
the numpy tower reads them, so the int8 file holds the layers only.

Packed tokens as in text_numpy: the projections and MLPs run on [tokens, width]; only
attention gathers each text's tokens into a zero-padded [texts, length] block (causal,
so padding after a text's end never reaches its tokens).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoret.query.text_numpy import NumpyTextEncoder, Packing, unit_rows

INT8_FILE = "text_tower.int8.onnx"
OPSET = 17
# The graph's inputs, in the order encode_queries feeds them.
INPUTS = ("hidden", "block", "unblock", "causal", "pooled")


class GraphBuilder:
    """Nodes and initializers of one ONNX graph, named in order."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def constant(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        array = np.asarray(array)  # (ascontiguousarray would make a scalar 1-d)
        self.initializers.append(numpy_helper.from_array(array if array.flags.c_contiguous else array.copy(), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        from onnx import helper

        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attributes))
        return out


def build_graph(encoder: NumpyTextEncoder) -> Any:
    """The fp32 ONNX model of ``encoder``'s layers, final norm and projection."""
    from onnx import TensorProto, helper

    g = GraphBuilder()
    width = int(encoder.final_norm[0].shape[0])
    shape = g.constant("shape_heads", np.array([0, 0, 3, encoder.heads, width // encoder.heads], np.int64))
    flat = g.constant("shape_flat", np.array([-1, width], np.int64))
    scale = g.constant("scale", np.array(float(width // encoder.heads) ** -0.5, np.float32))
    pad_row = g.constant("pad_row", np.zeros((1, 3 * width), np.float32))
    picks = [g.constant(f"pick_{i}", np.array(i, np.int64)) for i in range(3)]
    x = "hidden"
    for i, layer in enumerate(encoder.layers):
        x = _layer(g, x, i, layer, encoder, (shape, flat, scale, pad_row, picks))
    pooled = g.op("Gather", x, "pooled", axis=0)
    normed = _layer_norm(g, pooled, "final_norm", encoder.final_norm, encoder.eps)
    features = g.op("MatMul", normed, g.constant("projection", encoder.projection))
    g.nodes.append(helper.make_node("Identity", [features], ["features"]))
    inputs = [
        helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["tokens", width]),
        helper.make_tensor_value_info("block", TensorProto.INT64, ["texts", "length"]),
        helper.make_tensor_value_info("unblock", TensorProto.INT64, ["tokens"]),
        helper.make_tensor_value_info("causal", TensorProto.FLOAT, ["length", "length"]),
        helper.make_tensor_value_info("pooled", TensorProto.INT64, ["texts"]),
    ]
    output = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["texts", int(encoder.embed_dim)])
    graph = helper.make_graph(g.nodes, "emoret_text_tower", inputs, [output], g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="emoret")


def _layer_norm(g: GraphBuilder, x: str, name: str, params: tuple, eps: float) -> str:
    weight, bias = (g.constant(f"{name}.{part}", array) for part, array in zip(("weight", "bias"), params, strict=True))
    return g.op("LayerNormalization", x, weight, bias, axis=-1, epsilon=eps)


def _linear(g: GraphBuilder, x: str, name: str, weight: np.ndarray, bias: np.ndarray) -> str:
    return g.op("Add", g.op("MatMul", x, g.constant(f"{name}.weight", weight)), g.constant(f"{name}.bias", bias))


def _layer(g: GraphBuilder, x: str, i: int, layer: tuple, encoder: NumpyTextEncoder, shared: tuple) -> str:
    """One pre-norm layer, as text_numpy's NumpyTextEncoder._layer computes it."""
    ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b = layer
    shape, flat, scale, pad_row, picks = shared
    p = f"layers.{i}"
    qkv = _linear(g, _layer_norm(g, x, f"{p}.ln1", (ln1_w, ln1_b), encoder.eps), f"{p}.qkv", qkv_w, qkv_b)
    block = g.op("Gather", g.op("Concat", qkv, pad_row, axis=0), "block", axis=0)  # [B, L, 3W]
    split = g.op("Transpose", g.op("Reshape", block, shape), perm=[2, 0, 3, 1, 4])  # [3, B, H, L, d]
    q, k, v = (g.op("Gather", split, pick, axis=0) for pick in picks)
    scores = g.op("Add", g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale), "causal")
    attended = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)  # [B, H, L, d]
    rows = g.op("Reshape", g.op("Transpose", attended, perm=[0, 2, 1, 3]), flat)
    x = g.op("Add", x, _linear(g, g.op("Gather", rows, "unblock", axis=0), f"{p}.out", out_w, out_b))
    h = _linear(g, _layer_norm(g, x, f"{p}.ln2", (ln2_w, ln2_b), encoder.eps), f"{p}.fc1", fc1_w, fc1_b)
    h = _linear(g, _activation(g, encoder.act, h), f"{p}.fc2", fc2_w, fc2_b)
    return g.op("Add", x, h)


def _activation(g: GraphBuilder, name: str, x: str) -> str:
    if name == "quick_gelu":
        return g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, g.constant(f"c{len(g.nodes)}", np.float32(1.702)))))
    if name == "relu":
        return g.op("Relu", x)
    half = g.constant(f"c{len(g.nodes)}_half", np.float32(0.5))
    one = g.constant(f"c{len(g.nodes)}_one", np.float32(1.0))
    if name == "gelu":
        inner = g.op("Erf", g.op("Mul", x, g.constant(f"c{len(g.nodes)}", np.float32(2.0**-0.5))))
    else:  # the tanh forms: gelu_new, gelu_pytorch_tanh, gelu_fast
        cube = g.op("Mul", g.op("Mul", g.op("Mul", x, x), x), g.constant(f"c{len(g.nodes)}_k", np.float32(0.044715)))
        inner = g.op("Tanh", g.op("Mul", g.op("Add", x, cube),
                                  g.constant(f"c{len(g.nodes)}_s", np.float32(0.7978845608028654))))
    return g.op("Mul", g.op("Mul", x, half), g.op("Add", inner, one))


def write_int8(encoder: NumpyTextEncoder, path: str | os.PathLike[str]) -> Path:
    """``encoder``'s tower as an int8 ONNX file at ``path`` (written atomically)."""
    import tempfile

    import onnx

    from emoret.atomic import atomic_path
    from emoret.embedding.quantize import quantize_matmuls

    target = Path(path)
    with tempfile.TemporaryDirectory(prefix="emoret-text-onnx-") as work:
        plain = Path(work) / "text_fp32.onnx"
        onnx.save(build_graph(encoder), plain)
        with atomic_path(target) as tmp:
            quantize_matmuls(plain, Path(tmp), {"fingerprint": encoder.fingerprint})
    return target


class OnnxTextEncoder:
    """Embeds queries like :class:`NumpyTextEncoder` (whose tokenizer and embeddings it
    uses), the layers run by an ONNX Runtime session of an int8 file."""

    def __init__(self, numpy_encoder: NumpyTextEncoder, session: Any):
        self.numpy = numpy_encoder
        self.session = session
        self.embed_dim = numpy_encoder.embed_dim
        self.fingerprint = numpy_encoder.fingerprint

    @classmethod
    def load(cls, numpy_encoder: NumpyTextEncoder, path: str | os.PathLike[str]) -> OnnxTextEncoder:
        from emoret.ort_session import cpu_session

        return cls(numpy_encoder, cpu_session(path))

    def encode_queries(self, texts: Sequence[str], emotions: Sequence[Sequence[float]] | None = None) -> np.ndarray:
        """L2-normalised float32 [B, D], as NumpyTextEncoder.encode_queries (within int8's rounding)."""
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32)
        packing, hidden, pooled = self.numpy.packed_input(texts, emotions)
        feeds = dict(zip(INPUTS, packed_inputs(packing, hidden), strict=True))
        feeds["pooled"] = pooled
        return unit_rows(self.session.run(["features"], feeds)[0])


def packed_inputs(packing: Packing, hidden: np.ndarray) -> tuple[np.ndarray, ...]:
    """hidden, block (each text's token rows, padding → the pad row), unblock, causal, pooled (filled later)."""
    count, length = len(packing.lengths), packing.length
    tokens = len(packing.texts)
    block = np.full((count, length), tokens, dtype=np.int64)
    block[packing.texts, packing.positions] = np.arange(tokens)
    unblock = packing.texts * length + packing.positions
    causal = np.triu(np.full((length, length), -1e9, dtype=np.float32), k=1)
    return np.ascontiguousarray(hidden, dtype=np.float32), block, unblock.astype(np.int64), causal, np.zeros(0)


# --- beside an index -------------------------------------------------------------------------

QUERY_MIN_COSINE = 0.999  # the lowest probe cosine to the fp32 tower an index's int8 tower may have


def write_checked(directory: Path) -> float:
    """The int8 tower of the numpy export in ``directory``, written beside it and checked on the
    export's probe queries; returns the lowest cosine to fp32. ValueError (and no file) below
    QUERY_MIN_COSINE."""
    from emoret.query.export import EMOTION_PROBES, PROBES

    tower = NumpyTextEncoder.load(directory)
    path = write_int8(tower, directory / INT8_FILE)
    fast = OnnxTextEncoder.load(tower, path)
    worst = 1.0
    for emotions in EMOTION_PROBES:
        rows = None if emotions is None else [emotions] * len(PROBES)
        ours, theirs = fast.encode_queries(PROBES, rows), tower.encode_queries(PROBES, rows)
        worst = min(worst, float(np.min(np.sum(ours * theirs, axis=1))))
    if not worst >= QUERY_MIN_COSINE:
        path.unlink()
        raise ValueError(f"the int8 query tower is too far from fp32 (cosine {worst:.5f} < {QUERY_MIN_COSINE})")
    return worst


AGREEMENT_TOP = 10  # int8 must give the same this many videos as fp32 on every probe query


def check_top_agreement(directory: Path) -> None:
    """ValueError where the int8 tower changes the top ``AGREEMENT_TOP`` of any probe query on
    this index's own vectors (exact search): on an index whose best scores lie close together,
    int8's rounding would reorder what fp32 finds."""
    from emoret.index.store import VECTORS_FILE
    from emoret.query.export import EMOTION_PROBES, PROBES

    vectors = np.load(directory / VECTORS_FILE, mmap_mode="r")
    top = min(AGREEMENT_TOP, len(vectors))
    tower = NumpyTextEncoder.load(directory)
    fast = OnnxTextEncoder.load(tower, directory / INT8_FILE)
    changed = total = 0
    for emotions in EMOTION_PROBES:
        rows = None if emotions is None else [emotions] * len(PROBES)
        found = [np.argsort(-(encoder.encode_queries(PROBES, rows) @ vectors.T), axis=1)[:, :top]
                 for encoder in (fast, tower)]
        changed += sum(set(a) != set(b) for a, b in zip(*found, strict=True))
        total += len(PROBES)
    if changed:
        raise ValueError(f"int8 changes the top {top} of {changed} of {total} probe queries on this index")


# Opt-in: measured on a busy 2-core EPYC, the int8 tower made the cold query slower (ONNX Runtime
# loads in ~0.45 s) and kept the fp32 top 10 on only 45 % of queries of a 100k random index.
QUERY_INT8_OPT_IN = "EMORET_QUERY_INT8"


def int8_exporter(say: Callable[[str], None]) -> Callable[[Path], None]:
    """An index build step after the numpy export: the int8 tower where ``EMORET_QUERY_INT8=1``
    asks for it and the CPU has int8 instructions (searches on it then run int8), else nothing."""

    def run(directory: Path) -> None:
        from emoret.embedding.precision import cpu_has_int8
        from emoret.query.text_numpy import exported

        if os.environ.get(QUERY_INT8_OPT_IN) != "1" or not exported(directory) or not cpu_has_int8():
            return
        try:
            write_checked(directory)
            check_top_agreement(directory)
        except (ValueError, ImportError, RuntimeError) as err:
            (directory / INT8_FILE).unlink(missing_ok=True)
            say(f"index: searches will run the fp32 query tower: {err}")

    return run


def for_index(directory: str | os.PathLike[str], tower: NumpyTextEncoder, meta: dict[str, Any] | None) -> Any:
    """The int8 query encoder of an index where it has one of ``tower``'s model and this CPU
    has int8 instructions, else ``tower`` itself. A damaged file raises IndexDamaged."""
    from emoret.embedding.precision import cpu_has_int8
    from emoret.embedding.quantize import metadata

    path = Path(directory) / INT8_FILE
    if not path.is_file() or not cpu_has_int8():
        return tower
    if meta is not None:
        from emoret.index import check as index_check

        index_check.check_block_sums(Path(directory), meta, INT8_FILE)
    fast = OnnxTextEncoder.load(tower, path)
    return fast if metadata(fast.session).get("fingerprint") == tower.fingerprint else tower
