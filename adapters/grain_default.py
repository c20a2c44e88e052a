"""Grain with its defaults: MapDataset over Grain's ArrayRecord source, per record.

source -> shuffle(seed) -> map(decode one record) -> random_map(augment one record)
-> batch -> to_iter_dataset() with the default ReadOptions (16 read threads) ->
mp_prefetch(worker_count) when worker_count > 0 -> jax.device_put per batch.
This is what the Grain documentation shows.
"""

from __future__ import annotations

from adapters import Loader, missing_modules, parse_absl_flags

NAME = "grain_default"
REQUIRES = ("grain",)
STREAMING = True
DESCRIPTION = "Grain MapDataset, per-record read/decode/augment, default ReadOptions"


def available() -> str | None:
    return missing_modules(*REQUIRES)


def build(scenario, worker_count: int = 0, seed: int = 0) -> Loader:
    import grain  # pylint: disable=import-outside-toplevel
    from grain.sources import ArrayRecordDataSource  # pylint: disable=import-outside-toplevel

    parse_absl_flags()
    dataset = (grain.MapDataset.source(ArrayRecordDataSource(scenario.paths()))
               .shuffle(seed=seed)
               .map(scenario.decode_record)
               .random_map(scenario.augment_record, seed=seed)
               .batch(scenario.batch_size))
    iter_dataset = dataset.to_iter_dataset()
    if worker_count > 0:
        iter_dataset = iter_dataset.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=worker_count))
    iterator = iter(iter_dataset)
    return Loader(iterator, cleanup=getattr(iterator, "close", None))
