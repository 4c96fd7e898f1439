"""One documented entry to a model: :func:`create_model` with :class:`ModelOptions`.

After open_clip's ``create_model_and_transforms``: the spec names the weights (a hub id,
a CLIP or emoret model directory, a CLIP-ViP ``.pt``), a typed dataclass the rest. The
commands, a Ray worker and a server load models through it alike.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from emoret.devices import resolve_device
from emoret.errors import InputError, ModelError, first_line
from emoret.model.options import ModelOptions

if TYPE_CHECKING:
    from emoret.model.emoret_model import EmoretModel


def create_model(spec: str | os.PathLike[str], options: ModelOptions | None = None) -> EmoretModel:
    """The model at ``spec``, in eval mode on the options' device.

    Raises :class:`emoret.errors.InputError` for a bad device or source, and
    :class:`emoret.errors.ModelError` (``SPEC: cannot load the model (why)``) for one that
    will not load (transformers reports a missing hub model or a broken directory as OSError).
    """
    from emoret.model.load import load_model  # torch and transformers: only when a model is wanted

    options = options or ModelOptions()
    device = resolve_device(options.device)
    try:
        return load_model(spec, device=device, video_encoder=options.video_encoder, emotion=options.emotion,
                          emotion_init=options.emotion_init, num_frames=options.num_frames,
                          tokenizer=options.tokenizer, seed=options.seed)
    except InputError:
        raise
    except (OSError, ValueError) as err:
        raise ModelError(str(spec), f"cannot load the model ({first_line(err)})") from None
