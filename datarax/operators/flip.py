"""`RandomFlip`: random horizontal and/or vertical flips of channels-last images.

Per element: image (H, W, C) of any dtype -> same shape and dtype.
Randomness: one Bernoulli(p) per record and axis, keyed on (stream key, epoch, index);
every field in `fields` flips alike. The flip is a select between the image and its
reversal (both cheap, fused by XLA), not a `lax.cond`: see benchmarks/operators.py.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import probability, stochastic_config
from datarax.operators.image_operator import ImageOperator


class RandomFlip(ImageOperator):
    """Flips each record left-right and/or top-bottom, each with probability `p`.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      horizontal: flip left-right (the W axis).
      vertical: flip top-bottom (the H axis).
      p: probability of each enabled flip, drawn independently per axis.
      fields: the image field(s), flipped together.
      rngs: `nnx.Rngs` with the config's stream.
    """

    def __init__(self, config: OperatorConfig | None = None, *, horizontal: bool = True,
                 vertical: bool = False, p: float = 0.5,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        super().__init__(stochastic_config("RandomFlip", config), fields=fields, rngs=rngs)
        if not (horizontal or vertical):
            raise ValueError("RandomFlip: enable horizontal and/or vertical flips")
        self.horizontal, self.vertical = bool(horizontal), bool(vertical)
        self.flip_p = probability("RandomFlip", p)

    def draw(self, key, shape):
        # One uniform draw for both axes; a disabled axis never flips.
        u = jax.random.uniform(key, (2,))
        return {"horizontal": u[0] < self.flip_p * self.horizontal,
                "vertical": u[1] < self.flip_p * self.vertical}

    def transform(self, image, params, stats=None):
        if self.horizontal:
            image = jnp.where(params["horizontal"], image[:, ::-1], image)
        if self.vertical:
            image = jnp.where(params["vertical"], image[::-1], image)
        return image
