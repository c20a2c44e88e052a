"""TABULAR: 100 dense float32 + 10 categorical int32 features + a float32 target.

Record: raw bytes, 444 per record. Per record: the dense features standardised with
precomputed per-feature mean and std (the generator's), categorical ids passed through.
Batch 1,024. datarax standardises on the device.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from benchmarks.scenarios.base import Batch, Scenario

DENSE, CATEGORICAL = 100, 10
RECORD_BYTES = 4 * (DENSE + CATEGORICAL + 1)
_params = np.random.default_rng(7)
MEAN = _params.normal(0, 10, DENSE).astype(np.float32)
STD = _params.uniform(0.5, 20, DENSE).astype(np.float32)
VOCAB = _params.integers(2, 1000, CATEGORICAL)


@dataclasses.dataclass(frozen=True)
class Tabular(Scenario):
    num_records: int = 200_000
    batch_size: int = 1024

    name = "tabular"

    @property
    def device_ops(self):
        return (("standardize", tuple(MEAN), tuple(STD), "dense"),)

    def generate_records(self):
        rng = np.random.default_rng(99)
        for start in range(0, self.num_records, 8192):
            n = min(8192, self.num_records - start)
            dense = (rng.normal(size=(n, DENSE)) * STD + MEAN).astype(np.float32)
            cats = (rng.integers(0, 2**31 - 1, (n, CATEGORICAL)) % VOCAB).astype(np.int32)
            target = rng.random(n, dtype=np.float32)
            rows = np.concatenate([dense.view(np.uint8), cats.view(np.uint8),
                                   target[:, None].view(np.uint8)], axis=1)
            for row in rows:
                yield row.tobytes()

    def decode_record(self, record: bytes) -> Batch:
        return {"dense": np.frombuffer(record, np.float32, DENSE),
                "categorical": np.frombuffer(record, np.int32, CATEGORICAL, 4 * DENSE),
                "target": np.frombuffer(record, np.float32, 1, 4 * (DENSE + CATEGORICAL))[0]}

    def decode_batch(self, records: Sequence[bytes]) -> Batch:
        rows = np.frombuffer(b"".join(records), np.uint8).reshape(len(records), RECORD_BYTES)
        return {"dense": rows[:, :4 * DENSE].copy().view(np.float32),
                "categorical": rows[:, 4 * DENSE:4 * (DENSE + CATEGORICAL)].copy().view(np.int32),
                "target": rows[:, 4 * (DENSE + CATEGORICAL):].copy().view(np.float32)[:, 0]}

    def augment_record(self, record: Batch, rng) -> Batch:
        return {"dense": (record["dense"] - MEAN) / STD,
                "categorical": record["categorical"], "target": np.float32(record["target"])}

    def augment_batch(self, batch: Batch, rng) -> Batch:
        return {"dense": (batch["dense"] - MEAN) / STD,
                "categorical": batch["categorical"], "target": batch["target"]}

    def tf_map(self, record, seed: int):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        raw = tf.io.decode_raw(record, tf.int32)
        floats = tf.bitcast(raw, tf.float32)
        return {"dense": (floats[:DENSE] - MEAN) / STD,
                "categorical": raw[DENSE:DENSE + CATEGORICAL],
                "target": floats[DENSE + CATEGORICAL]}

    def record_keys(self, batch: Batch) -> list[bytes]:
        return [c.tobytes() + t.tobytes() for c, t in
                zip(np.asarray(batch["categorical"]), np.asarray(batch["target"], np.float32))]
