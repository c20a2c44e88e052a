"""`Resize`: resample channels-last images to a fixed size.

Per element: image (H, W, C) -> (h, w, C), same dtype (integer results rounded and
clipped). Deterministic. Pixel centres sit at half-integers (as Pillow and
torchvision), and downsampling is antialiased by default (the kernel widens with the
scale factor, as Pillow does), through `jax.image.resize`.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import plain_config, size_pair
from datarax.operators._pixels import restore, working
from datarax.operators.image_operator import ImageOperator

METHODS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


def check_method(owner: str, method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"{owner}: method must be one of {METHODS}, got {method!r}")
    return method


def resized_shape(size: int | tuple[int, int], height: int, width: int) -> tuple[int, int]:
    """(h, w) for `size`: a pair is taken as is; an int is the shorter edge (torchvision)."""
    if not isinstance(size, int):
        return tuple(size)
    if height <= width:
        return size, max(1, int(size * width / height))
    return max(1, int(size * height / width)), size


class Resize(ImageOperator):
    """Resizes images to `size`.

    Args:
      config: `OperatorConfig()` by default.
      size: (height, width), or an int: the shorter edge becomes `size` and the aspect
        ratio is kept (torchvision's convention).
      method: one of 'nearest', 'bilinear', 'bicubic', 'lanczos3', 'lanczos5'.
      antialias: widen the kernel when downsampling (ignored by 'nearest').
      fields: the image field(s), resized alike.
    """

    def __init__(self, config: OperatorConfig | None = None, *,
                 size: int | tuple[int, int], method: str = "bilinear",
                 antialias: bool = True, fields: str | Sequence[str] = "image",
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), fields=fields, rngs=rngs)
        self.size = size if isinstance(size, int) and size > 0 else size_pair("Resize", size)
        self.method = check_method("Resize", method)
        self.antialias = bool(antialias)

    def transform(self, image, params, stats=None):
        height, width, channels = image.shape
        out = resized_shape(self.size, height, width) + (channels,)
        result = jax.image.resize(working(image), out, self.method, antialias=self.antialias)
        return restore(result, image.dtype)
