"""Sequential, RandomApply, RandomChoice, MapOperator and ElementOperator."""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from datarax.core.config import OperatorConfig
from datarax.operators import (
    Brightness, ElementOperator, MapOperator, Normalize, RandomApply, RandomChoice,
    RandomFlip, Sequential)

AUGMENT = OperatorConfig(stochastic=True, stream_name="augment")


def test_sequential_equals_its_children_applied_in_order(scenes, run):
    first = MapOperator(None, lambda x: x * 2.0, fields="image")
    second = Normalize(mean=0.5, std=0.25)
    out = run(Sequential([first, second]), {"image": scenes})["image"]
    np.testing.assert_allclose(out, (scenes * 2.0 - 0.5) / 0.25, rtol=1e-6)


def test_an_instance_listed_twice_draws_twice_independently(scenes, meta, run):
    # Without the child position folded in, flip twice = identity for every record.
    flip = RandomFlip(p=0.5, rngs=nnx.Rngs(augment=0))
    images = np.repeat(scenes[:1], 16, axis=0)
    out = run(Sequential([flip, flip]), {"image": images}, meta(range(16)))["image"]
    flipped = np.array([not np.array_equal(o, images[0]) for o in out])
    assert 0 < flipped.sum() < 16


def test_random_apply_and_choice_select_whole_branches_per_record(scenes, meta, run):
    rngs = nnx.Rngs(augment=1)
    images = np.repeat(scenes[:1], 32, axis=0)
    md = meta(range(32))
    brighter = MapOperator(None, lambda x: x + 1.0, fields="image")
    darker = MapOperator(None, lambda x: x - 1.0, fields="image")
    applied = run(RandomApply(brighter, p=0.5, rngs=rngs), {"image": images}, md)["image"]
    delta = (applied - images).mean((1, 2, 3))
    assert set(np.round(delta, 5)) == {0.0, 1.0} and 8 <= (delta == 1).sum() <= 24
    chosen = run(RandomChoice([brighter, darker], weights=[3, 1], rngs=rngs),
                 {"image": images}, md)["image"]
    delta = np.round((chosen - images).mean((1, 2, 3)), 5)
    assert set(delta) == {1.0, -1.0} and (delta == 1).sum() > (delta == -1).sum()


def test_a_composition_runs_in_one_jit_compiled_once(scenes, meta):
    traces = []
    rngs = nnx.Rngs(augment=2)
    chain = Sequential([
        RandomFlip(rngs=rngs),
        RandomApply([Brightness(factor=0.3, rngs=rngs)], p=0.5, rngs=rngs),
        MapOperator(None, lambda x: traces.append(1) or x, fields="image")])
    step = nnx.jit(lambda m, b, md: m(b, md))
    for epoch in range(3):
        step(chain, {"image": jnp.asarray(scenes)}, meta(range(4), epoch))
    assert len(traces) == 1
    assert int(chain.iteration_count[...]) == 3


def test_map_operator_gives_every_field_of_a_record_the_same_key(meta, run):
    op = MapOperator(AUGMENT, lambda x, key: x + jax.random.uniform(key),
                     fields=("a", "b"), rngs=nnx.Rngs(augment=0))
    zeros = np.zeros((4, 3), np.float32)
    out = run(op, {"a": zeros, "b": zeros, "c": zeros}, meta(range(4)))
    np.testing.assert_array_equal(out["a"], out["b"])
    np.testing.assert_array_equal(out["c"], zeros)
    assert len(set(out["a"][:, 0])) == 4


def test_element_operator_moves_an_image_and_its_boxes_together(run):
    def flip_with_boxes(element):
        width = element["image"].shape[1]
        x0, y0, x1, y1 = jnp.moveaxis(element["boxes"], -1, 0)
        boxes = jnp.stack([width - x1, y0, width - x0, y1], -1)
        return dict(element, image=element["image"][:, ::-1], boxes=boxes)

    image = np.arange(2 * 2 * 5, dtype=np.float32).reshape(2, 2, 5, 1)
    boxes = np.array([[[0, 0, 2, 1]], [[1, 0, 5, 2]]], np.float32)
    out = run(ElementOperator(None, flip_with_boxes), {"image": image, "boxes": boxes})
    np.testing.assert_array_equal(out["image"], image[:, :, ::-1])
    np.testing.assert_array_equal(out["boxes"], [[[3, 0, 5, 1]], [[0, 0, 4, 2]]])
