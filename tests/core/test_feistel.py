"""The vectorised Feistel shuffle: a bijection of [0, n) for every n and seed."""

import numpy as np
import pytest

from datarax.core import feistel


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16, 17, 100, 1000, 4097, 50_000])
def test_every_size_gets_a_permutation(n):
    for seed in (0, 1, 2**32 - 1):
        assert np.array_equal(np.sort(feistel.permute(np.arange(n), n, seed)), np.arange(n))


def test_a_batch_of_positions_matches_the_whole_permutation():
    whole = feistel.permute(np.arange(1000), 1000, seed=7)
    np.testing.assert_array_equal(feistel.permute(np.arange(300, 556), 1000, seed=7), whole[300:556])


def test_seeds_give_different_orders():
    a, b = (feistel.permute(np.arange(1000), 1000, seed=s) for s in (1, 2))
    assert (a != b).mean() > 0.9
