"""Small operators the tests share (importable as `sample_operators`, also by the job
scripts that tests run as separate processes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from datarax.core.operator import OperatorConfig, OperatorModule


class Jitter(OperatorModule):
    """Adds per-record U(0, 1) noise to 'image' (as float32): a draw to compare across runs."""

    def __init__(self, rngs):
        super().__init__(OperatorConfig(stochastic=True, stream_name="augment"), rngs=rngs)

    def apply(self, data, state, metadata, random_params=None, stats=None):
        noise = jax.random.uniform(random_params, data["image"].shape)
        return {**data, "image": data["image"].astype(jnp.float32) + noise}, state, metadata


class Noise(OperatorModule):
    """Adds per-record N(0, 1) noise to 'x'."""

    def __init__(self, rngs):
        super().__init__(OperatorConfig(stochastic=True, stream_name="augment"), rngs=rngs)

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return {**data, "x": data["x"] + jax.random.normal(random_params, data["x"].shape)}, state, metadata
