"""A vectorised Feistel permutation of [0, n): the shuffle, a whole batch per call.

Grain's `index_shuffle` maps ONE position per call (~4 us each from Python on a 2-core
machine, 17 us when it is loaded: 0.2-0.9 s per 50,000-record epoch). This is the same
idea (a keyed bijection of the smallest power-of-two
domain that holds n, with cycle-walking for positions that land past n; Grain uses a
Simon cipher, this a 4-round Feistel network with splitmix64 round functions),
written over NumPy uint64 arrays: O(1) memory, ~0.1 ms per batch of 256 positions.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a strong 64-bit bijective hash (wrapping uint64 maths)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def round_keys(seed: int, rounds: int) -> np.ndarray:
    base = np.uint64(seed % 2**64)
    with np.errstate(over="ignore"):
        return _mix(base + _GOLDEN * np.arange(1, rounds + 1, dtype=np.uint64))


def permute(positions: np.ndarray, num_records: int, seed: int, rounds: int = 4) -> np.ndarray:
    """The records at `positions` (int, each in [0, num_records)) of the permutation
    keyed by `seed`. A bijection of [0, num_records); int64, shape of `positions`."""
    half = max(1, (int(num_records - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    keys = round_keys(seed, rounds)
    x = np.asarray(positions, np.uint64).copy()
    todo = np.ones(x.shape, bool)
    with np.errstate(over="ignore"):
        while todo.any():  # cycle-walk: at most a few passes (domain < 4 n)
            y = x[todo]
            left, right = y >> np.uint64(half), y & mask
            for key in keys:
                left, right = right, left ^ (_mix(right ^ key) & mask)
            y = (left << np.uint64(half)) | right
            x[todo] = y
            todo[todo] = y >= np.uint64(num_records)
    return x.astype(np.int64)
