"""MixUp and CutMix: NumPy formulas, label weights, padding partners, gradients."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from datarax.operators import CutMix, MixUp


def test_mixup_mixes_each_record_with_the_previous_one(scenes, meta, run_drawn):
    labels = np.array([0, 3, 1, 2], np.int32)
    out, p = run_drawn(MixUp(num_classes=5, alpha=0.4, rngs=nnx.Rngs(augment=0)),
                       {"image": scenes, "label": labels}, meta(range(4)))
    lam = p["lam"]
    one_hot = np.eye(5, dtype=np.float32)[labels]
    for i in range(4):
        np.testing.assert_allclose(out["image"][i],
                                   lam[i] * scenes[i] + (1 - lam[i]) * scenes[i - 1], atol=1e-6)
        np.testing.assert_allclose(out["label"][i],
                                   lam[i] * one_hot[i] + (1 - lam[i]) * one_hot[i - 1], atol=1e-6)


def test_cutmix_pastes_the_box_and_weights_labels_by_area(scenes, meta, run_drawn):
    labels = np.array([0, 1, 2, 3], np.int32)
    out, p = run_drawn(CutMix(num_classes=4, rngs=nnx.Rngs(augment=1)),
                       {"image": scenes, "label": labels}, meta(range(4)))
    for i in range(4):
        half_h = int(0.5 * np.sqrt(1 - p["lam"][i]) * 24)
        half_w = int(0.5 * np.sqrt(1 - p["lam"][i]) * 32)
        y1, y2 = max(p["cy"][i] - half_h, 0), min(p["cy"][i] + half_h, 24)
        x1, x2 = max(p["cx"][i] - half_w, 0), min(p["cx"][i] + half_w, 32)
        expect = scenes[i].copy()
        expect[y1:y2, x1:x2] = scenes[i - 1][y1:y2, x1:x2]
        np.testing.assert_array_equal(out["image"][i], expect)
        own = 1 - (y2 - y1) * (x2 - x1) / (24 * 32)
        np.testing.assert_allclose(out["label"][i, i], own, atol=1e-6)
        np.testing.assert_allclose(out["label"][i, (i - 1) % 4], 1 - own, atol=1e-6)


def test_a_record_whose_partner_is_padding_stays_unmixed(scenes, meta, run):
    md = dict(meta(range(4)), valid=jnp.array([True, True, True, False]))
    out = run(MixUp(num_classes=4, rngs=nnx.Rngs(augment=0)),
              {"image": scenes, "label": np.arange(4, dtype=np.int32)}, md)
    np.testing.assert_array_equal(out["image"][0], scenes[0])  # partner 3 is padding
    np.testing.assert_array_equal(out["label"][0], [1, 0, 0, 0])


def test_mixup_gradient_matches_finite_differences(scenes, meta):
    op, md = MixUp(num_classes=3, rngs=nnx.Rngs(augment=0)), meta(range(3))
    labels = jnp.array([0, 1, 2])
    check_grads(jax.jit(lambda v: op({"image": v, "label": labels}, md)["image"]),
                (jnp.asarray(scenes[:3, :6, :6]),), order=1, modes=["rev"])
