"""Draws depend only on (stream key, epoch, record index): batch size, position and
order do not matter; a new epoch draws afresh; two instances on one stream differ."""

from __future__ import annotations

import flax.nnx as nnx
import numpy as np
import pytest

from datarax.operators import (
    ColorJitter, CutMix, GaussianNoise, RandomCrop, RandomErasing, RandomFlip,
    RandomResizedCrop, Rotate, Sequential)


def builders():
    return {
        "RandomFlip": lambda r: RandomFlip(p=0.5, rngs=r),
        "RandomCrop": lambda r: RandomCrop(size=16, padding=2, rngs=r),
        "RandomResizedCrop": lambda r: RandomResizedCrop(size=12, rngs=r),
        "Rotate": lambda r: Rotate(degrees=40, rngs=r),
        "ColorJitter": lambda r: ColorJitter(brightness=0.5, hue=0.2, rngs=r),
        "GaussianNoise": lambda r: GaussianNoise(std=0.1, rngs=r),
        "RandomErasing": lambda r: RandomErasing(p=0.5, rngs=r),
    }


@pytest.fixture(scope="module")
def chain():
    """All the stochastic image operators in one Sequential (one compile per shape)."""
    rngs = nnx.Rngs(augment=0)
    return Sequential([build(rngs) for build in builders().values()])


def test_same_record_gets_same_draw_whatever_the_batch_size_or_position(
        chain, scenes, meta, run):
    images = np.concatenate([scenes, scenes[::-1]])  # 8 records
    whole = run(chain, {"image": images}, meta(range(8)))["image"]
    order = [5, 2, 7, 0]
    part = run(chain, {"image": images[order]}, meta(order))["image"]
    np.testing.assert_array_equal(part, whole[order])


def test_a_new_epoch_draws_afresh(chain, scenes, meta, run):
    first = run(chain, {"image": scenes}, meta(range(4), epoch=0))["image"]
    again = run(chain, {"image": scenes}, meta(range(4), epoch=0))["image"]
    later = run(chain, {"image": scenes}, meta(range(4), epoch=1))["image"]
    np.testing.assert_array_equal(first, again)
    assert all(not np.array_equal(first[i], later[i]) for i in range(4))


@pytest.mark.parametrize("name", list(builders()))
def test_two_instances_on_one_stream_draw_differently(name, scenes, meta, run_drawn):
    rngs = nnx.Rngs(augment=0)
    build = builders()[name]
    _, a = run_drawn(build(rngs), {"image": scenes}, meta(range(4)))
    _, b = run_drawn(build(rngs), {"image": scenes}, meta(range(4)))
    assert any(not np.array_equal(a[k], b[k]) for k in a), name


def test_cutmix_box_of_a_record_does_not_depend_on_its_position(scenes, meta, run_drawn):
    op = CutMix(num_classes=3, rngs=nnx.Rngs(augment=0))
    labels = np.arange(4, dtype=np.int32) % 3
    _, whole = run_drawn(op, {"image": scenes, "label": labels}, meta(range(4)))
    _, part = run_drawn(op, {"image": scenes[[3, 1]], "label": labels[[3, 1]]}, meta([3, 1]))
    for key in whole:
        np.testing.assert_array_equal(part[key], whole[key][[3, 1]])


def test_called_without_metadata_each_call_draws_afresh(scenes, run):
    op = RandomFlip(p=0.5, rngs=nnx.Rngs(augment=0))
    images = np.repeat(scenes[:1], 16, axis=0)
    first, second = run(op, {"image": images})["image"], run(op, {"image": images})["image"]
    assert not np.array_equal(first, second)
