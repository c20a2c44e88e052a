"""What the sharding tests run, shared by the in-process tests and the scripts that
run under simulated devices or as `jax.distributed` processes.

Importing this module imports JAX but does not initialise it, so a script can still
set flags (or call `jax.distributed.initialize`) afterwards.
"""

from __future__ import annotations

from typing import Any

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from datarax import OperatorConfig, OperatorModule, Pipeline
from datarax.sources import MemorySource

NUM_RECORDS = 50  # not a multiple of any batch size used: every epoch ends partial
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute",
               "reduce-scatter")


def make_records(n: int = NUM_RECORDS) -> dict[str, np.ndarray]:
    """n records: an 8x8x3 uint8 image derived from the index, and label = index."""
    index = np.arange(n, dtype=np.int64)[:, None, None, None]
    pixels = (index * 7 + np.arange(8 * 8 * 3).reshape(1, 8, 8, 3)) % 256
    return {"image": pixels.astype(np.uint8), "label": np.arange(n, dtype=np.int32)}


class Scale(OperatorModule):
    """image -> float32 image * a learnable scale (element-wise)."""

    def __init__(self):
        super().__init__(OperatorConfig())
        self.scale = nnx.Param(jnp.asarray(0.5, jnp.float32))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return dict(data, image=data["image"].astype(jnp.float32) * self.scale[...]), state, metadata


class Jitter(OperatorModule):
    """image + uniform noise keyed on the record (element-wise, stochastic)."""

    def __init__(self, seed: int = 3):
        super().__init__(OperatorConfig(stochastic=True, stream_name="augment"),
                         rngs=nnx.Rngs(augment=seed))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        noise = jax.random.uniform(random_params, data["image"].shape)
        return dict(data, image=data["image"] + noise), state, metadata


def make_pipeline(*, batch_size: int, sharding: Any = None, worker_count: int = 0,
                  num_epochs: int = 2, shard_by_process: Any = True,
                  drop_remainder: bool = False) -> Pipeline:
    """The pipeline every sharding test compares: shuffled, two element-wise stages."""
    return Pipeline(MemorySource(make_records()), [Scale(), Jitter()],
                    batch_size=batch_size, shuffle=True, seed=11, num_epochs=num_epochs,
                    worker_count=worker_count, record_ids=True, sharding=sharding,
                    shard_by_process=shard_by_process, drop_remainder=drop_remainder)


def collect(pipeline: Pipeline) -> list[dict[str, np.ndarray]]:
    """Every batch as host arrays (single process: every array is addressable)."""
    with pipeline:
        return [{k: np.asarray(v) for k, v in batch.items()} for batch in pipeline]


def valid_rows(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """All batches' rows concatenated, padding rows ('_valid' False) dropped."""
    out = {}
    for field in batches[0]:
        if field == "_valid":
            continue
        rows = [b[field][b["_valid"]] if "_valid" in b else b[field] for b in batches]
        out[field] = np.concatenate(rows)
    return out


def collectives_in(pipeline: Pipeline, host_data: dict, host_meta: dict,
                   transfer) -> dict[str, int]:
    """How often each collective op occurs in the compiled fused stages."""
    data, meta = transfer(host_data), transfer(host_meta)
    fused = pipeline.fused
    values = [v.get_value() for v in fused._variables]  # pylint: disable=protected-access
    hlo = fused._compiled.lower(  # pylint: disable=protected-access
        values, data, meta).compile().as_text()
    return {op: hlo.count(op) for op in COLLECTIVES}


def host_batch(batch_size: int, start: int = 0) -> tuple[dict, dict]:
    """A host data dict and metadata dict of `batch_size` records from `start`."""
    records = make_records()
    rows = np.arange(start, start + batch_size)
    data = {k: v[rows] for k, v in records.items()}
    meta = {"epoch": np.zeros(batch_size, np.int32), "index": rows.astype(np.int32),
            "valid": np.ones(batch_size, bool)}
    return data, meta
