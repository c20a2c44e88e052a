"""TEXT: variable-length int32 token sequences, padded (or truncated) to 512, batch 64.

Record: the raw int32 tokens (16 to 1,024 of them, log-uniform lengths, ids in
[1, 32,000)). Output per record: 'tokens' int32 (512,) zero-padded and 'mask' bool
(512,). The work is all host work (variable lengths must be fixed before a batch
exists); datarax pads a whole batch with one vectorised gather.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from benchmarks.scenarios.base import Batch, Scenario

LENGTH, VOCAB = 512, 32_000


@dataclasses.dataclass(frozen=True)
class Text(Scenario):
    num_records: int = 20_000
    batch_size: int = 64

    name = "text"

    def generate_records(self):
        rng = np.random.default_rng(42)
        lengths = np.exp(rng.uniform(np.log(16), np.log(1024), self.num_records)).astype(int)
        for n in lengths:
            yield rng.integers(1, VOCAB, n, dtype=np.int32).tobytes()

    def decode_record(self, record: bytes) -> Batch:
        return {"tokens": np.frombuffer(record, np.int32)}

    def augment_record(self, record: Batch, rng) -> Batch:
        tokens = record["tokens"][:LENGTH]
        out = np.zeros(LENGTH, np.int32)
        out[:len(tokens)] = tokens
        return {"tokens": out, "mask": np.arange(LENGTH) < len(tokens)}

    def decode_batch(self, records: Sequence[bytes]) -> Batch:
        # One gather pads the whole batch: row i takes blob[start_i + j] where j < len_i.
        lengths = np.fromiter((len(r) // 4 for r in records), np.int64, len(records))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        flat = np.frombuffer(b"".join(records), np.int32)
        positions = np.arange(LENGTH)
        mask = positions < np.minimum(lengths, LENGTH)[:, None]
        index = np.where(mask, starts[:, None] + positions, 0)
        tokens = np.where(mask, flat[index] if len(flat) else 0, 0).astype(np.int32)
        return {"tokens": tokens, "mask": mask}

    def bound_prepare(self, records):
        return self.decode_batch(records)

    def augment_batch(self, batch: Batch, rng) -> Batch:
        return batch

    def tf_map(self, record, seed: int):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        tokens = tf.io.decode_raw(record, tf.int32)[:LENGTH]
        n = tf.shape(tokens)[0]
        return {"tokens": tf.pad(tokens, [[0, LENGTH - n]]), "mask": tf.range(LENGTH) < n}

    def record_keys(self, batch: Batch) -> list[bytes]:
        return [t.tobytes() + m.tobytes() for t, m in
                zip(np.asarray(batch["tokens"]), np.asarray(batch["mask"]))]
