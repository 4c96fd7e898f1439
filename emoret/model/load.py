"""Loading a model: a hub id, a local Hugging Face directory (CLIP, SigLIP, SigLIP 2), an
emoret model directory or a CLIP-ViP ``.pt``.

The family comes from ``config.json``'s ``model_type`` (:mod:`emoret.model.families`); the
options (:class:`emoret.model.options.ModelOptions`) override what the source implies.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

if TYPE_CHECKING:  # transformers is heavy; imported where a model is built
    from transformers import CLIPModel
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from emoret.errors import InputError, first_line
from emoret.model import convert, hub
from emoret.model.config import EMORET_FILE, EmoretConfig
from emoret.model.emoret_model import WEIGHTS_FILE, EmoretModel
from emoret.model.families import CLIP, Family, family_named, unknown_family
from emoret.model.options import ModelOptions
from emoret.model.weight_checks import check_extra_shape, check_float_weights, loading_reason
from emoret.text.emotions import EMOTIONS

log = logging.getLogger("emoret")


# --- loading -------------------------------------------------------------------------------


def quiet_transformers() -> None:
    """Loading prints progress bars and advice; emoret's stdout/stderr stay its own."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _load_tokenizer(spec: str | os.PathLike[str], source: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    where = str(spec)
    if not Path(where).exists() and hub.is_hub_id(where):
        where = str(hub.model_directory(where, tokenizer_only=True))  # cache first; one-line failure
    try:
        return AutoTokenizer.from_pretrained(where)
    except (OSError, ValueError) as err:
        raise InputError(source, f"cannot load a tokenizer from {spec} ({first_line(err)})") from None


def read_family(directory: Path, source: str) -> Family:
    """The family ``config.json`` names by its ``model_type``."""
    import json

    try:
        raw = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(str(directory / "config.json"), f"cannot read the model config ({first_line(err)})") from None
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    family = family_named(str(model_type)) if model_type is not None else None
    if family is None:
        raise InputError(source, unknown_family(model_type))
    return family


def _load_backbone(spec: str, source: str, family: Family) -> tuple[CLIPModel, list[str]]:
    """The family's transformers model from a local directory; every one of its weights must load.

    Returns (model, names of extra tensors in the file that the model itself does not use).
    """
    import transformers
    from huggingface_hub.errors import StrictDataclassError
    from safetensors import SafetensorError

    check_float_weights(Path(spec) / WEIGHTS_FILE, source)
    model_class = getattr(transformers, family.model_class)
    try:
        # With output_loading_info the result is a pair, which transformers' annotation does not say.
        # A SiglipModel or Siglip2Model is typed as CLIP's: what emoret uses of them has the same names.
        backbone, info = cast("tuple[CLIPModel, dict[str, list[str]]]",
                              model_class.from_pretrained(spec, output_loading_info=True))
    except (OSError, ValueError, RuntimeError, SafetensorError, StrictDataclassError) as err:
        # A config that contradicts itself (hidden size -5) or weights that do not fit it.
        raise InputError(source, f"cannot load a {family.title} model ({loading_reason(err)})") from None
    _own_memory(backbone)
    missing = [k for k in info.get("missing_keys", ()) if not k.endswith("position_ids")]
    if missing:
        raise InputError(source, f"checkpoint lacks {family.title} weight {sorted(missing)[0]} ({len(missing)} missing)")
    return backbone, sorted(info.get("unexpected_keys", ()))


def _own_memory(module: nn.Module) -> None:
    """Copy tensors that are views into a memory-mapped file into fresh, aligned memory.

    Mapped tensors sit at arbitrary offsets, and the vectorised kernels then round
    differently in the last bit: a model must compute the same before and after a save.
    """
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            tensor.data = tensor.data.clone()


