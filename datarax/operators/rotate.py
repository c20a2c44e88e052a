"""`Rotate`: random rotation of channels-last images about their centre, bilinear.

Per element: image (H, W, C) -> same shape and dtype (integer results rounded and
clipped); positive angles turn the content counter-clockwise as displayed
(torchvision's convention). The centre is ((H - 1) / 2, (W - 1) / 2) in pixel indices;
samples that fall outside the image read `fill` (scipy's 'grid-constant').
Randomness: one angle ~ U(degrees) per record, keyed on (stream key, epoch, index).
The result is differentiable in the image and the angle.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import probability, stochastic_config, value_range
from datarax.operators._pixels import restore, working
from datarax.operators.image_operator import ImageOperator


def bilinear_sample(image: jax.Array, ys: jax.Array, xs: jax.Array, fill) -> jax.Array:
    """image (H, W, C) read at float coordinates ys, xs (h, w) -> (h, w, C).

    Neighbours outside the image contribute `fill`, so the border fades into it.
    """
    height, width = image.shape[:2]
    y0, x0 = jnp.floor(ys), jnp.floor(xs)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)

    def read(y, x):
        inside = ((y >= 0) & (y < height) & (x >= 0) & (x < width))[..., None]
        pixel = image[jnp.clip(y, 0, height - 1), jnp.clip(x, 0, width - 1)]
        return jnp.where(inside, pixel, fill)

    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def rotate_image(image: jax.Array, angle: jax.Array, fill=0.0) -> jax.Array:
    """image (H, W, C) float turned by `angle` degrees counter-clockwise, bilinear."""
    height, width = image.shape[:2]
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                          jnp.arange(width, dtype=jnp.float32), indexing="ij")
    theta = jnp.deg2rad(angle)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    # In up-pointing coordinates the source of an output pixel is it turned by -angle.
    u, v = xs - cx, cy - ys
    src_x = cx + u * cos + v * sin
    src_y = cy - (-u * sin + v * cos)
    return bilinear_sample(image, src_y, src_x, fill)


class Rotate(ImageOperator):
    """Rotates each record by an angle drawn uniformly from `degrees`.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      degrees: d for U(-d, d), or a (min, max) range in degrees; (a, a) is a fixed
        rotation by a.
      fill: the value of pixels rotated in from outside (image units).
      p: probability that a record is rotated.
      fields: the image field(s), rotated alike.
      rngs: `nnx.Rngs` with the config's stream.

    Random params per record: 'angle' (float32 degrees), 'apply' when p < 1.
    """

    def __init__(self, config: OperatorConfig | None = None, *,
                 degrees: float | tuple[float, float], fill: float = 0.0, p: float = 1.0,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        p = probability("Rotate", p)
        super().__init__(stochastic_config("Rotate", config), fields=fields,
                         p=None if p == 1.0 else p, rngs=rngs)
        self.degrees = value_range("Rotate", "degrees", degrees, around=0.0)
        self.fill = float(fill)

    def draw(self, key, shape):
        return {"angle": jax.random.uniform(key, (), minval=self.degrees[0],
                                            maxval=self.degrees[1])}

    def transform(self, image, params, stats=None):
        return restore(rotate_image(working(image), params["angle"], self.fill), image.dtype)
