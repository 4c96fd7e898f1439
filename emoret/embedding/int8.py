"""``--precision int8``: a model's towers quantized to int8, run by ONNX Runtime on the CPU.

Made once per model and kept in emoret's cache (``$EMORET_CACHE/int8/FINGERPRINT/``):
the vision tower exported from torch and quantized (quantize.py), the text tower as the
numpy export plus its int8 layers (emoret.query.text_onnx), and ``manifest.json``, written
last, with the model's fingerprint, each file's size and sha256, and how close each tower
came to fp32 on probe inputs. A cache whose manifest is missing, of another format, model
or ONNX Runtime, or whose files' digests differ (damaged, or half rebuilt when a run was
killed) is rebuilt, never used.

``auto`` takes int8 only on a CPU with int8 instructions (VNNI, AMX-INT8; see
precision.py), and only where the tower was measured on this CPU both close to fp32
(``MIN_COSINE``) and faster than the float path auto would otherwise run (``FASTER_BY``);
the timings are kept in the manifest, per CPU.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoret.errors import ModelError

CACHE_FORMAT = 1
MANIFEST_FILE = "manifest.json"
VISION_FILE = "vision.int8.onnx"
TEXT_DIR = "text"
MIN_COSINE = 0.99  # the lowest probe cosine to fp32 auto accepts
FASTER_BY = 1.1  # how much faster than the float path auto wants int8 measured
PROBE_VIDEOS = 2

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def cache_root() -> Path:
    from emoret.text.emotions import cache_dir

    return cache_dir() / "int8"


# --- the cache -------------------------------------------------------------------------------


@dataclass
class Towers:
    """A model's int8 cache, checked: its directory and manifest, sessions opened on first use."""

    directory: Path
    manifest: dict[str, Any]
    _vision: Any = None
    _text: Any = None

    def vision(self) -> Any:
        if self._vision is None:
            from emoret.ort_session import cpu_session

            self._vision = cpu_session(self.directory / VISION_FILE)
        return self._vision

    def text(self) -> Any:
        """The int8 text encoder (an OnnxTextEncoder); ModelError where the model's text tower has none."""
        if self._text is None:
            if self.manifest.get("text") is None:
                raise ModelError(self.manifest.get("model", "the model"),
                                 f"no int8 text tower ({self.manifest.get('text_unavailable')})")
            from emoret.query.text_numpy import NumpyTextEncoder
            from emoret.query.text_onnx import INT8_FILE, OnnxTextEncoder

            folder = self.directory / TEXT_DIR
            self._text = OnnxTextEncoder.load(NumpyTextEncoder.load(folder), folder / INT8_FILE)
        return self._text


_OPEN: dict[Path, Towers] = {}  # this process's checked caches: each is checked once


def towers(model: Any, say: Say = _quiet) -> Towers:
    """The model's int8 cache, made (or made again) where it is missing, stale or damaged."""
    from emoret.atomic import lock_beside, writer_lock

    directory = cache_root() / model.fingerprint
    if directory in _OPEN:
        return _OPEN[directory]
    with writer_lock(lock_beside(directory), busy=f"{directory} is being made"):
        manifest = checked_manifest(directory, model.fingerprint)
        if manifest is None:
            say(f"int8: quantizing the model once (kept in {directory})")
            manifest = build(model, directory)
    _OPEN[directory] = Towers(directory, manifest)
    return _OPEN[directory]


