"""Validation shared by the operators: one place that words each error the same way.

Every check raises `ValueError` naming the operator, the argument or field, what was
wrong and what to pass instead; they run at construction or at the first trace (shapes
are static under `jit`), never on array values.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.nnx as nnx

from datarax.core.config import OperatorConfig

AUGMENT = OperatorConfig(stochastic=True, stream_name="augment")


class OperatorConstant(nnx.Variable):
    """A fixed array an operator holds (not trained; part of its checkpointed state)."""


def stochastic_config(owner: str, config: OperatorConfig | None) -> OperatorConfig:
    """The config of an operator that always draws: default `AUGMENT`; refuse non-random."""
    if config is None:
        return AUGMENT
    if not config.stochastic:
        raise ValueError(
            f"{owner} draws random parameters, so its config must be stochastic; pass "
            f"OperatorConfig(stochastic=True, stream_name='augment') or config=None")
    return config


def plain_config(config: OperatorConfig | None) -> OperatorConfig:
    """The config of a deterministic operator: default `OperatorConfig()`."""
    return OperatorConfig() if config is None else config


def fields_tuple(owner: str, fields: str | Sequence[str], arg: str = "fields") -> tuple[str, ...]:
    """A field name or a sequence of them -> a non-empty tuple of distinct strings."""
    names = (fields,) if isinstance(fields, str) else tuple(fields)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{owner}: {arg} must be a field name or a sequence of them, "
                         f"got {fields!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}: {arg} names a field twice: {names!r}")
    return names


def require_fields(owner: str, data: Mapping[str, Any], fields: Sequence[str]) -> None:
    """Every name in `fields` is a key of `data`, else a ValueError listing what is there."""
    for field in fields:
        if field not in data:
            raise ValueError(
                f"{owner}: field {field!r} is not in the data (fields: {sorted(data)}); "
                f"pass the name of an existing field")


def probability(owner: str, p: Any, arg: str = "p") -> float:
    """A probability in [0, 1] as a float."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {arg} must be a probability in [0, 1], got {p!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: {arg} must be a probability in [0, 1], got {p!r}")
    return value


def value_range(owner: str, arg: str, value: Any, *, around: float | None = None,
                low: float | None = None, high: float | None = None) -> tuple[float, float]:
    """A (lo, hi) range; a single number v means [around - v, around + v] (torchvision).

    With `around` None a single number means the degenerate range (v, v). The range is
    clipped below at `low` only for the single-number form (as torchvision's ColorJitter)
    and must lie inside [low, high] otherwise.
    """
    if isinstance(value, (int, float)):
        v = float(value)
        if around is None:
            lo, hi = v, v
        else:
            if v < 0:
                raise ValueError(f"{owner}: {arg} as one number must be >= 0, got {value!r}")
            lo, hi = around - v, around + v
            if low is not None:
                lo = max(lo, low)
    else:
        try:
            lo, hi = (float(x) for x in value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{owner}: {arg} must be a number or a (min, max) pair, got {value!r}") from None
    if lo > hi:
        raise ValueError(f"{owner}: {arg} range ({lo}, {hi}) has min > max")
    if (low is not None and lo < low) or (high is not None and hi > high):
        raise ValueError(f"{owner}: {arg} range ({lo}, {hi}) must lie within "
                         f"[{low}, {high}]")
    return lo, hi


def size_pair(owner: str, size: Any, arg: str = "size") -> tuple[int, int]:
    """An int n -> (n, n); an (h, w) pair -> itself; both positive."""
    if isinstance(size, int):
        pair = (size, size)
    else:
        try:
            pair = tuple(int(s) for s in size)
        except (TypeError, ValueError):
            pair = ()
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{owner}: {arg} must be a positive int or an (height, width) "
                         f"pair of positive ints, got {size!r}")
    return pair
