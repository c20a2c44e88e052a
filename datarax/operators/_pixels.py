"""Pixel value conventions shared by the image operators.

Images are uint8 (or another integer dtype) with values in [0, 255], or floating with
values in [0, 1]. An operator computes in float32 in the image's own range and returns
the input dtype: integer results are rounded and clipped, as torchvision does for
uint8 tensors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def max_value(dtype) -> float:
    """The value of a white pixel: 255 for integer dtypes, 1 for floating ones."""
    return 255.0 if jnp.issubdtype(dtype, jnp.integer) else 1.0


def working(image: jax.Array) -> jax.Array:
    """The image as a floating array in its own value range (float32 unless floating)."""
    if jnp.issubdtype(image.dtype, jnp.floating):
        return image
    return image.astype(jnp.float32)


def restore(result: jax.Array, dtype) -> jax.Array:
    """A float result back in `dtype` (rounded and clipped for integer dtypes)."""
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        return jnp.clip(jnp.round(result), info.min, info.max).astype(dtype)
    return result.astype(dtype)
