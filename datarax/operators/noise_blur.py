"""`GaussianNoise` and `GaussianBlur` of channels-last images.

Per element: image (H, W, C) -> same shape and dtype (integer results rounded and
clipped).
Randomness, keyed on (stream key, epoch, index):
  GaussianNoise: the noise field of a record (drawn from its key inside `apply`, so no
    (B, H, W, C) array of params is materialised twice) and its std ~ U(std range).
  GaussianBlur: sigma ~ U(sigma range) per record; the separable kernel is built from
    it inside the compiled function, so every sigma shares one program.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.operators._checks import probability, stochastic_config, value_range
from datarax.operators._pixels import max_value, restore, working
from datarax.operators.image_operator import ImageOperator


class GaussianNoise(ImageOperator):
    """Adds N(mean, std^2) noise, in units of the value range (1 = white).

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      std: the noise standard deviation, or a (min, max) range to draw it from.
      mean: the noise mean.
      clip: clip the result to the value range (integer results are always clipped).
      p: probability that a record gets noise.
      fields: the image field(s); every field of a record gets the same noise pattern.
      rngs: `nnx.Rngs` with the config's stream.
    """

    def __init__(self, config: OperatorConfig | None = None, *,
                 std: float | tuple[float, float] = 0.1, mean: float = 0.0,
                 clip: bool = True, p: float = 1.0, fields: str | Sequence[str] = "image",
                 rngs: nnx.Rngs | None = None):
        p = probability("GaussianNoise", p)
        super().__init__(stochastic_config("GaussianNoise", config), fields=fields,
                         p=None if p == 1.0 else p, rngs=rngs)
        self.std = value_range("GaussianNoise", "std", std, low=0.0)
        self.mean = float(mean)
        self.clip = bool(clip)

    def draw(self, key, shape):
        std_key, noise_key = jax.random.split(key)
        return {"std": jax.random.uniform(std_key, (), minval=self.std[0], maxval=self.std[1]),
                "noise_key": noise_key}

    def transform(self, image, params, stats=None):
        bound = max_value(image.dtype)
        noise = jax.random.normal(params["noise_key"], image.shape, jnp.float32)
        result = working(image) + (self.mean + params["std"] * noise) * bound
        if self.clip:
            result = jnp.clip(result, 0.0, bound)
        return restore(result, image.dtype)


def gaussian_kernel(sigma: jax.Array, radius: int) -> jax.Array:
    """Normalised 1-D Gaussian weights at offsets -radius..radius, shape (2r + 1,)."""
    x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    weights = jnp.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def blur_axis(image: jax.Array, weights: jax.Array, axis: int) -> jax.Array:
    """Correlates `image` with `weights` along `axis`, reflecting at the borders.

    A sum of shifted slices rather than a convolution: the taps are few, the sums fuse
    with the neighbouring elementwise work, and a per-record kernel costs nothing extra
    under vmap.
    """
    radius = (weights.shape[0] - 1) // 2
    widths = [(0, 0)] * image.ndim
    widths[axis] = (radius, radius)
    padded = jnp.pad(image, widths, mode="reflect")
    size = image.shape[axis]
    out = jnp.zeros_like(image)
    for i in range(weights.shape[0]):
        out = out + weights[i] * jax.lax.slice_in_dim(padded, i, i + size, axis=axis)
    return out


class GaussianBlur(ImageOperator):
    """Blurs with a Gaussian of random sigma, separably, reflecting at the borders.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      kernel_size: odd int, or an (height, width) pair of odd ints.
      sigma: a fixed sigma, or a (min, max) range (torchvision's default (0.1, 2.0)).
      p: probability that a record is blurred.
      fields: the image field(s).
      rngs: `nnx.Rngs` with the config's stream.
    """

    def __init__(self, config: OperatorConfig | None = None, *,
                 kernel_size: int | tuple[int, int],
                 sigma: float | tuple[float, float] = (0.1, 2.0), p: float = 1.0,
                 fields: str | Sequence[str] = "image", rngs: nnx.Rngs | None = None):
        p = probability("GaussianBlur", p)
        super().__init__(stochastic_config("GaussianBlur", config), fields=fields,
                         p=None if p == 1.0 else p, rngs=rngs)
        sizes = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(sizes) != 2 or any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in sizes):
            raise ValueError(f"GaussianBlur: kernel_size must be an odd positive int or a "
                             f"pair of them, got {kernel_size!r}")
        self.kernel_size = sizes
        self.sigma = value_range("GaussianBlur", "sigma", sigma, low=1e-6)

    def image_shape(self, data):
        shape = super().image_shape(data)
        if self.kernel_size[0] // 2 >= shape[0] or self.kernel_size[1] // 2 >= shape[1]:
            raise ValueError(
                f"GaussianBlur: kernel_size {self.kernel_size} is too large for field(s) "
                f"{self.fields} of size {shape[:2]}; the half-width must be smaller than "
                f"the image")
        return shape

    def draw(self, key, shape):
        return {"sigma": jax.random.uniform(key, (), minval=self.sigma[0],
                                            maxval=self.sigma[1])}

    def transform(self, image, params, stats=None):
        result = working(image)
        for axis, size in enumerate(self.kernel_size):
            result = blur_axis(result, gaussian_kernel(params["sigma"], size // 2), axis)
        return restore(result, image.dtype)
