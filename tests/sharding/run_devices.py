"""Runs the sharding scenarios on N simulated CPU devices; writes results to an npz.

    XLA_FLAGS=--xla_force_host_platform_device_count=N python run_devices.py OUT.npz

(N must be set in the environment before JAX initialises.) For every mesh layout the
pipeline runs once with a `DataParallelSharder` and once without (one device); the
npz holds both streams, the specs the batches arrived with, the collectives in the
compiled stages, and the error a batch size the mesh cannot split gives.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
from jax.sharding import Mesh

import scenario
from datarax.sharding import DataParallelSharder

BATCH = 16


def layouts(n: int) -> dict:
    """name -> (mesh, batch axis, field_specs) for n devices."""
    devices = np.array(jax.devices())
    half = n // 2
    return {
        "1d": (jax.make_mesh((n,), ("data",)), "data", None),
        "2d_batch_over_both": (jax.make_mesh((half, 2), ("data", "fsdp")),
                               ("data", "fsdp"), None),
        "2d_image_rows_over_model": (Mesh(devices.reshape(half, 2), ("data", "model")),
                                     "data", {"image": ("model",)}),
    }


def main(out_path: str) -> None:
    n = jax.device_count()
    results, report = {}, {"device_count": n, "layouts": {}}
    reference = scenario.collect(scenario.make_pipeline(batch_size=BATCH))
    for name, (mesh, axis, specs) in layouts(n).items():
        sharder = DataParallelSharder(mesh, axis, field_specs=specs)
        pipeline = scenario.make_pipeline(batch_size=BATCH, sharding=sharder)
        specs_seen = []
        with pipeline:
            batches = []
            for batch in pipeline:
                specs_seen.append({k: str(v.sharding.spec) for k, v in batch.items()})
                batches.append({k: np.asarray(v) for k, v in batch.items()})
            data, meta = scenario.host_batch(BATCH)
            collectives = scenario.collectives_in(pipeline, data, meta, sharder)
            # A control: a sum over the sharded batch axis must show up as a collective.
            image = sharder(data)["image"]
            control = jax.jit(lambda x: x.sum()).lower(image).compile().as_text()
        for field, rows in scenario.valid_rows(batches).items():
            results[f"{name}/{field}"] = rows
        report["layouts"][name] = {
            "steps": len(batches), "shapes": sorted({b["image"].shape for b in batches}),
            "specs": specs_seen[0], "collectives": collectives,
            "control_all_reduce": control.count("all-reduce"),
            "valid_per_step": [int(b["_valid"].sum()) for b in batches]}
    for field, rows in scenario.valid_rows(reference).items():
        results[f"reference/{field}"] = rows
    report["reference_steps"] = len(reference)
    try:
        scenario.make_pipeline(batch_size=n + 2, sharding=DataParallelSharder(
            jax.make_mesh((n,), ("data",)), "data"))
        report["indivisible_error"] = None
    except ValueError as error:
        report["indivisible_error"] = str(error)
    np.savez(out_path, report=json.dumps(report, default=str), **results)


if __name__ == "__main__":
    main(sys.argv[1])
