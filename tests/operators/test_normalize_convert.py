"""Normalize, ConvertDtype and Rescale: NumPy formulas, learnable params, gradients."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from datarax.operators import ConvertDtype, Normalize, Rescale


def test_normalize_matches_the_per_channel_formula(scenes_uint8, run):
    mean, std = [120.0, 110.0, 100.0], [60.0, 55.0, 50.0]
    out = run(Normalize(mean=mean, std=std), {"image": scenes_uint8})["image"]
    expect = (scenes_uint8.astype(np.float32) - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-6)


def test_learnable_normalize_gradients_match_finite_differences(scenes):
    op = Normalize(mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3], learnable=True)
    assert isinstance(op.mean, nnx.Param) and isinstance(op.std, nnx.Param)
    image = jnp.asarray(scenes[:2, :8, :8])

    graphdef, params, rest = nnx.split(op, nnx.Param, ...)

    def loss(params):
        return jnp.mean(nnx.merge(graphdef, params, rest)({"image": image})["image"] ** 2)

    check_grads(jax.jit(loss), (params,), order=1, modes=["rev"])
    check_grads(jax.jit(lambda v: Normalize(mean=0.5, std=0.2)({"image": v})["image"]),
                (image,), order=1, modes=["rev"])


def test_nnx_grad_reaches_the_learnable_params(scenes):
    op = Normalize(mean=0.0, std=1.0, learnable=True)
    grads = nnx.grad(lambda m: jnp.mean(m({"image": jnp.asarray(scenes)})["image"]))(op)
    assert float(grads["mean"][...][0]) == pytest.approx(-1.0, rel=1e-6)


def test_convert_dtype_round_trips_uint8_through_float(scenes_uint8, run):
    as_float = run(ConvertDtype(dtype=jnp.float32), {"image": scenes_uint8})["image"]
    np.testing.assert_allclose(as_float, scenes_uint8 / 255.0, rtol=1e-6)
    back = run(ConvertDtype(dtype=jnp.uint8), {"image": as_float})["image"]
    np.testing.assert_array_equal(back, scenes_uint8)
    clipped = run(ConvertDtype(dtype=jnp.uint8), {"image": np.array([[[[1.5, -0.2, 0.5]]]],
                                                                    np.float32)})["image"]
    np.testing.assert_array_equal(clipped.ravel(), [255, 0, 128])


def test_rescale_maps_uint8_to_minus_one_one(scenes_uint8, run):
    out = run(Rescale(scale=1 / 127.5, offset=-1.0), {"image": scenes_uint8})["image"]
    np.testing.assert_allclose(out, scenes_uint8 / 127.5 - 1.0, atol=1e-6)
