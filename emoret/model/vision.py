"""Video encoders over the CLIP vision tower: ``meanpool`` and ``vip`` (CLIP-ViP).

``vip`` adds video proxy tokens. The sequence is ``[CLS, proxy_1 .. proxy_{M-1},
frame_1 patches, ..., frame_T patches]``. The CLS and the proxies carry the
position-0 embedding; patches carry their spatial position embedding plus a temporal
embedding (one slot a frame, zero at start, interpolated when T differs from the
slots). In every layer, patches of frame n attend to the M proxies and the patches of
frame n; proxies attend to everything. The video embedding is token 0 after the
post-layernorm and the visual projection.

The new parameters live inside the CLIP module under CLIP-ViP's names,
``vision_model.embeddings.added_cls`` [M-1, d] and
``vision_model.embeddings.temporal_embedding`` [1, T, d], so a CLIP-ViP checkpoint
loads into them as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from emoret.model.preprocess import naflex_inputs

if TYPE_CHECKING:
    from transformers import CLIPModel
    from transformers.models.clip.modeling_clip import CLIPEncoderLayer


def add_vip_parameters(clip: CLIPModel, num_proxies: int, num_frames: int) -> None:
    """Fresh proxies (copies of the CLS embedding) and a zero temporal embedding."""
    embeddings = clip.vision_model.embeddings
    width = embeddings.class_embedding.shape[0]
    cls = embeddings.class_embedding.detach()
    embeddings.added_cls = nn.Parameter(cls.expand(num_proxies - 1, width).clone())
    embeddings.temporal_embedding = nn.Parameter(torch.zeros(1, num_frames, width, dtype=cls.dtype, device=cls.device))


def has_vip_parameters(clip: CLIPModel) -> bool:
    embeddings = clip.vision_model.embeddings
    return hasattr(embeddings, "added_cls") and hasattr(embeddings, "temporal_embedding")


def vip_attention_mask(num_proxies: int, num_frames: int, patches_per_frame: int,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """Bool [L, L] (True = may attend), L = M + T·N: the attention pattern of ``vip``."""
    length = num_proxies + num_frames * patches_per_frame
    frame_of = torch.full((length,), -1, dtype=torch.long, device=device)
    frame_of[num_proxies:] = torch.arange(num_frames, device=device).repeat_interleave(patches_per_frame)
    is_proxy = frame_of < 0
    same_frame = frame_of[:, None] == frame_of[None, :]
    return is_proxy[:, None] | is_proxy[None, :] | same_frame


def vip_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, num_proxies: int, num_frames: int, dropout: float = 0.0
) -> torch.Tensor:
    """Attention under :func:`vip_attention_mask`, computed block-wise.

    [B, H, L, d] in and out. Proxies attend to the whole sequence; each frame's patches
    attend to the proxies and their own frame, as T small attentions batched together
    rather than one masked L×L attention (T times less work, and no mask, so SDPA can
    use its fused kernels).
    """
    batch, heads, length, dim = query.shape
    m, t = num_proxies, num_frames
    n = (length - m) // t
    proxies_out = F.scaled_dot_product_attention(query[:, :, :m], key, value, dropout_p=dropout)

    def per_frame(x: torch.Tensor) -> torch.Tensor:  # [B, H, T·N, d] → [B·T, H, N, d]
        return x[:, :, m:].reshape(batch, heads, t, n, dim).transpose(1, 2).reshape(batch * t, heads, n, dim)

    def proxies_per_frame(x: torch.Tensor) -> torch.Tensor:  # [B, H, M, d] → [B·T, H, M, d]
        return x[:, None, :, :m].expand(batch, t, heads, m, dim).reshape(batch * t, heads, m, dim)

    frame_keys = torch.cat([proxies_per_frame(key), per_frame(key)], dim=2)
    frame_values = torch.cat([proxies_per_frame(value), per_frame(value)], dim=2)
    patches_out = F.scaled_dot_product_attention(per_frame(query), frame_keys, frame_values, dropout_p=dropout)
    patches_out = patches_out.reshape(batch, t, heads, n, dim).transpose(1, 2).reshape(batch, heads, t * n, dim)
    return torch.cat([proxies_out, patches_out], dim=2)


def _vip_layer(layer: CLIPEncoderLayer, hidden: torch.Tensor, num_proxies: int, num_frames: int) -> torch.Tensor:
    """One CLIP encoder layer (pre-norm attention + MLP) with the vip attention."""
    attn = layer.self_attn
    residual = hidden
    x = layer.layer_norm1(hidden)
    batch, length, width = x.shape

    def heads(proj: nn.Linear) -> torch.Tensor:
        return proj(x).view(batch, length, attn.num_heads, attn.head_dim).transpose(1, 2)

    dropout = float(attn.dropout or 0.0) if attn.training else 0.0
    out = vip_attention(heads(attn.q_proj), heads(attn.k_proj), heads(attn.v_proj), num_proxies, num_frames, dropout)
    x = attn.out_proj(out.transpose(1, 2).reshape(batch, length, width))
    hidden = residual + x
    return hidden + layer.mlp(layer.layer_norm2(hidden))


def temporal_slots(temporal: torch.Tensor, num_frames: int) -> torch.Tensor:
    """[1, S, d] → [1, T, d], linearly interpolated when T ≠ S."""
    if temporal.shape[1] == num_frames:
        return temporal
    return F.interpolate(temporal.transpose(1, 2), size=num_frames, mode="linear", align_corners=False).transpose(1, 2)


def vip_features(clip: CLIPModel, frames: torch.Tensor) -> torch.Tensor:
    """[B, T, 3, S, S] → projected (not normalised) video features [B, D]."""
    vision = clip.vision_model
    emb = vision.embeddings
    batch, t = frames.shape[:2]
    dtype = emb.patch_embedding.weight.dtype
    patches = emb.patch_embedding(frames.flatten(0, 1).to(dtype))  # [B·T, d, g, g]
    patches = patches.flatten(2).transpose(1, 2)  # [B·T, N, d]
    n, width = patches.shape[1:]
    positions = emb.position_embedding.weight  # [1 + N, d]
    patches = patches.view(batch, t, n, width) + positions[1:][None, None]
    patches = patches + temporal_slots(emb.temporal_embedding, t)[:, :, None, :]
    cls = torch.cat([emb.class_embedding[None], emb.added_cls], dim=0) + positions[0]  # [M, d]
    hidden = torch.cat([cls[None].expand(batch, -1, -1), patches.reshape(batch, t * n, width)], dim=1)
    hidden = vision.pre_layrnorm(hidden)
    for layer in vision.encoder.layers:
        hidden = _vip_layer(layer, hidden, cls.shape[0], t)
    return clip.visual_projection(vision.post_layernorm(hidden[:, 0]))


def image_features(backbone: CLIPModel, pixels: torch.Tensor, naflex_patch: int = 0) -> torch.Tensor:
    """Projected image features [N, D] of [N, 3, S, S]: the vision tower's pooled output
    (CLIP: the class token, SigLIP: its attention-pooling head) through its projection.
    ``naflex_patch``: the patch size of a NaFlex (SigLIP 2) tower, which takes patches."""
    inputs = naflex_inputs(pixels, naflex_patch) if naflex_patch else {"pixel_values": pixels}
    return backbone.get_image_features(**inputs).pooler_output


def meanpool_features(clip: CLIPModel, frames: torch.Tensor, naflex_patch: int = 0) -> torch.Tensor:
    """Frame features → normalise → mean over frames: [B, T, 3, S, S] → [B, D]."""
    batch, t = frames.shape[:2]
    per_frame = F.normalize(image_features(clip, frames.flatten(0, 1), naflex_patch), dim=-1)
    return per_frame.view(batch, t, -1).mean(dim=1)
