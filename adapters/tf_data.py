"""tf.data with the dataset's bytes preloaded into memory, AUTOTUNE everywhere.

All record bytes are read once into a string tensor; then
from_tensor_slices -> shuffle(whole dataset) -> map(scenario.tf_map, AUTOTUNE) ->
batch -> prefetch(AUTOTUNE) -> jax.device_put of each NumPy batch. tf.data has no
reader for ArrayRecord, so this holds the whole dataset in memory: NOT streaming.
tf.data parallelises with threads; `worker_count` does not apply.
"""

from __future__ import annotations

import os

from adapters import Loader, missing_modules, parse_absl_flags
from benchmarks.scenarios.base import read_all_records

NAME = "tf_data"
REQUIRES = ("tensorflow", "grain")
STREAMING = False
DESCRIPTION = "tf.data, record bytes preloaded in memory (not streaming), AUTOTUNE map"


def available() -> str | None:
    return missing_modules(*REQUIRES)


def build(scenario, worker_count: int = 0, seed: int = 0) -> Loader:
    del worker_count
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    tf.config.set_visible_devices([], "GPU")  # the accelerator is JAX's
    parse_absl_flags()
    records = tf.constant(read_all_records(scenario.paths()))
    autotune = tf.data.AUTOTUNE
    dataset = (tf.data.Dataset.from_tensor_slices(records)
               .shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
               .map(lambda r: scenario.tf_map(r, seed), num_parallel_calls=autotune)
               .batch(scenario.batch_size)
               .prefetch(autotune))
    return Loader(dataset.as_numpy_iterator())