def _attach_saved_extras(clip: Any, directory: Path, names: list[str]) -> list[str]:
    """Load emoret's own tensors (proxies, temporal and emotion embeddings) from the file.

    Returns the names of the tensors it did not know.
    """
    unused: list[str] = []
    if not names:
        return unused
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as handle:
            tensors = {name: handle.get_tensor(name).clone() for name in names}
    except (OSError, SafetensorError) as err:
        raise InputError(str(directory / WEIGHTS_FILE), f"cannot read the weights ({first_line(err)})") from None
    embeddings_v = clip.vision_model.embeddings
    embeddings_t = clip.text_model.embeddings
    width_v, width_t = clip.vision_model.config.hidden_size, clip.text_model.config.hidden_size
    source = str(directory / WEIGHTS_FILE)
    for name, tensor in tensors.items():
        if name == "vision_model.embeddings.added_cls":
            check_extra_shape(name, tensor, (None, width_v), source)
            embeddings_v.added_cls = nn.Parameter(tensor)
        elif name == "vision_model.embeddings.temporal_embedding":
            check_extra_shape(name, tensor, (1, None, width_v), source)
            embeddings_v.temporal_embedding = nn.Parameter(tensor)
        elif name == "text_model.embeddings.emotion_embedding.weight":
            check_extra_shape(name, tensor, (len(EMOTIONS), width_t), source)
            embeddings_t.emotion_embedding = nn.Embedding.from_pretrained(tensor, freeze=False)
        else:
            log.warning("emoret: %s: unused tensor %s", directory, name)
            unused.append(name)
    return unused


def _weights_as_recorded(directory: Path, config: EmoretConfig) -> bool:
    """Is the weights file the one emoret.json's fingerprint was computed from? (size, mtime)"""
    try:
        weights = (directory / WEIGHTS_FILE).stat()
    except OSError:
        return False
    return config.weights_size > 0 and (weights.st_size, weights.st_mtime_ns) == (
        config.weights_size, config.weights_mtime_ns)


def _resolve_dir(path: Path) -> Path:
    """A training output directory stands for its best checkpoint."""
    if not (path / EMORET_FILE).exists() and (path / "best" / EMORET_FILE).exists():
        return path / "best"
    return path


def load_model(
    spec: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    video_encoder: str | None = None,
    *,
    emotion: bool | None = None,
    emotion_init: str = "zero",
    num_frames: int | None = None,
    tokenizer: str | None = None,
    seed: int = 0,
) -> EmoretModel:
    """Load a hub id, a local CLIP/SigLIP directory, an emoret model directory or a CLIP-ViP ``.pt``.

    ``video_encoder`` / ``emotion`` / ``num_frames`` override what the source implies
    (an emoret directory: what it was trained with; CLIP or SigLIP: meanpool, no emotion;
    CLIP-ViP: vip, and emotion on with the file's trained table where it has one, as the
    seed's do). New parameters start fresh; ``seed`` fixes their draw.
    """
    options = ModelOptions(device=str(device), video_encoder=video_encoder, emotion=emotion,
                           emotion_init=emotion_init, num_frames=num_frames, tokenizer=tokenizer, seed=seed)
    quiet_transformers()
    source = str(spec)
    path = Path(spec)
    generator = torch.Generator().manual_seed(seed)
    if path.is_file():
        model = _load_clipvip(path, options, generator)
    elif path.is_dir():
        model = _load_directory(_resolve_dir(path), source, options, generator)
    elif not path.exists() and hub.is_hub_id(source):
        # org/name: the cached snapshot (no network), else downloaded; it is a model directory.
        model = _load_directory(hub.model_directory(source), source, options, generator)
    else:
        raise InputError(source, "no such file or directory")
    model.source = source  # named in errors about what the model gives
    return model.to(device).eval()


def _load_directory(path: Path, source: str, options: ModelOptions, generator: torch.Generator) -> EmoretModel:
    """An emoret model directory, or a plain Hugging Face directory of a known family."""
    if (path / EMORET_FILE).exists():
        config = EmoretConfig.load(path)
        if not _weights_as_recorded(path, config):
            config.fingerprint = ""  # computed again from the weights actually loaded
        family = read_family(path, source)
        backbone, extras = _load_backbone(str(path), source, family)
        unused = _attach_saved_extras(backbone, path, extras)
        config = _override(config, options, family, source)
        tokenizer = _load_tokenizer(options.tokenizer or path, source)
        return EmoretModel(backbone, tokenizer, config, generator, unused_keys=unused)
    if not (path / "config.json").exists():
        raise InputError(source, "not a model directory (no config.json or emoret.json)")
    family = read_family(path, source)
    backbone, extras = _load_backbone(str(path), source, family)
    if extras:
        log.warning("emoret: %s: unused tensors %s", source, ", ".join(extras))
    config = _override(EmoretConfig(base=source), options, family, source)
    tokenizer = _load_tokenizer(options.tokenizer or path, source)
    return EmoretModel(backbone, tokenizer, config, generator, unused_keys=extras)


