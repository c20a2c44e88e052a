"""Bad input gives a ValueError naming the operator and the field or argument."""

from __future__ import annotations

import flax.nnx as nnx
import jax.numpy as jnp
import numpy as np
import pytest

from datarax.core.config import OperatorConfig
from datarax.operators import (
    CenterCrop, Cutout, GaussianBlur, Hue, MapOperator, MixUp, Normalize, OneHot,
    RandomApply, RandomCrop, RandomFlip, Saturation, Sequential)

IMAGES = {"image": jnp.zeros((2, 8, 8, 3))}


@pytest.mark.parametrize("build", [
    lambda r: RandomFlip(p=1.5, rngs=r),
    lambda r: Cutout(size=2, p=-0.1, rngs=r),
    lambda r: RandomApply(Normalize(mean=0, std=1), p=2.0, rngs=r),
])
def test_probability_outside_zero_one_is_refused(build):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        build(nnx.Rngs(augment=0))


@pytest.mark.parametrize("op, batch, message", [
    (Normalize(mean=0, std=1, fields="img"), IMAGES, r"Normalize: field 'img' is not in"),
    (CenterCrop(size=4), {"image": jnp.zeros((2, 8, 8))}, r"CenterCrop: field 'image' must be "
     r"one channels-last image \(H, W, C\).*got element shape \(8, 8\)"),
    (Normalize(mean=[0, 0], std=1), IMAGES, r"Normalize: mean has 2 values but field"),
    (CenterCrop(size=(9, 4)), IMAGES, r"CenterCrop: crop size \(9, 4\) is larger than "
     r"field\(s\) \('image',\)"),
    (OneHot(num_classes=3), {"label": jnp.zeros((2,))}, r"OneHot: field 'label' must hold "
     r"integer"),
    (MapOperator(None, lambda x: x, fields="nope"), IMAGES, r"MapOperator: field 'nope'"),
])
def test_bad_input_names_the_operator_and_field(op, batch, message):
    with pytest.raises(ValueError, match=message):
        op(batch)


@pytest.mark.parametrize("build, batch, message", [
    (lambda r: Saturation(factor=0.2, rngs=r), {"image": jnp.zeros((2, 8, 8, 1))},
     r"Saturation: field 'image' has 1 channels; this operator accepts 3"),
    (lambda r: Hue(factor=0.6, rngs=r), None, r"Hue: hue range \(-0.5, 0.6\) must lie "
     r"within \[-0.5, 0.5\]"),
    (lambda r: RandomCrop(size=12, padding=1, rngs=r), IMAGES,
     r"RandomCrop: crop size \(12, 12\) is larger .* after padding"),
    (lambda r: GaussianBlur(kernel_size=4, rngs=r), None, r"GaussianBlur: kernel_size must "
     r"be an odd"),
    (lambda r: MixUp(num_classes=3, rngs=r), {"image": jnp.zeros((2, 4, 4, 3)),
                                              "label": jnp.zeros((2, 5))},
     r"MixUp: label field 'label' must be an integer class id or a float vector of "
     r"num_classes=3"),
    (lambda r: RandomFlip(OperatorConfig(), rngs=r), None, r"RandomFlip draws random "
     r"parameters, so its config must be stochastic"),
])
def test_stochastic_operator_errors(build, batch, message):
    with pytest.raises(ValueError, match=message):
        op = build(nnx.Rngs(augment=0))
        op(batch)


def test_missing_rngs_says_which_stream_to_pass():
    with pytest.raises(ValueError, match=r"rngs=nnx.Rngs\(augment=seed\)"):
        RandomFlip()


def test_composites_refuse_non_operators():
    with pytest.raises(ValueError, match=r"Sequential: operators\[1\] is a function"):
        Sequential([Normalize(mean=0, std=1), lambda batch: batch])
