"""`Normalize`: per-channel (x - mean) / std of channels-last images, optionally learned.

Per element: image (H, W, C) of any dtype -> float32 (H, W, C), in the units of the
input (pass mean/std in 0..255 for uint8 input, or convert with `ConvertDtype` first).
Deterministic. With `learnable=True`, mean and std are `nnx.Param`s: `nnx.grad`
through the operator trains them.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import numpy as np
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import OperatorConstant, plain_config
from datarax.operators.image_operator import ImageOperator


def _per_channel(name: str, value, arg: str) -> jnp.ndarray:
    array = np.asarray(value, np.float32)  # NumPy: validated at construction, even under jit
    if array.ndim > 1:
        raise ValueError(f"Normalize: {arg} must be a number or one value per channel, "
                         f"got shape {array.shape}")
    return array.reshape(-1)


class Normalize(ImageOperator):
    """(image - mean) / std per channel, as torchvision's Normalize.

    Args:
      config: `OperatorConfig()` by default.
      mean: a number or one value per channel.
      std: a number or one value per channel, all > 0.
      fields: the image field(s).
      learnable: hold mean and std as trainable `nnx.Param`s.
    """

    def __init__(self, config: OperatorConfig | None = None, *,
                 mean: float | Sequence[float], std: float | Sequence[float],
                 fields: str | Sequence[str] = "image", learnable: bool = False,
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), fields=fields, rngs=rngs)
        mean = _per_channel("Normalize", mean, "mean")
        std = _per_channel("Normalize", std, "std")
        if np.any(std <= 0):
            raise ValueError(f"Normalize: std must be > 0 for every channel, got {std}")
        holder = nnx.Param if learnable else OperatorConstant
        self.mean = holder(jnp.asarray(mean))
        self.std = holder(jnp.asarray(std))

    def image_shape(self, data):
        shape = super().image_shape(data)
        for arg, value in (("mean", self.mean), ("std", self.std)):
            size = value[...].shape[0]
            if size not in (1, shape[2]):
                raise ValueError(
                    f"Normalize: {arg} has {size} values but field(s) {self.fields} "
                    f"have {shape[2]} channels; pass one value or one per channel")
        return shape

    def transform(self, image, params, stats=None):
        return (image.astype(jnp.float32) - self.mean[...]) / self.std[...]
