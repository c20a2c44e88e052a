"""Value conversions of images: `ConvertDtype` and `Rescale`.

Per element: image (H, W, C) -> same shape. Deterministic.
`ConvertDtype` maps between the uint8 range [0, 255] and the float range [0, 1]
(torchvision's ConvertImageDtype / ToDtype(scale=True)); `Rescale` computes
x * scale + offset in float32 (Keras' Rescaling).
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import plain_config
from datarax.operators._pixels import max_value, restore
from datarax.operators.image_operator import ImageOperator


class ConvertDtype(ImageOperator):
    """Casts images to `dtype`, rescaling the value range when `scale` is true.

    uint8 -> float: x / 255. float -> uint8: round(clip(x, 0, 1) * 255). Same kind:
    a plain cast.

    Args:
      config: `OperatorConfig()` by default.
      dtype: the output dtype (default float32).
      scale: rescale between [0, 255] and [0, 1] when the kind changes.
      fields: the image field(s).
    """

    def __init__(self, config: OperatorConfig | None = None, *, dtype=jnp.float32,
                 scale: bool = True, fields: str | Sequence[str] = "image",
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), fields=fields, rngs=rngs)
        self.dtype = jnp.dtype(dtype)
        self.scale = bool(scale)

    def transform(self, image, params, stats=None):
        if not self.scale:
            return image.astype(self.dtype)
        source, target = max_value(image.dtype), max_value(self.dtype)
        if source == target:
            return image.astype(self.dtype)
        value = image.astype(jnp.float32) * (target / source)
        if target > source:  # float -> integer: out-of-range floats would wrap
            value = jnp.clip(value, 0.0, target)
        return restore(value, self.dtype)


class Rescale(ImageOperator):
    """image * scale + offset, in float32 (e.g. scale=1/127.5, offset=-1 for [-1, 1]).

    Args:
      config: `OperatorConfig()` by default.
      scale: the multiplier.
      offset: added after scaling.
      fields: the field(s); any rank-3 image.
    """

    def __init__(self, config: OperatorConfig | None = None, *, scale: float,
                 offset: float = 0.0, fields: str | Sequence[str] = "image",
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), fields=fields, rngs=rngs)
        self.scale = float(scale)
        self.offset = float(offset)

    def transform(self, image, params, stats=None):
        return image.astype(jnp.float32) * self.scale + self.offset