def checked_manifest(directory: Path, fingerprint: str) -> dict[str, Any] | None:
    """The manifest when the cache is whole and of this model, format and ONNX Runtime; else None."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("identity") != identity(fingerprint):
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or VISION_FILE not in files:
        return None
    for name, entry in files.items():
        if not isinstance(entry, dict) or file_entry(directory / name) != entry:
            return None
    return manifest


def identity(fingerprint: str) -> dict[str, Any]:
    """What a cache must have been made for: this format, this model, this ONNX Runtime."""
    import onnxruntime  # type: ignore[import-untyped]

    return {"format": CACHE_FORMAT, "fingerprint": fingerprint, "onnxruntime": onnxruntime.__version__}


def file_entry(path: Path) -> dict[str, Any] | None:
    try:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return {"size": size, "sha256": digest.hexdigest()}


def build(model: Any, directory: Path) -> dict[str, Any]:
    """Quantize both towers into ``directory``, check them against fp32, write the manifest last."""
    from emoret.errors import first_line

    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST_FILE).unlink(missing_ok=True)  # from here until the end the cache is not valid
    try:
        export_vision(model, directory / VISION_FILE)
    except (RuntimeError, ValueError, TypeError, ImportError) as err:  # torch.onnx and the quantizer
        raise ModelError(str(getattr(model, "source", "the model")), f"cannot make int8 towers ({first_line(err)})") from None
    manifest: dict[str, Any] = {"identity": identity(model.fingerprint), "model": str(getattr(model, "source", "")),
                                "timings": {}}
    files = [VISION_FILE]
    text_reason = export_text(model, directory / TEXT_DIR)
    if text_reason is None:
        from emoret.query import text_numpy, text_onnx

        files += [f"{TEXT_DIR}/{name}" for name in (text_numpy.WEIGHTS_FILE, text_numpy.TOKENIZER_FILE,
                                                    text_numpy.CONFIG_FILE, text_onnx.INT8_FILE)]
    else:
        manifest["text_unavailable"] = text_reason
    opened = Towers(directory, {**manifest, "text": True if text_reason is None else None})
    manifest["vision"] = {"cosine": vision_cosine(model, opened)}
    manifest["text"] = None if text_reason is not None else {"cosine": text_cosine(model, opened)}
    manifest["files"] = {name: file_entry(directory / name) for name in files}
    write_manifest(directory, manifest)
    return manifest


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    from emoret.atomic import write_bytes_atomic

    write_bytes_atomic(directory / MANIFEST_FILE, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def video_features_module(model: Any) -> Any:
    """``model.video_features`` (frames [B, T, 3, S, S] → projected features) as a module of its
    own, in eval mode: what an exporter or a compiler takes."""
    import torch

    class VideoFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            return self.model.video_features(frames)

    return VideoFeatures().eval()


def export_vision(model: Any, path: Path) -> None:
    """The video encoder (frames [B, T, 3, S, S] → projected features) as an int8 ONNX file."""
    import tempfile
    import warnings

    import torch

    from emoret.atomic import atomic_path
    from emoret.embedding.quantize import quantize_matmuls

    probe = torch.zeros(2, int(model.num_frames), 3, int(model.image_size), int(model.image_size))
    with tempfile.TemporaryDirectory(prefix="emoret-int8-") as work:
        plain = Path(work) / "vision_fp32.onnx"
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes it records as constants
            torch.onnx.export(video_features_module(model), (probe,), str(plain), dynamo=False, opset_version=17,
                              input_names=["frames"], output_names=["features"],
                              dynamic_axes={"frames": {0: "videos"}, "features": {0: "videos"}})
        with atomic_path(path) as tmp:
            quantize_matmuls(plain, Path(tmp), {"fingerprint": model.fingerprint})


def export_text(model: Any, folder: Path) -> str | None:
    """The numpy text export and its int8 layers into ``folder``; why not, where the model has none."""
    from emoret.query import export as query_export
    from emoret.query import text_numpy, text_onnx

    try:
        query_export.export_text_tower(model, folder)
    except query_export.NotExportable as err:
        return str(err)
    text_onnx.write_int8(text_numpy.NumpyTextEncoder.load(folder), folder / text_onnx.INT8_FILE)
    return None


# --- running ---------------------------------------------------------------------------------


class Int8Encoder:
    """An :class:`emoret.embedding.encoder.Encoder` whose towers are a model's int8 cache."""

    def __init__(self, model: Any, cache: Towers):
        self.model = model
        self.cache = cache
        self.source = getattr(model, "source", "the model")

    def __getattr__(self, name: str) -> Any:  # num_frames, image_size, device, embed_dim, fingerprint…
        return getattr(self.model, name)

    def encode_video(self, frames: Any) -> Any:
        import torch

        array = frames.detach().float().cpu().numpy()
        features = self.cache.vision().run(["features"], {"frames": array})[0]
        return torch.nn.functional.normalize(torch.from_numpy(features), dim=-1)

    def encode_text(self, texts: list[str], emotions: Any = None) -> Any:
        import torch

        rows = None if emotions is None else np.asarray(emotions, dtype=np.float32)
        return torch.from_numpy(self.cache.text().encode_queries(texts, rows))


def int8_encoder(model: Any, say: Say = _quiet) -> Int8Encoder:
    return model if isinstance(model, Int8Encoder) else Int8Encoder(model, towers(model, say))


# --- checks against fp32, and auto's choice -------------------------------------------------


