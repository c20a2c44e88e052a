"""Noise, blur and erasing against SciPy and NumPy references."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage as ndi
from jax.test_util import check_grads

from datarax.operators import Cutout, GaussianBlur, GaussianNoise, RandomErasing


def test_gaussian_blur_matches_scipy_gaussian_filter(scenes, meta, run_drawn):
    op = GaussianBlur(kernel_size=7, sigma=(0.5, 2.0), rngs=nnx.Rngs(augment=0))
    out, p = run_drawn(op, {"image": scenes}, meta(range(4)))
    for i in range(4):
        sigma = float(p["sigma"][i])
        # truncate = radius / sigma gives scipy's kernel radius 3; numpy 'reflect' is
        # scipy 'mirror' (the edge pixel is not repeated).
        ref = ndi.gaussian_filter(scenes[i], sigma=(sigma, sigma, 0), truncate=3 / sigma,
                                  mode="mirror")
        np.testing.assert_allclose(out["image"][i], ref, atol=1e-5)


def test_gaussian_noise_has_the_drawn_std_and_is_keyed_on_the_record(meta, run_drawn):
    flat = np.full((4, 64, 64, 3), 0.5, np.float32)
    op = GaussianNoise(std=(0.02, 0.1), rngs=nnx.Rngs(augment=0))
    out, p = run_drawn(op, {"image": flat}, meta(range(4)))
    noise = (out["image"] - 0.5).reshape(4, -1)
    # 12288 samples each: the sample std is within ~2% of the true one (6 sigma: 4%).
    np.testing.assert_allclose(noise.std(1), p["std"], rtol=0.04)
    np.testing.assert_allclose(noise.mean(1), 0.0, atol=0.004)
    again, _ = run_drawn(op, {"image": flat[[2, 0]]}, meta([2, 0]))
    np.testing.assert_array_equal(again["image"], out["image"][[2, 0]])


def test_cutout_erases_the_drawn_box_cut_at_the_borders(scenes_uint8, meta, run_drawn):
    op = Cutout(size=(10, 12), value=7, fields=("image", "mask"), rngs=nnx.Rngs(augment=4))
    mask = np.ones((4, 24, 32, 1), np.uint8)
    out, p = run_drawn(op, {"image": scenes_uint8, "mask": mask}, meta(range(4)))
    for i in range(4):
        expect, expect_mask = scenes_uint8[i].copy(), mask[i].copy()
        t, l = p["top"][i], p["left"][i]
        box = np.s_[max(t, 0):max(t + 10, 0), max(l, 0):max(l + 12, 0)]
        expect[box], expect_mask[box] = 7, 7
        np.testing.assert_array_equal(out["image"][i], expect)
        np.testing.assert_array_equal(out["mask"][i], expect_mask)


def test_random_erasing_boxes_fit_and_respect_scale(scenes, meta, run_drawn):
    op = RandomErasing(p=1.0, scale=(0.05, 0.2), value=0.0, rngs=nnx.Rngs(augment=5))
    out, p = run_drawn(op, {"image": scenes}, meta(range(4)))
    for i in range(4):
        t, l, h, w = p["top"][i], p["left"][i], p["height"][i], p["width"][i]
        assert 0 <= t and t + h <= 24 and 0 <= l and l + w <= 32
        assert 0.05 * 0.9 <= h * w / (24 * 32) <= 0.2 * 1.1
        expect = scenes[i].copy()
        expect[t:t + h, l:l + w] = 0.0
        np.testing.assert_array_equal(out["image"][i], expect)


def test_noise_and_blur_gradients_match_finite_differences(scenes, meta):
    x, md = jnp.asarray(0.2 + 0.6 * scenes[:2, :10, :10]), meta([0, 1])
    blur = GaussianBlur(kernel_size=5, rngs=nnx.Rngs(augment=0))
    noise = GaussianNoise(std=0.01, rngs=nnx.Rngs(augment=0))
    check_grads(jax.jit(lambda v: noise(blur({"image": v}, md), md)["image"]), (x,),
                order=1, modes=["rev"])
