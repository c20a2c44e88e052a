"""Fixtures for DataLoader tests: a real ArrayRecord file read as Grain reads it."""

from __future__ import annotations

import sys

import cloudpickle
import grain
import numpy as np
import pytest

from sample_data import IMAGE_LAYOUT


# pytest imports this file as 'tests.loader.conftest', which Grain's worker processes
# cannot import: pickle its transforms by value instead.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class DecodeImage(grain.transforms.Map):
    """Raw bytes -> {'image': uint8 (8, 8, 3), 'label': int32}."""

    def map(self, record):
        return {k: v[0] for k, v in IMAGE_LAYOUT([record]).items()}


class Jitter(grain.transforms.RandomMap):
    """Adds a per-record random int64 (Grain's per-record rng) as 'noise'."""

    def random_map(self, element, rng):
        return dict(element, noise=rng.integers(0, 1_000_000, dtype=np.int64))


class NotMultipleOfThree(grain.transforms.Filter):
    def filter(self, element):
        return int(element["label"]) % 3 != 0


@pytest.fixture
def grain_args(image_records):
    """A factory of grain.DataLoader keyword arguments over 100 image records."""
    path, _ = image_records

    def make(*, filtered=False, batch_size=8, drop_remainder=False, num_epochs=2):
        ops = [DecodeImage(), Jitter()]
        if filtered:
            ops.append(NotMultipleOfThree())
        ops.append(grain.transforms.Batch(batch_size, drop_remainder=drop_remainder))
        return dict(
            data_source=grain.sources.ArrayRecordDataSource([path]),
            sampler=grain.samplers.IndexSampler(
                100, shuffle=True, seed=7, num_epochs=num_epochs,
                shard_options=grain.sharding.NoSharding()),
            operations=ops)
    return make
