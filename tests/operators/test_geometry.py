"""Resize, crops, flips and rotation against Pillow, SciPy and NumPy references."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage as ndi
from jax.test_util import check_grads
from PIL import Image

from datarax.operators import (
    CenterCrop, RandomCrop, RandomFlip, RandomResizedCrop, Resize, Rotate)


def pil_resize(image: np.ndarray, size, box=None) -> np.ndarray:
    """Pillow's bilinear resize of a float (H, W, C) image, channel by channel ('F' mode)."""
    h, w = size
    return np.stack([np.asarray(Image.fromarray(image[..., c], "F").resize(
        (w, h), Image.BILINEAR, box=box)) for c in range(image.shape[-1])], -1)


@pytest.mark.parametrize("size", [(37, 45), (11, 13)], ids=["up", "down"])
def test_resize_matches_pillow_bilinear(scenes, size, run):
    out = run(Resize(size=size), {"image": scenes})["image"]
    for i in range(len(scenes)):
        # Same half-pixel grid and (for downsampling) the same widened triangle kernel.
        np.testing.assert_allclose(out[i], pil_resize(scenes[i], size), atol=2e-5)


def test_resize_int_size_sets_the_shorter_edge_and_keeps_uint8(scenes_uint8, run):
    out = run(Resize(size=12), {"image": scenes_uint8})["image"]
    assert out.shape == (4, 12, 16, 3) and out.dtype == np.uint8


def test_center_crop_matches_torchvision_offsets(scenes_uint8, run):
    out = run(CenterCrop(size=(9, 20)), {"image": scenes_uint8})["image"]
    top, left = int(round((24 - 9) / 2)), int(round((32 - 20) / 2))
    np.testing.assert_array_equal(out, scenes_uint8[:, top:top + 9, left:left + 20])


def test_random_crop_cuts_the_drawn_window_of_the_padded_image(scenes_uint8, meta, run_drawn):
    op = RandomCrop(size=(20, 20), padding=3, padding_mode="reflect",
                    rngs=nnx.Rngs(augment=0))
    batch, md = {"image": jnp.asarray(scenes_uint8)}, meta(range(4))
    out, params = run_drawn(op, batch, md)
    out = out["image"]
    padded = np.pad(scenes_uint8, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="reflect")
    for i in range(4):
        t, l = params["top"][i], params["left"][i]
        np.testing.assert_array_equal(out[i], padded[i, t:t + 20, l:l + 20])
    assert len({(t, l) for t, l in zip(params["top"], params["left"])}) > 1


def test_random_resized_crop_matches_pillow_resize_of_the_box(scenes, meta, run_drawn):
    op = RandomResizedCrop(size=(16, 16), scale=(0.3, 1.0), rngs=nnx.Rngs(augment=1))
    batch, md = {"image": jnp.asarray(scenes)}, meta(range(4))
    out, p = run_drawn(op, batch, md)
    out = out["image"]
    for i in range(4):
        box = (p["left"][i], p["top"][i], p["left"][i] + p["width"][i],
               p["top"][i] + p["height"][i])
        area = p["width"][i] * p["height"][i] / (24 * 32)
        assert 0.3 - 0.05 <= area <= 1.0 and box[2] <= 32 and box[3] <= 24
        np.testing.assert_allclose(out[i], pil_resize(scenes[i], (16, 16), box), atol=2e-5)


def test_random_resized_crop_falls_back_to_a_central_box(meta, run_drawn):
    # An impossible aspect ratio range: no try fits, torchvision takes the clamped centre.
    op = RandomResizedCrop(size=8, scale=(0.9, 1.0), ratio=(10.0, 11.0),
                           rngs=nnx.Rngs(augment=0))
    image = jnp.zeros((2, 24, 32, 3))
    out, p = run_drawn(op, {"image": image}, meta(range(2)))
    np.testing.assert_array_equal(p["width"], [32, 32])
    np.testing.assert_array_equal(p["height"], [3, 3])  # round(32 / 10)
    np.testing.assert_array_equal(p["top"], [10, 10])
    assert out["image"].shape == (2, 8, 8, 3)


def test_random_flip_flips_exactly_the_drawn_records(scenes_uint8, meta, run_drawn):
    op = RandomFlip(horizontal=True, vertical=True, p=0.5, fields=("image", "mask"),
                    rngs=nnx.Rngs(augment=3))
    mask = (scenes_uint8[..., :1] > 128).astype(np.uint8)
    batch, md = {"image": jnp.asarray(scenes_uint8), "mask": jnp.asarray(mask)}, meta(range(4))
    out, p = run_drawn(op, batch, md)
    for i in range(4):
        expect_img, expect_mask = scenes_uint8[i], mask[i]
        if p["horizontal"][i]:
            expect_img, expect_mask = expect_img[:, ::-1], expect_mask[:, ::-1]
        if p["vertical"][i]:
            expect_img, expect_mask = expect_img[::-1], expect_mask[::-1]
        np.testing.assert_array_equal(np.asarray(out["image"][i]), expect_img)
        np.testing.assert_array_equal(np.asarray(out["mask"][i]), expect_mask)


def test_rotate_matches_scipy_bilinear_rotation(scenes, meta, run_drawn):
    op = Rotate(degrees=(-60, 60), rngs=nnx.Rngs(augment=0))
    batch, md = {"image": jnp.asarray(scenes)}, meta(range(4))
    out, p = run_drawn(op, batch, md)
    out, angles = out["image"], p["angle"]
    for i in range(4):
        # scipy turns positive angles counter-clockwise as displayed, about (n - 1) / 2.
        ref = ndi.rotate(scenes[i], angles[i], axes=(1, 0), reshape=False, order=1,
                         mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(out[i], ref, atol=1e-5)


def test_rotate_by_a_quarter_turn_is_counter_clockwise(run):
    image = np.zeros((1, 5, 5, 1), np.float32)
    image[0, 0, 4] = 1.0  # top right
    out = run(Rotate(degrees=(90, 90), rngs=nnx.Rngs(augment=0)), {"image": image})
    assert out["image"][0, 0, 0, 0] == pytest.approx(1.0, abs=1e-5)  # top left


def test_geometry_gradients_match_finite_differences(scenes, meta):
    # Fixed record identities: every evaluation of the difference quotient draws alike.
    x, md = jnp.asarray(scenes[:2, :12, :12]), meta(range(2))
    resize = Resize(size=(7, 9))
    crop = RandomResizedCrop(size=8, rngs=nnx.Rngs(augment=0))
    check_grads(jax.jit(lambda v: resize({"image": v})["image"]), (x,), order=1,
                modes=["rev"])
    check_grads(jax.jit(lambda v: crop({"image": v}, md)["image"]), (x,), order=1,
                modes=["rev"])


def test_rotation_gradient_in_the_angle_matches_finite_differences(scenes, meta):
    from datarax.operators.rotate import rotate_image
    image = jnp.asarray(scenes[0, :12, :12])
    check_grads(jax.jit(lambda a: rotate_image(image, a)), (jnp.float32(17.3),), order=1,
                modes=["rev"], eps=1e-2)
    rotate = Rotate(degrees=25, rngs=nnx.Rngs(augment=0))
    check_grads(jax.jit(lambda v: rotate({"image": v}, meta([7]))["image"]), (image[None],),
                order=1, modes=["rev"])