def probe_frames(model: Any, videos: int = PROBE_VIDEOS) -> Any:
    """Preprocessed [videos, T, 3, S, S] frames: smooth random images (blocks of colour, a
    gradient), closer to photographs than pixel noise, the same on every run."""
    import torch

    rng = np.random.default_rng(0)
    size, count = int(model.image_size), videos * int(model.num_frames)
    coarse = rng.integers(0, 256, (count, 8, 8, 3)).astype(np.float32)
    frames = np.kron(coarse, np.ones((1, -(-size // 8), -(-size // 8), 1), np.float32))[:, :size, :size]
    frames = 0.7 * frames + 0.3 * np.linspace(0, 255, size, dtype=np.float32)[None, :, None, None]
    stacked = model.preprocess_frames(frames.astype(np.uint8))
    return torch.as_tensor(stacked).reshape(videos, int(model.num_frames), *stacked.shape[1:])


def probe_texts() -> tuple[list[str], list[list[int]]]:
    from emoret.query.export import EMOTION_PROBES, PROBES

    texts = [text for text in PROBES for _ in EMOTION_PROBES]
    emotions = [emotions or [0] * 8 for _ in PROBES for emotions in EMOTION_PROBES]
    return texts, emotions


def _lowest_cosine(a: Any, b: Any) -> float:
    return float(np.min(np.sum(np.asarray(a) * np.asarray(b), axis=1)))


def vision_cosine(model: Any, cache: Towers) -> float:
    import torch

    frames = probe_frames(model)
    with torch.inference_mode():
        reference = model.encode_video(frames)
    return _lowest_cosine(Int8Encoder(model, cache).encode_video(frames), reference)


def text_cosine(model: Any, cache: Towers) -> float:
    import torch

    texts, emotions = probe_texts()
    with torch.inference_mode():
        reference = model.encode_text(texts, torch.tensor(emotions, dtype=torch.float32))
    return _lowest_cosine(Int8Encoder(model, cache).encode_text(texts, torch.tensor(emotions)), reference)


def cpu_key() -> str:
    """This CPU, as timings are kept for it: its model name, flags and the cores this process has."""
    from emoret.devices import available_cpus

    name, flags = platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name == platform.machine():
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = hashlib.sha256(line.encode()).hexdigest()[:8]
    except OSError:
        pass
    return f"{name} | flags {flags} | {available_cpus()} cpus"


def measure(model: Any, cache: Towers, kind: str, base: str, rounds: int = 3) -> dict[str, float]:
    """Seconds (the fastest of ``rounds``, alternated) of the int8 and the ``base`` tower on the probes."""
    import time

    import torch

    from emoret.embedding.precision import autocast

    fast = Int8Encoder(model, cache)
    if kind == "videos":
        frames = probe_frames(model)
        runs = {"int8": lambda: fast.encode_video(frames), base: lambda: model.encode_video(frames)}
    else:
        texts, emotions = probe_texts()
        rows = torch.tensor(emotions, dtype=torch.float32)
        runs = {"int8": lambda: fast.encode_text(texts, rows), base: lambda: model.encode_text(texts, rows)}
    best = {label: float("inf") for label in runs}
    for _ in range(rounds):
        for label, run in runs.items():
            start = time.perf_counter()
            with torch.inference_mode(), autocast(label, "cpu"):
                run()
            best[label] = min(best[label], time.perf_counter() - start)
    return best


@dataclass(frozen=True)
class Verdict:
    int8: bool
    why: str


def verdict(model: Any, cache: Towers, kind: str, base: str) -> Verdict:
    """Whether auto takes int8 for ``kind`` (videos, texts) over ``base``, measured once per CPU."""
    tower = cache.manifest.get("vision" if kind == "videos" else "text")
    if tower is None:
        return Verdict(False, f"no int8 text tower ({cache.manifest.get('text_unavailable')})")
    cosine = float(tower["cosine"])
    if cosine < MIN_COSINE:
        return Verdict(False, f"int8 cosine to fp32 {cosine:.4f} < {MIN_COSINE}")
    kept = cache.manifest.setdefault("timings", {}).setdefault(cpu_key(), {}).setdefault(kind, {})
    if "int8" not in kept or base not in kept:
        kept.update(measure(model, cache, kind, base))
        write_manifest(cache.directory, cache.manifest)
    speedup = kept[base] / max(kept["int8"], 1e-9)
    if speedup < FASTER_BY:
        return Verdict(False, f"int8 measured {speedup:.2f}x {base} here")
    return Verdict(True, f"int8 measured {speedup:.2f}x {base}, cosine to fp32 {cosine:.4f}")


def choose_precision(spec: str, model: Any, kind: str = "videos", say: Say = _quiet) -> tuple[str, str]:
    """(the precision ``spec`` means for ``model`` here, why auto did or did not take int8):
    ``auto`` is int8 where :func:`verdict` says so; int8 asked for is made ready here."""
    from emoret.embedding.precision import INT8_OVERRIDE, cpu_has_int8, int8_override, resolve_precision

    device = model.device.type
    chosen = resolve_precision(spec, device)
    if chosen == "int8":
        towers(model, say)
        return chosen, "asked for"
    if spec != "auto" or device != "cpu":
        return chosen, "not asked for"
    if not cpu_has_int8():
        return chosen, f"{INT8_OVERRIDE}=0" if int8_override() is not None else "no VNNI/AMX-INT8 on this CPU"
    try:
        found = verdict(model, towers(model, say), kind, chosen)
    except ModelError as err:
        return chosen, f"int8 unavailable ({err.message})"
    return ("int8" if found.int8 else chosen), found.why
