"""ONNX Runtime's dynamic int8 quantization (the sessions that run its files: emoret.ort_session).

Dynamic quantization: weights stored int8 (per output channel), activations quantized
on the fly a batch at a time, so no calibration set is needed. Only matrix products
with a constant weight are quantized; attention's activation-by-activation products
stay fp32 (their int8 rounding costs accuracy for little time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Written into every quantized file: a reader refuses one whose metadata does not match.
METADATA_FORMAT = "1"


def quantize_matmuls(source: Path, target: Path, metadata: dict[str, str]) -> None:
    """The int8 version of the fp32 ONNX file ``source`` at ``target``, carrying ``metadata``."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process goes to the root logger
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True})
    finally:
        logging.getLogger().setLevel(quiet)
    model = onnx.load(str(target))
    onnx.helper.set_model_props(model, {"emoret_format": METADATA_FORMAT, **metadata})
    onnx.save(model, str(target))


def metadata(session: Any) -> dict[str, str]:
    """The metadata a quantized file was written with (empty for a file of another writer)."""
    found = dict(session.get_modelmeta().custom_metadata_map)
    return found if found.get("emoret_format") == METADATA_FORMAT else {}
