"""ONNX Runtime sessions on the CPU, as emoret runs them (int8 towers, the exact search's scan)."""

from __future__ import annotations

import os
from typing import Any


def cpu_session(model: str | os.PathLike[str] | bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime session of ``model`` (a file, or a serialized model) on the CPU, on this
    process's cores, quiet."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    from emoret.devices import available_cpus

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_cpus()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Its threads would spin between runs, taking the cores from torch's preprocessing and decoding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