def _override(config: EmoretConfig, options: ModelOptions, family: Family, source: str) -> EmoretConfig:
    """``config`` with what ``options`` set (its fingerprint cleared when that changes it)."""
    values = config.to_dict()
    changed = False
    for key, value in (("video_encoder", options.video_encoder), ("emotion", options.emotion),
                       ("num_frames", options.num_frames)):
        if value is not None and values[key] != value:
            values[key] = value
            changed = True
    if options.emotion:
        values["emotion_init"] = options.emotion_init
    if changed:
        values["fingerprint"] = ""
    if values["video_encoder"] not in family.video_encoders:
        raise InputError(source, f"the {values['video_encoder']} video encoder needs a CLIP base; this model is "
                                 f"{family.title}: choose {' or '.join(family.video_encoders)}")
    try:
        return EmoretConfig(**values)
    except ValueError as err:
        raise InputError("model", str(err)) from None


def _load_clipvip(path: Path, options: ModelOptions, generator: torch.Generator) -> EmoretModel:
    from huggingface_hub.errors import StrictDataclassError
    from transformers import CLIPConfig, CLIPModel

    source = str(path)
    clip_state, outside = convert.split_clipvip(convert.read_checkpoint(path), source)
    emotion_table = convert.take_emotion_table(clip_state, source)
    folder = convert.sibling_files(path)
    tokenizer = options.tokenizer
    if tokenizer is None:
        tokenizer = str(folder) if (folder / "tokenizer_config.json").exists() else "openai/clip-vit-base-patch32"
    tok = _load_tokenizer(tokenizer, source)
    try:
        if (folder / "config.json").exists():
            clip_config = CLIPConfig.from_pretrained(str(folder))
        else:
            clip_config = convert.infer_clip_config(clip_state, tok, source)
        clip = CLIPModel(clip_config)
    except (OSError, ValueError, RuntimeError, StrictDataclassError) as err:
        raise InputError(source, f"cannot build its CLIP model ({loading_reason(err)})") from None
    temporal = clip_state.get("vision_model.embeddings.temporal_embedding")
    proxies = clip_state.get("vision_model.embeddings.added_cls")
    if temporal is not None and proxies is not None:
        clip.vision_model.embeddings.added_cls = nn.Parameter(torch.zeros_like(proxies))
        clip.vision_model.embeddings.temporal_embedding = nn.Parameter(torch.zeros_like(temporal))
    unused = outside + convert.load_into(clip, clip_state, source)
    if unused:
        log.warning("emoret: %s: unused keys: %s", source, ", ".join(unused))
    config = EmoretConfig(
        video_encoder="vip",
        num_proxies=(proxies.shape[0] + 1) if proxies is not None else 4,
        num_frames=temporal.shape[1] if temporal is not None else 12,
        emotion=emotion_table is not None,  # a seed checkpoint: its trained table is on
        base=source,
    )
    config = _override(config, options, CLIP, source)
    if emotion_table is not None and config.emotion:
        width = clip.text_model.embeddings.token_embedding.weight.shape[1]
        if emotion_table.shape[1] != width:
            raise InputError(source, f"{convert.CLIPVIP_PREFIX}{convert.EMOTION_TABLE} is {emotion_table.shape[1]} wide, "
                                     f"the text model {width}")
        clip.text_model.embeddings.emotion_embedding = nn.Embedding.from_pretrained(emotion_table, freeze=False)
    return EmoretModel(clip, tok, config, generator, unused_keys=unused)
