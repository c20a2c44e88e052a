"""Random erasing of rectangles: `Cutout` and `RandomErasing`.

Per element: image (H, W, C) -> same shape and dtype; pixels inside the record's box
take `value`. The box is four scalars per record, and erasing is a select against a
box mask, so boxes of any size share one compiled function.
Randomness: the box (and, with value='random', the noise), keyed on (stream key,
epoch, index).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import probability, size_pair, stochastic_config, value_range
from datarax.operators._pixels import max_value, restore
from datarax.operators.image_operator import ImageOperator


def box_mask(height: int, width: int, top, left, box_h, box_w) -> jax.Array:
    """(H, W, 1) bool: True inside rows [top, top + box_h) and cols [left, left + box_w)."""
    rows = jnp.arange(height)[:, None, None]
    cols = jnp.arange(width)[None, :, None]
    return (rows >= top) & (rows < top + box_h) & (cols >= left) & (cols < left + box_w)


def _fill(owner: str, value):
    if value == "random":
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: value must be a number or 'random', got {value!r}") from None


def _erase(image, params, value):
    height, width = image.shape[:2]
    mask = box_mask(height, width, params["top"], params["left"], params["height"],
                    params["width"])
    if value == "random":
        fill = jax.random.normal(params["noise_key"], image.shape) * max_value(image.dtype)
        fill = restore(fill, image.dtype) if jnp.issubdtype(image.dtype, jnp.integer) else fill
    else:
        fill = value
    return jnp.where(mask, jnp.asarray(fill, image.dtype), image)


class Cutout(ImageOperator):
    """Erases a (h, w) box centred on a uniformly drawn pixel, cut at the borders.

    DeVries & Taylor's Cutout: the centre may lie anywhere, so near a border only part
    of the box is inside the image.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      size: the box (height, width), or an int for a square.
      value: the fill value (image units), or 'random' for N(0, 1) noise.
      p: probability that a record is erased.
      fields: the image field(s), erased alike.
      rngs: `nnx.Rngs` with the config's stream.
    """

    def __init__(self, config: OperatorConfig | None = None, *, size: int | tuple[int, int],
                 value: float | str = 0.0, p: float = 1.0,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        p = probability("Cutout", p)
        super().__init__(stochastic_config("Cutout", config), fields=fields,
                         p=None if p == 1.0 else p, rngs=rngs)
        self.size = size_pair("Cutout", size)
        self.value = _fill("Cutout", value)

    def draw(self, key, shape):
        cy_key, cx_key, noise_key = jax.random.split(key, 3)
        cy = jax.random.randint(cy_key, (), 0, shape[0])
        cx = jax.random.randint(cx_key, (), 0, shape[1])
        h, w = self.size
        return {"top": cy - h // 2, "left": cx - w // 2, "height": jnp.int32(h),
                "width": jnp.int32(w), "noise_key": noise_key}

    def transform(self, image, params, stats=None):
        return _erase(image, params, self.value)


class RandomErasing(ImageOperator):
    """Erases a random box of random area and aspect ratio (Zhong et al.; torchvision).

    Up to 10 tries of area ~ U(scale) * H * W and log-aspect ~ U(log ratio); the first
    box that fits is erased; if none fits, the record is unchanged.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      p: probability that a record is erased.
      scale: range of the box area as a fraction of the image.
      ratio: range of the box's height / width (torchvision's convention).
      value: the fill value (image units), or 'random' for N(0, 1) noise.
      fields: the image field(s), erased alike.
      rngs: `nnx.Rngs` with the config's stream.
    """

    ATTEMPTS = 10

    def __init__(self, config: OperatorConfig | None = None, *, p: float = 0.5,
                 scale: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3), value: float | str = 0.0,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        name = "RandomErasing"
        super().__init__(stochastic_config(name, config), fields=fields,
                         p=probability(name, p), rngs=rngs)
        self.scale = value_range(name, "scale", scale, low=0.0, high=1.0)
        self.ratio = value_range(name, "ratio", ratio, low=1e-12)
        self.value = _fill(name, value)

    def draw(self, key, shape):
        height, width = shape[:2]
        n = self.ATTEMPTS
        k_area, k_ratio, k_top, k_left, noise_key = jax.random.split(key, 5)
        area = height * width * jax.random.uniform(k_area, (n,), minval=self.scale[0],
                                                   maxval=self.scale[1])
        aspect = jnp.exp(jax.random.uniform(k_ratio, (n,), minval=math.log(self.ratio[0]),
                                            maxval=math.log(self.ratio[1])))
        h = jnp.round(jnp.sqrt(area * aspect)).astype(jnp.int32)
        w = jnp.round(jnp.sqrt(area / aspect)).astype(jnp.int32)
        fits = (h < height) & (w < width) & (h > 0) & (w > 0)
        top = jnp.floor(jax.random.uniform(k_top, (n,)) * (height - h + 1)).astype(jnp.int32)
        left = jnp.floor(jax.random.uniform(k_left, (n,)) * (width - w + 1)).astype(jnp.int32)
        first = jnp.argmax(fits)
        # No box fits: an empty box leaves the record unchanged.
        return {"top": top[first], "left": left[first],
                "height": jnp.where(fits.any(), h[first], 0),
                "width": jnp.where(fits.any(), w[first], 0), "noise_key": noise_key}

    def transform(self, image, params, stats=None):
        return _erase(image, params, self.value)
