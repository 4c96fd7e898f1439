"""Dual-encoder families: what differs between CLIP, SigLIP and SigLIP 2, as one table.

A model directory's ``config.json`` names its family (``model_type``); everything else in
emoret (the video encoders, the emotion embedding, embed, index, search, train) goes
through the same code, reading the differences from the family's row:

- which transformers class holds the weights;
- the preprocessing: normalisation mean/std and the resize (CLIP: shorter side to S, centre
  crop; SigLIP: the whole frame to S×S), and whether the vision tower takes patches
  (SigLIP 2's NaFlex: ``pixel_values`` [N, patches, P·P·3] with ``pixel_attention_mask`` and
  ``spatial_shapes``; see :func:`emoret.model.preprocess.naflex_inputs`);
- the text side: padding (to the longest caption, or to a fixed length as SigLIP was
  trained), the pooled token (end of text, or the last position), attention (causal, or
  full), and where the text projection is (for the numpy export);
- the training objective (InfoNCE, or SigLIP's pairwise sigmoid with its learnt bias);
- the video encoders it supports (``vip``'s proxy tokens are CLIP-ViP's, built on CLIP's
  class token and pre-layernorm).

Adding a family that transformers provides (a ``get_text_features`` /
``get_image_features`` dual encoder) is a row here; a new preprocessing rule is an entry
in :mod:`emoret.model.preprocess`.
"""

from __future__ import annotations

from dataclasses import dataclass

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Family:
    name: str
    title: str  # for messages: "CLIP", "SigLIP"
    model_class: str  # the transformers class of the whole dual encoder
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str  # "crop": shorter side to S, centre crop; "square": the whole frame to S×S
    patch_inputs: bool  # the vision tower takes patches + pixel_attention_mask + spatial_shapes (NaFlex)
    text_padding: str  # "longest" or "max_length" (the text tower's max_position_embeddings)
    text_pooling: str  # "eos": the end-of-text token; "last": the last position (padding included)
    text_attention: str  # "causal" or "full"
    text_projection: str  # the module (and state-dict prefix) of the text projection
    objective: str  # "infonce" or "sigmoid"
    video_encoders: tuple[str, ...]


CLIP = Family(
    name="clip", title="CLIP", model_class="CLIPModel", mean=CLIP_MEAN, std=CLIP_STD, resize="crop",
    patch_inputs=False, text_padding="longest", text_pooling="eos", text_attention="causal",
    text_projection="text_projection", objective="infonce", video_encoders=("meanpool", "vip"),
)
SIGLIP = Family(
    name="siglip", title="SigLIP", model_class="SiglipModel", mean=HALF, std=HALF, resize="square",
    patch_inputs=False, text_padding="max_length", text_pooling="last", text_attention="full",
    text_projection="text_model.head", objective="sigmoid", video_encoders=("meanpool",),
)
SIGLIP2 = Family(
    name="siglip2", title="SigLIP 2", model_class="Siglip2Model", mean=HALF, std=HALF, resize="square",
    patch_inputs=True, text_padding="max_length", text_pooling="last", text_attention="full",
    text_projection="text_model.head", objective="sigmoid", video_encoders=("meanpool",),
)
# config.json's model_type → family. (SigLIP 2's fixed-resolution checkpoints, such as
# google/siglip2-base-patch16-224, are model_type "siglip"; its NaFlex ones "siglip2".)
FAMILIES: dict[str, Family] = {"clip": CLIP, "siglip": SIGLIP, "siglip2": SIGLIP2}


def family_named(model_type: str) -> Family | None:
    return FAMILIES.get(model_type)


def unknown_family(model_type: object) -> str:
    """The message for a config of a family emoret does not load."""
    known = ", ".join(sorted(FAMILIES))
    return f"model_type {model_type!r} is not a family emoret loads ({known})"
