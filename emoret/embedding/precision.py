"""Which arithmetic the encoders run in: ``--precision auto|fp32|bf16|int8``.

bf16 autocast pays on a CPU with bf16 instructions (AMX or AVX-512 BF16: about 3x
fp32 for ViT-B/32, cosine to fp32 above 0.9999); without them torch emulates bf16 and
it is slower than fp32, so ``auto`` picks fp32 there. On a GPU, ``auto`` is fp16 (as
emoret always ran there). ``EMORET_CPU_BF16=1`` or ``0`` overrides the detection (a CPU
that misreports, or a test of either choice on any machine).

int8 runs quantized towers on ONNX Runtime (emoret/embedding/int8.py); int8 products pay
on a CPU with VNNI or AMX-INT8, and ``auto`` picks int8 only there, and only where it was
measured faster than the float path and close to fp32 (``EMORET_CPU_VNNI`` overrides the
detection as ``EMORET_CPU_BF16`` does).
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache

PRECISIONS = ("auto", "fp32", "bf16", "int8")
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
BF16_OVERRIDE = "EMORET_CPU_BF16"
INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
INT8_OVERRIDE = "EMORET_CPU_VNNI"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX-512 BF16), unless
    ``EMORET_CPU_BF16`` says (read on every call: only the detection is cached)."""
    override = bf16_override()
    return cpu_reports_bf16() if override is None else override


def bf16_override() -> bool | None:
    """``EMORET_CPU_BF16``: True for 1, False for 0, None when unset or empty;
    ValueError (one line) for anything else."""
    return _override(BF16_OVERRIDE)


def cpu_has_int8() -> bool:
    """Whether this CPU multiplies int8 natively (VNNI or AMX-INT8), unless ``EMORET_CPU_VNNI`` says."""
    override = int8_override()
    return cpu_reports_flags(INT8_CPU_FLAGS) if override is None else override


def int8_override() -> bool | None:
    """``EMORET_CPU_VNNI``, read as :func:`bf16_override` reads its variable."""
    return _override(INT8_OVERRIDE)


def _override(name: str) -> bool | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if value not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1 (or unset, to detect), not {value!r}")
    return value == "1"


@lru_cache(maxsize=1)
def cpu_reports_bf16() -> bool:
    """Whether torch or /proc/cpuinfo says this CPU has AMX or AVX-512 BF16."""
    try:
        import torch

        if torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX", "AVX512_AMX"):
            return True
    except (ImportError, AttributeError):
        pass
    return cpu_reports_flags(BF16_CPU_FLAGS)


@lru_cache(maxsize=4)
def cpu_reports_flags(wanted: tuple[str, ...]) -> bool:
    """Whether /proc/cpuinfo lists any of ``wanted`` among the CPU's flags."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in wanted)
    except OSError:
        pass
    return False


def resolve_precision(spec: str, device_type: str) -> str:
    """``auto`` → fp16 on a GPU, bf16 on a CPU that has it, else fp32; others as given.
    (Whether auto takes int8 depends on the model: :func:`emoret.embedding.int8.choose_precision`.)"""
    if spec not in PRECISIONS:
        raise ValueError(f"unknown precision {spec!r}: choose {', '.join(PRECISIONS)}")
    if spec == "int8" and device_type != "cpu":
        raise ValueError("--precision int8 runs on the CPU only (use --device cpu)")
    if spec != "auto":
        return spec
    if device_type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager[object]:
    """The autocast context for a resolved precision (fp32, and int8 whose towers are not torch's: none)."""
    if precision in ("fp32", "int8"):
        return contextlib.nullcontext()
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device_type, dtype=dtype)
