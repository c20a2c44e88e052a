"""Operator-tier overhead: datarax chains vs a hand-fused jax.numpy function.

    python -m benchmarks.operators            # writes benchmarks/results/operators.json

Times chains of 1, 4 and 8 image operators (the first n of: RandomFlip, Brightness,
Contrast, Saturation, GaussianNoise, Cutout, RandomGrayscale, Normalize) on float32
batches of 256x32x32x3 and 64x224x224x3, each jitted once the way a Pipeline runs its
stages (nnx.split outside, nnx.merge inside one jax.jit), against one hand-written
vmapped jax.numpy function doing the same maths with its own per-record draws. Also
times a per-record flip under vmap written as a select (jnp.where) and as lax.cond.
Reports records/s (median of the timed repeats) and the datarax / fused time ratio.
"""

from __future__ import annotations


import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from datarax.core.operator import element_keys
from benchmarks.report import machine, median_seconds, write_results
from datarax.operators import (
    Brightness, Contrast, Cutout, GaussianNoise, Normalize, RandomFlip, RandomGrayscale,
    Saturation, Sequential)

SHAPES = [(256, 32, 32, 3), (64, 224, 224, 3)]
CHAIN_LENGTHS = (1, 4, 8)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LUMA = jnp.array([0.299, 0.587, 0.114])


def datarax_chain(n: int, height: int):
    rngs = nnx.Rngs(augment=0)
    ops = [RandomFlip(p=0.5, rngs=rngs), Brightness(factor=0.4, rngs=rngs),
           Contrast(factor=0.4, rngs=rngs), Saturation(factor=0.4, rngs=rngs),
           GaussianNoise(std=0.05, rngs=rngs), Cutout(size=height // 4, rngs=rngs),
           RandomGrayscale(p=0.2, rngs=rngs), Normalize(mean=MEAN, std=STD)]
    graphdef, state = nnx.split(Sequential(ops[:n]))
    run = jax.jit(lambda state, batch, meta: nnx.merge(graphdef, state)(batch, meta)["image"])
    return lambda images, meta: run(state, {"image": images}, meta)


def fused_chain(n: int, height: int):
    """The same maths written by hand: one vmapped function, one jit."""
    key = jax.random.key(0)

    def one(x, k):
        ks = jax.random.split(k, 8)
        if n > 0:
            x = jnp.where(jax.random.bernoulli(ks[0], 0.5), x[:, ::-1], x)
        if n > 1:
            x = jnp.clip(x * jax.random.uniform(ks[1], (), minval=0.6, maxval=1.4), 0, 1)
        if n > 2:
            f = jax.random.uniform(ks[2], (), minval=0.6, maxval=1.4)
            x = jnp.clip(f * x + (1 - f) * jnp.mean(x @ LUMA), 0, 1)
        if n > 3:
            f = jax.random.uniform(ks[3], (), minval=0.6, maxval=1.4)
            x = jnp.clip(f * x + (1 - f) * (x @ LUMA)[..., None], 0, 1)
        if n > 4:
            x = jnp.clip(x + 0.05 * jax.random.normal(ks[4], x.shape), 0, 1)
        if n > 5:
            size = height // 4
            cy = jax.random.randint(ks[5], (), 0, x.shape[0])
            cx = jax.random.randint(jax.random.fold_in(ks[5], 1), (), 0, x.shape[1])
            rows, cols = jnp.arange(x.shape[0])[:, None, None], jnp.arange(x.shape[1])[None, :, None]
            top, left = cy - size // 2, cx - size // 2
            box = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
            x = jnp.where(box, 0.0, x)
        if n > 6:
            x = jnp.where(jax.random.bernoulli(ks[6], 0.2),
                          jnp.repeat((x @ LUMA)[..., None], 3, -1), x)
        if n > 7:
            x = (x - jnp.array(MEAN)) / jnp.array(STD)
        return x

    @jax.jit
    def run(images, meta):
        return jax.vmap(one)(images, element_keys(key, meta))

    return run


def flip_variants():
    def select(x, flip):
        return jnp.where(flip, x[:, ::-1], x)

    def cond(x, flip):
        return jax.lax.cond(flip, lambda v: v[:, ::-1], lambda v: v, x)

    return {"select": jax.jit(jax.vmap(select)), "cond": jax.jit(jax.vmap(cond))}


def main() -> dict:
    results = {"machine": machine(),
               "chains": [], "flip_select_vs_cond": []}
    for shape in SHAPES:
        batch, height = shape[0], shape[1]
        repeats = 10 if height <= 32 else 3
        images = jnp.asarray(np.random.RandomState(0).rand(*shape).astype(np.float32))
        meta = {"epoch": jnp.zeros(batch, jnp.int32), "index": jnp.arange(batch, dtype=jnp.int32)}
        for n in CHAIN_LENGTHS:
            ours = median_seconds(datarax_chain(n, height), images, meta, repeats=repeats)
            fused = median_seconds(fused_chain(n, height), images, meta, repeats=repeats)
            row = {"shape": list(shape), "ops": n, "datarax_records_per_s": batch / ours,
                   "fused_records_per_s": batch / fused, "ratio_datarax_over_fused": ours / fused}
            results["chains"].append(row)
            print(f"{shape} chain of {n}: datarax {batch / ours:10.0f} rec/s, fused "
                  f"{batch / fused:10.0f} rec/s, ratio {ours / fused:.2f}", flush=True)
        flips = jax.random.bernoulli(jax.random.key(1), 0.5, (batch,))
        timed = {name: median_seconds(fn, images, flips, repeats=repeats)
                 for name, fn in flip_variants().items()}
        results["flip_select_vs_cond"].append(
            {"shape": list(shape), "select_records_per_s": batch / timed["select"],
             "cond_records_per_s": batch / timed["cond"],
             "cond_over_select": timed["cond"] / timed["select"]})
        print(f"{shape} flip under vmap: select {batch / timed['select']:10.0f} rec/s, "
              f"lax.cond {batch / timed['cond']:10.0f} rec/s", flush=True)
    single = {tuple(r["shape"]): r for r in results["chains"] if r["ops"] == 1}
    for row in results["chains"]:
        row["time_over_single_op"] = (single[tuple(row["shape"])]["datarax_records_per_s"]
                                      / row["datarax_records_per_s"])
    write_results("operators", results)
    return results


if __name__ == "__main__":
    main()
