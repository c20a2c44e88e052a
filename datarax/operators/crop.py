"""Crops of channels-last images: `CenterCrop`, `RandomCrop`, `RandomResizedCrop`.

Per element: image (H, W, C) -> (h, w, C), same dtype; every field in `fields` is
cropped alike. A crop larger than the (padded) image is a ValueError at the first trace.
Randomness (RandomCrop, RandomResizedCrop): the crop box of a record, keyed on
(stream key, epoch, index). The box is a few scalars per record; cutting it out is a
`dynamic_slice` (RandomCrop) or a `scale_and_translate` resample (RandomResizedCrop),
so boxes of different sizes share one compiled function.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import plain_config, size_pair, stochastic_config, value_range
from datarax.operators._pixels import restore, working
from datarax.operators.image_operator import ImageOperator

PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
             "symmetric": "symmetric"}


def _check_fits(owner: str, fields, size, height: int, width: int, what: str = "") -> None:
    if size[0] > height or size[1] > width:
        raise ValueError(
            f"{owner}: crop size {tuple(size)} is larger than field(s) {fields} "
            f"({height}, {width}){what}; pass a smaller size or Resize first")


class CenterCrop(ImageOperator):
    """Cuts the central (h, w) window (torchvision's rounding of the offset).

    Args:
      config: `OperatorConfig()` by default.
      size: (height, width) or an int for a square.
      fields: the image field(s).
    """

    def __init__(self, config: OperatorConfig | None = None, *, size: int | tuple[int, int],
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), fields=fields, rngs=rngs)
        self.size = size_pair("CenterCrop", size)

    def image_shape(self, data):
        shape = super().image_shape(data)
        _check_fits("CenterCrop", self.fields, self.size, *shape[:2])
        return shape

    def transform(self, image, params, stats=None):
        (h, w), (height, width) = self.size, image.shape[:2]
        top, left = int(round((height - h) / 2.0)), int(round((width - w) / 2.0))
        return image[top:top + h, left:left + w]


class RandomCrop(ImageOperator):
    """Cuts a uniformly placed (h, w) window, optionally from a padded image.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      size: (height, width) or an int for a square.
      padding: pixels added on every side first: an int, or (vertical, horizontal).
      padding_mode: 'constant' (with `fill`), 'edge', 'reflect' or 'symmetric'.
      fill: the constant padding value.
      fields: the image field(s), cropped alike.
      rngs: `nnx.Rngs` with the config's stream.

    Random params per record: 'top', 'left' (int32) in the padded image.
    """

    def __init__(self, config: OperatorConfig | None = None, *, size: int | tuple[int, int],
                 padding: int | tuple[int, int] = 0, padding_mode: str = "constant",
                 fill: float = 0.0, fields: str | Sequence[str] = "image",
                 rngs: nnx.Rngs | None = None):
        super().__init__(stochastic_config("RandomCrop", config), fields=fields, rngs=rngs)
        self.size = size_pair("RandomCrop", size)
        pad = (padding, padding) if isinstance(padding, int) else tuple(padding)
        if len(pad) != 2 or min(pad) < 0:
            raise ValueError(f"RandomCrop: padding must be an int >= 0 or a (vertical, "
                             f"horizontal) pair, got {padding!r}")
        self.padding = pad
        if padding_mode not in PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {list(PAD_MODES)}, "
                             f"got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.fill = float(fill)

    def image_shape(self, data):
        shape = super().image_shape(data)
        _check_fits("RandomCrop", self.fields, self.size, shape[0] + 2 * self.padding[0],
                    shape[1] + 2 * self.padding[1], " after padding")
        return shape

    def draw(self, key, shape):
        height, width = shape[0] + 2 * self.padding[0], shape[1] + 2 * self.padding[1]
        # One uniform draw for both offsets (randint would cost three threefry hashes).
        u = jax.random.uniform(key, (2,))
        spans = jnp.asarray([height - self.size[0] + 1, width - self.size[1] + 1], jnp.float32)
        top, left = jnp.minimum(jnp.floor(u * spans), spans - 1).astype(jnp.int32)
        return {"top": top, "left": left}

    def transform(self, image, params, stats=None):
        (ph, pw) = self.padding
        if ph or pw:
            widths = ((ph, ph), (pw, pw), (0, 0))
            if self.padding_mode == "constant":
                image = jnp.pad(image, widths, constant_values=jnp.asarray(self.fill, image.dtype))
            else:
                image = jnp.pad(image, widths, mode=self.padding_mode)
        return jax.lax.dynamic_slice(
            image, (params["top"], params["left"], 0), self.size + (image.shape[2],))


class RandomResizedCrop(ImageOperator):
    """A random box of random area and aspect ratio, resized to `size` (Inception crop).

    Follows torchvision: up to 10 tries of area ~ U(scale) * H * W and log-aspect
    ~ U(log ratio); the first box that fits wins; if none does, a central box with the
    aspect ratio clamped into `ratio`. The box is resampled with `jax.image`'s
    `scale_and_translate` (antialiased), like Pillow's `resize(box=...)`.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      size: output (height, width) or an int for a square.
      scale: range of the box area as a fraction of the image area, within (0, 1].
      ratio: range of the box's width / height.
      method: 'bilinear', 'bicubic', 'lanczos3' or 'lanczos5'.
      antialias: widen the kernel when downsampling.
      fields: the image field(s), cropped alike.
      rngs: `nnx.Rngs` with the config's stream.

    Random params per record: 'top', 'left', 'height', 'width' of the box (float32).
    """

    ATTEMPTS = 10
    _METHODS = {"bilinear": "linear", "bicubic": "cubic", "lanczos3": "lanczos3",
                "lanczos5": "lanczos5"}

    def __init__(self, config: OperatorConfig | None = None, *, size: int | tuple[int, int],
                 scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), method: str = "bilinear",
                 antialias: bool = True, fields: str | Sequence[str] = "image",
                 rngs: nnx.Rngs | None = None):
        name = "RandomResizedCrop"
        super().__init__(stochastic_config(name, config), fields=fields, rngs=rngs)
        self.size = size_pair(name, size)
        self.scale = value_range(name, "scale", scale, low=1e-12, high=1.0)
        self.ratio = value_range(name, "ratio", ratio, low=1e-12)
        if method not in self._METHODS:
            raise ValueError(f"{name}: method must be one of {list(self._METHODS)}, "
                             f"got {method!r}")
        self.method = self._METHODS[method]
        self.antialias = bool(antialias)

    def draw(self, key, shape):
        height, width = shape[:2]
        n = self.ATTEMPTS
        k_area, k_ratio, k_top, k_left = jax.random.split(key, 4)
        area = height * width * jax.random.uniform(k_area, (n,), minval=self.scale[0],
                                                   maxval=self.scale[1])
        log_ratio = jax.random.uniform(k_ratio, (n,), minval=math.log(self.ratio[0]),
                                       maxval=math.log(self.ratio[1]))
        aspect = jnp.exp(log_ratio)
        w = jnp.round(jnp.sqrt(area * aspect))
        h = jnp.round(jnp.sqrt(area / aspect))
        fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        top = jnp.floor(jax.random.uniform(k_top, (n,)) * (height - h + 1))
        left = jnp.floor(jax.random.uniform(k_left, (n,)) * (width - w + 1))
        first = jnp.argmax(fits)  # the first box that fits (0 when none does)
        # The fallback: the whole image, its aspect ratio clamped into `ratio`.
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fw, fh = round(height * self.ratio[1]), height
        else:
            fw, fh = width, height
        fallback = jnp.array([(height - fh) // 2, (width - fw) // 2, fh, fw], jnp.float32)
        chosen = jnp.stack([top[first], left[first], h[first], w[first]])
        box = jnp.where(fits.any(), chosen, fallback)
        return {"top": box[0], "left": box[1], "height": box[2], "width": box[3]}

    def transform(self, image, params, stats=None):
        out_h, out_w = self.size
        scale = jnp.stack([out_h / params["height"], out_w / params["width"]])
        translation = -jnp.stack([params["top"], params["left"]]) * scale
        result = jax.image.scale_and_translate(
            working(image), (out_h, out_w, image.shape[2]), (0, 1), scale, translation,
            method=self.method, antialias=self.antialias)
        return restore(result, image.dtype)
