"""Pure colour functions on one float image (H, W, C) in [0, bound] (torchvision's maths).

`bound` is the value of white: 1 for float images, 255 for integer ones (see _pixels).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# ITU-R 601-2 luma, as Pillow's convert('L') and torchvision's rgb_to_grayscale.
LUMA = (0.299, 0.587, 0.114)


def grayscale(image: jax.Array) -> jax.Array:
    """(H, W, 3) -> (H, W, 1) luma; (H, W, 1) is returned as is."""
    if image.shape[-1] == 1:
        return image
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b)[..., None]


def blend(image: jax.Array, other: jax.Array, ratio, bound: float) -> jax.Array:
    """ratio * image + (1 - ratio) * other, clipped to [0, bound]."""
    return jnp.clip(ratio * image + (1.0 - ratio) * other, 0.0, bound)


def adjust_brightness(image, factor, bound):
    return blend(image, jnp.zeros_like(image), factor, bound)


def adjust_contrast(image, factor, bound):
    # The mean luma, as the luma of the channel means (the same number, as both are
    # linear): reducing the image per channel is ~8x faster on XLA:CPU than reducing a
    # luma image built from strided channel slices.
    channel_means = jnp.mean(image, axis=(0, 1))
    if image.shape[-1] == 1:
        mean_luma = channel_means[0]
    else:
        mean_luma = sum(w * channel_means[c] for c, w in enumerate(LUMA))
    return blend(image, mean_luma, factor, bound)


def adjust_saturation(image, factor, bound):
    if image.shape[-1] == 1:
        return image
    return blend(image, grayscale(image), factor, bound)


def rgb_to_hsv(rgb: jax.Array) -> jax.Array:
    """(..., 3) RGB in [0, 1] -> (..., 3) HSV in [0, 1] (hue as a fraction of a turn)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc, minc = jnp.max(rgb, -1), jnp.min(rgb, -1)
    chroma = maxc - minc
    grey = chroma <= 0
    # Grey pixels have no hue; dividing by 1 there keeps the gradient finite.
    s = chroma / jnp.where(grey, 1.0, maxc)
    divisor = jnp.where(grey, 1.0, chroma)
    # The branch is chosen by argmax, not by `maxc == r`: XLA may round a fused copy of
    # r differently from the one inside maxc, and an equality test then picks the
    # wrong branch. The formulas need no equality (torchvision's rc/gc/bc, expanded).
    largest = jnp.argmax(rgb, -1)
    h = jnp.where(largest == 0, (g - b) / divisor,
                  jnp.where(largest == 1, 2.0 + (b - r) / divisor, 4.0 + (r - g) / divisor))
    h = jnp.where(grey, 0.0, h)
    h = jnp.mod(h / 6.0 + 1.0, 1.0)
    return jnp.stack([h, s, maxc], -1)


def hsv_to_rgb(hsv: jax.Array) -> jax.Array:
    """(..., 3) HSV in [0, 1] -> (..., 3) RGB in [0, 1]."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = jnp.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = jnp.mod(sector, 6).astype(jnp.int32)
    p = jnp.clip(v * (1.0 - s), 0.0, 1.0)
    q = jnp.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = jnp.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = jnp.choose(sector, [v, q, p, p, t, v], mode="clip")
    g = jnp.choose(sector, [t, v, v, q, p, p], mode="clip")
    b = jnp.choose(sector, [p, p, t, v, v, q], mode="clip")
    return jnp.stack([r, g, b], -1)


def adjust_hue(image, shift, bound):
    """Turns the hue by `shift` (a fraction of a full turn, in [-0.5, 0.5])."""
    if image.shape[-1] == 1:
        return image
    hsv = rgb_to_hsv(image / bound)
    hsv = hsv.at[..., 0].set(jnp.mod(hsv[..., 0] + shift, 1.0))
    return hsv_to_rgb(hsv) * bound
