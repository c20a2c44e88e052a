"""The two-view DAG against one hand-written jitted function doing the same work.

    python -m benchmarks.graph            # writes benchmarks/results/graph.json

Two branches of (RandomFlip, Brightness, GaussianNoise) over one source batch of
float32 images, run through the pipeline's fused device function (per-batch Python
included), against a single `jax.jit` of the same maths written by hand with the same
per-record keys and draws. Interleaved repeats, medians; the ratio is the cost of the
module system (target: <= 1.25).
"""

from __future__ import annotations

import json

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from datarax import Pipeline
from datarax.core.operator import element_keys
from datarax.operators import Brightness, GaussianNoise, RandomFlip, Sequential
from datarax.sources import MemorySource
from benchmarks.report import machine, median_seconds, write_results

SHAPES = [(256, 32, 32, 3), (64, 224, 224, 3)]
REPEATS = 15


def view(seed: int) -> Sequential:
    rngs = nnx.Rngs(augment=seed)
    return Sequential([RandomFlip(rngs=rngs), Brightness(factor=0.4, rngs=rngs),
                       GaussianNoise(std=0.05, rngs=rngs)], rngs=rngs)


def hand_written(keys):
    """Both views in one function: flip, brightness (clipped), noise (clipped)."""

    def one_view(image, key):
        flip_key, bright_key, noise_key = jax.random.split(key, 3)
        image = jnp.where(jax.random.bernoulli(flip_key, 0.5), image[:, ::-1], image)
        factor = jax.random.uniform(bright_key, (), minval=0.6, maxval=1.4)
        image = jnp.clip(image * factor, 0.0, 1.0)
        return jnp.clip(image + 0.05 * jax.random.normal(noise_key, image.shape), 0.0, 1.0)

    @jax.jit
    def run(images, meta):
        out = {}
        for name, key in keys.items():
            out[name] = jax.vmap(one_view)(images, element_keys(key, meta))
        return out

    return run


def measure(shape) -> dict:
    batch = shape[0]
    images = np.random.default_rng(0).random(shape, dtype=np.float32)
    pipeline = Pipeline.from_dag(source=MemorySource({"image": images}),
                                 nodes={"view1": view(1), "view2": view(2)},
                                 sink=["view1", "view2"], batch_size=batch)
    pipeline.prepare()
    data = {"image": jnp.asarray(images)}
    meta = {"epoch": jnp.zeros(batch, jnp.int32), "index": jnp.arange(batch, dtype=jnp.int32),
            "valid": jnp.ones(batch, bool)}
    hand = hand_written({"view1": jax.random.key(1), "view2": jax.random.key(2)})
    ours, theirs = [], []
    for _ in range(3):  # interleave, so load changes hit both alike
        ours.append(median_seconds(pipeline.fused, data, meta, repeats=REPEATS))
        theirs.append(median_seconds(hand, data["image"], meta, repeats=REPEATS))
    ours, theirs = min(ours), min(theirs)
    row = {"shape": list(shape), "datarax_records_per_s": batch / ours,
           "hand_written_records_per_s": batch / theirs, "ratio_datarax_over_hand": ours / theirs}
    print(json.dumps(row), flush=True)
    return row


def main() -> dict:
    results = {"machine": machine(), "two_views": [measure(shape) for shape in SHAPES]}
    write_results("graph", results)
    return results


if __name__ == "__main__":
    main()
