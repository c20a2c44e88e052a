"""Colour operators against NumPy, colorsys and Pillow references on drawn pictures."""

from __future__ import annotations

import colorsys

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads
from PIL import Image

from datarax.operators import (
    Brightness, ColorJitter, Contrast, Grayscale, Hue, RandomGrayscale, Saturation)

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def np_blend(image, other, factor):
    return np.clip(factor * image + (1 - factor) * other, 0, 1)


def np_brightness(image, f):
    return np_blend(image, 0.0, f)


def np_contrast(image, f):
    return np_blend(image, (image @ LUMA).mean(), f)


def np_saturation(image, f):
    return np_blend(image, (image @ LUMA)[..., None], f)


def np_hue(image, shift):
    """Per-pixel hue turn through the standard library's colorsys."""
    out = np.empty_like(image)
    for idx in np.ndindex(image.shape[:2]):
        h, s, v = colorsys.rgb_to_hsv(*image[idx])
        out[idx] = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return out


REFERENCES = {Brightness: np_brightness, Contrast: np_contrast,
              Saturation: np_saturation, Hue: np_hue}


def test_factor_operators_match_numpy_formulas(scenes, meta, run_drawn):
    batch, md = {"image": scenes}, meta(range(4))
    rngs = nnx.Rngs(augment=0)
    for cls, factor in ((Brightness, 0.5), (Contrast, 0.5), (Saturation, 0.8), (Hue, 0.4)):
        out, p = run_drawn(cls(factor=factor, rngs=rngs), batch, md)
        assert len(set(p["factor"].round(6))) == 4, cls.__name__
        for i in range(4):
            np.testing.assert_allclose(out["image"][i],
                                       REFERENCES[cls](scenes[i], p["factor"][i]),
                                       atol=2e-5, err_msg=cls.__name__)


def test_uint8_brightness_rounds_like_the_float_result(scenes_uint8, meta, run_drawn):
    out, p = run_drawn(Brightness(factor=(1.5, 1.5), rngs=nnx.Rngs(augment=0)),
                       {"image": scenes_uint8}, meta(range(4)))
    expect = np.clip(np.round(scenes_uint8.astype(np.float32) * 1.5), 0, 255)
    assert out["image"].dtype == np.uint8
    np.testing.assert_array_equal(out["image"], expect)


def test_color_jitter_is_the_four_adjustments_in_order(scenes, meta, run_drawn):
    op = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1,
                     rngs=nnx.Rngs(augment=1))
    out, p = run_drawn(op, {"image": scenes[:2]}, meta(range(2)))
    for i in range(2):
        expect = np_brightness(scenes[i], p["brightness"][i])
        expect = np_contrast(expect, p["contrast"][i])
        expect = np_saturation(expect, p["saturation"][i])
        expect = np_hue(expect, p["hue"][i])
        np.testing.assert_allclose(out["image"][i], expect, atol=5e-5)


def test_grayscale_matches_pillow_convert_l(scenes_uint8, run):
    out = run(Grayscale(num_output_channels=1), {"image": scenes_uint8})["image"]
    for i in range(4):
        ref = np.asarray(Image.fromarray(scenes_uint8[i]).convert("L"))
        # Pillow rounds in fixed point; at most one grey level apart.
        assert np.abs(out[i, ..., 0].astype(int) - ref.astype(int)).max() <= 1


def test_random_grayscale_greys_exactly_the_drawn_records(scenes, meta, run_drawn):
    out, p = run_drawn(RandomGrayscale(p=0.5, rngs=nnx.Rngs(augment=2)),
                       {"image": scenes}, meta(range(4)))
    for i in range(4):
        expect = np.repeat((scenes[i] @ LUMA)[..., None], 3, -1) if p["apply"][i] else scenes[i]
        np.testing.assert_allclose(out["image"][i], expect, atol=1e-6)


def test_colour_gradients_match_finite_differences(scenes, meta):
    # Interior values: the clips are inactive, so the maths is smooth at this point.
    # Hue is piecewise smooth (kinks where the largest channel or the HSV sector
    # changes), so its check uses a small step on a few pixels away from the kinks.
    x = jnp.asarray(0.1 + 0.8 * scenes[:2, :8, :8])
    op = ColorJitter(brightness=(0.9, 1.1), contrast=0.1, saturation=0.1,
                     rngs=nnx.Rngs(augment=0))
    md = meta([3, 4])
    check_grads(jax.jit(lambda v: op({"image": v}, md)["image"]), (x,), order=1,
                modes=["rev"])
    hue = Hue(factor=(0.05, 0.05), rngs=nnx.Rngs(augment=0))
    pixels = jnp.array([[[[0.8, 0.3, 0.4], [0.2, 0.7, 0.5]], [[0.3, 0.4, 0.9],
                                                                [0.6, 0.5, 0.2]]]])
    check_grads(jax.jit(lambda v: hue({"image": v}, meta([0]))["image"]),
                (pixels,), order=1, modes=["rev"], eps=1e-3)
