"""Fixtures for operator tests: real pixel data drawn with Pillow, record identities."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter


def draw_scene(seed: int, height: int = 24, width: int = 32) -> np.ndarray:
    """A (H, W, 3) uint8 picture: colour gradients, filled shapes, a softened edge.

    Drawn with Pillow's rasteriser, so edges, anti-aliasing and saturated colours look
    like a photograph's rather than like uniform noise.
    """
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                     (x + y) * 127 // (height + width)], -1).astype(np.uint8)
    img = Image.fromarray(base, "RGB")
    pen = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.randint(0, width - 4), rng.randint(0, height - 4)
        x1, y1 = x0 + rng.randint(3, width // 2), y0 + rng.randint(3, height // 2)
        colour = tuple(int(c) for c in rng.randint(0, 256, 3))
        if rng.rand() < 0.5:
            pen.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            pen.rectangle((x0, y0, x1, y1), fill=colour)
    img = img.filter(ImageFilter.SMOOTH)
    return np.asarray(img, np.uint8)


@pytest.fixture(scope="session")
def scenes_uint8() -> np.ndarray:
    """(4, 24, 32, 3) uint8 pictures."""
    return np.stack([draw_scene(seed) for seed in range(4)])


@pytest.fixture(scope="session")
def scenes(scenes_uint8) -> np.ndarray:
    """The pictures as float32 in [0, 1]."""
    return scenes_uint8.astype(np.float32) / 255.0


def record_metadata(indices, epoch: int = 0) -> dict[str, jax.Array]:
    """Record identity for records `indices` of epoch `epoch`."""
    indices = np.asarray(indices, np.int32)
    return {"epoch": jnp.full(indices.shape, epoch, jnp.int32), "index": jnp.asarray(indices)}


@nnx.jit
def _call_and_draw(op, batch, metadata):
    out = op(batch, metadata)
    if metadata is None or not op.config.stochastic:
        return out, None
    size = next(iter(batch.values())).shape[0]
    shapes = {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in batch.items()}
    return out, op.generate_random_params(op.element_keys(metadata, size), shapes)


def call_and_draw(op, batch, metadata=None):
    """(op(batch, metadata), the random params op drew), compiled as one program, as NumPy.

    One jit per test, as a pipeline runs operators (eager calls dispatch every
    primitive on its own and are slow); the params are those `__call__` uses, since
    they depend only on the operator's key and the record identities.
    """
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    as_numpy = lambda a: np.asarray(jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key) else a)
    return jax.tree.map(as_numpy, _call_and_draw(op, batch, metadata))


@pytest.fixture(scope="session")
def meta():
    """`meta(indices, epoch=0)`: record identity metadata (see record_metadata)."""
    return record_metadata


@pytest.fixture(scope="session")
def run():
    """`run(op, batch, metadata=None)` -> output (see call_and_draw)."""
    return lambda op, batch, metadata=None: call_and_draw(op, batch, metadata)[0]


@pytest.fixture(scope="session")
def run_drawn():
    """`run_drawn(op, batch, metadata)` -> (output, params) (see call_and_draw)."""
    return call_and_draw
