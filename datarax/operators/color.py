"""Colour operators on channels-last images (torchvision's maths).

Per element: image (H, W, C) -> same shape and dtype (C = 3, or 1 where noted);
integer images are computed in [0, 255] and rounded, float images are taken in [0, 1].
Results are clipped to the value range, as torchvision does.
Randomness: one factor per record and operator, keyed on (stream key, epoch, index):
  Brightness  x * f                           f ~ U(brightness range)
  Contrast    f * x + (1 - f) * mean(luma(x))  f ~ U(contrast range)
  Saturation  f * x + (1 - f) * luma(x)        f ~ U(saturation range)
  Hue         hue + f (in HSV, turns)          f ~ U(hue range) within [-0.5, 0.5]
A single number v for a factor means [max(0, 1 - v), 1 + v] (hue: [-v, v]).
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators import _color_math as cm
from datarax.operators._checks import plain_config, probability, stochastic_config, value_range
from datarax.operators._pixels import max_value, restore, working
from datarax.operators.image_operator import ImageOperator

# name -> (adjust function, the identity factor, the accepted (low, high) of factors)
_ADJUSTMENTS = {
    "brightness": (cm.adjust_brightness, 1.0, (0.0, None)),
    "contrast": (cm.adjust_contrast, 1.0, (0.0, None)),
    "saturation": (cm.adjust_saturation, 1.0, (0.0, None)),
    "hue": (cm.adjust_hue, 0.0, (-0.5, 0.5)),
}


def _factor_range(owner: str, kind: str, value):
    _, identity, (low, high) = _ADJUSTMENTS[kind]
    return value_range(owner, kind, value, around=identity, low=low, high=high)


class _RandomFactor(ImageOperator):
    """One colour adjustment with a factor drawn per record (see the module docstring)."""

    kind: str = ""
    channels = (1, 3)

    def __init__(self, config: OperatorConfig | None = None, *, factor, p: float = 1.0,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        name = type(self).__name__
        p = probability(name, p)
        super().__init__(stochastic_config(name, config), fields=fields,
                         p=None if p == 1.0 else p, rngs=rngs)
        self.factor = _factor_range(name, self.kind, factor)

    def draw(self, key, shape):
        return {"factor": jax.random.uniform(key, (), minval=self.factor[0],
                                             maxval=self.factor[1])}

    def transform(self, image, params, stats=None):
        adjust = _ADJUSTMENTS[self.kind][0]
        result = adjust(working(image), params["factor"], max_value(image.dtype))
        return restore(result, image.dtype)


class Brightness(_RandomFactor):
    """Scales pixel values by a random factor. Args: config, factor, p, fields, rngs."""

    kind = "brightness"


class Contrast(_RandomFactor):
    """Blends with the mean luma by a random factor. Args: config, factor, p, fields, rngs."""

    kind = "contrast"


class Saturation(_RandomFactor):
    """Blends with the luma image by a random factor (RGB only)."""

    kind = "saturation"
    channels = (3,)


class Hue(_RandomFactor):
    """Turns the hue by a random fraction of a turn (RGB only)."""

    kind = "hue"
    channels = (3,)


class ColorJitter(ImageOperator):
    """Brightness, contrast, saturation and hue jitter in one operator.

    The adjustments run in that fixed order (torchvision draws a random order per
    call; a fixed order keeps one fused program instead of all 24 orders under vmap).
    An adjustment left at its default (0) is skipped at trace time.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      brightness, contrast, saturation: v for U(max(0, 1 - v), 1 + v) or (min, max).
      hue: v for U(-v, v) with v <= 0.5, or (min, max) within [-0.5, 0.5].
      p: probability that a record is jittered at all.
      fields: the image field(s) (RGB unless only brightness/contrast are used).
      rngs: `nnx.Rngs` with the config's stream.

    Random params per record: one factor per enabled adjustment.
    """

    def __init__(self, config: OperatorConfig | None = None, *, brightness=0.0,
                 contrast=0.0, saturation=0.0, hue=0.0, p: float = 1.0,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        p = probability("ColorJitter", p)
        super().__init__(stochastic_config("ColorJitter", config), fields=fields,
                         p=None if p == 1.0 else p, rngs=rngs)
        ranges = {"brightness": brightness, "contrast": contrast,
                  "saturation": saturation, "hue": hue}
        self.ranges = tuple(
            (kind, _factor_range("ColorJitter", kind, value)) for kind, value in ranges.items()
            if _factor_range("ColorJitter", kind, value) != (_ADJUSTMENTS[kind][1],) * 2)
        self.channels = (3,) if any(k in ("saturation", "hue") for k, _ in self.ranges) else (1, 3)

    def draw(self, key, shape):
        keys = jax.random.split(key, 4)
        return {kind: jax.random.uniform(keys[i], (), minval=lo, maxval=hi)
                for i, (kind, (lo, hi)) in enumerate(self.ranges)}

    def transform(self, image, params, stats=None):
        bound = max_value(image.dtype)
        result = working(image)
        for kind, _ in self.ranges:
            result = _ADJUSTMENTS[kind][0](result, params[kind], bound)
        return restore(result, image.dtype)


class Grayscale(ImageOperator):
    """RGB -> luma (0.299 R + 0.587 G + 0.114 B), as Pillow's convert('L').

    Args:
      config: `OperatorConfig()` by default.
      num_output_channels: 1, or 3 to repeat the luma (keeps the shape).
      fields: the image field(s), RGB.
    """

    channels = (3,)

    def __init__(self, config: OperatorConfig | None = None, *, num_output_channels: int = 1,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), fields=fields, rngs=rngs)
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got "
                             f"{num_output_channels!r}")
        self.num_output_channels = num_output_channels

    def transform(self, image, params, stats=None):
        luma = cm.grayscale(working(image))
        luma = jnp.repeat(luma, self.num_output_channels, axis=-1)
        return restore(luma, image.dtype)


class RandomGrayscale(ImageOperator):
    """Turns a record grey (luma repeated on 3 channels) with probability `p`.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      p: probability that a record turns grey.
      fields: the image field(s), RGB.
      rngs: `nnx.Rngs` with the config's stream.
    """

    channels = (3,)

    def __init__(self, config: OperatorConfig | None = None, *, p: float = 0.1,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        super().__init__(stochastic_config("RandomGrayscale", config), fields=fields,
                         p=probability("RandomGrayscale", p), rngs=rngs)

    def transform(self, image, params, stats=None):
        luma = jnp.repeat(cm.grayscale(working(image)), 3, axis=-1)
        return restore(luma, image.dtype)
