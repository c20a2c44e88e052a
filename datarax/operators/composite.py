"""Composition of operators: `Sequential`, `RandomApply`, `RandomChoice`.

Per batch: the children's transforms, in one traced function (so one `jit` compiles a
whole composition). Children must keep the batch's structure (RandomApply and
RandomChoice select between outputs, which need equal shapes and dtypes).
Randomness: child i draws from its own key with i folded in (fold_in(record key, i)),
so an instance listed twice draws twice independently, and the children of two
composites on one stream differ. RandomApply/RandomChoice draw their own decisions
per record from the composite's key, keyed on (stream key, epoch, index).

Cost under vmap: a per-record choice between whole-batch branches is a select, so
RandomApply computes its child for every record and RandomChoice computes every
child; the work not taken is the price of one program for all records (a `lax.cond`
under vmap computes both sides too). Put cheap selections inside operators instead
(each operator's own `p`) where possible.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.core.operator import OperatorModule, batch_size_of, default_metadata
from datarax.operators._checks import plain_config, probability, stochastic_config


def _check_children(owner: str, children) -> list[OperatorModule]:
    children = list(children)
    if not children:
        raise ValueError(f"{owner}: needs at least one operator")
    for i, child in enumerate(children):
        if not isinstance(child, OperatorModule):
            raise ValueError(
                f"{owner}: operators[{i}] is a {type(child).__name__}, not an "
                f"OperatorModule; wrap functions in MapOperator or ElementOperator")
    return children


def run_child(child: OperatorModule, batch, metadata, position: int):
    """`child(batch, metadata)` with `position` folded into each record's key."""
    size = batch_size_of(batch, type(child).__name__)
    child.update_stats(batch, None if metadata is None else metadata.get("valid"))
    params = None
    if child.config.stochastic:
        keys = child.element_keys(metadata, size)
        keys = jax.vmap(lambda k: jax.random.fold_in(k, position))(keys)
        shapes = {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in batch.items()}
        params = child.generate_random_params(keys, shapes)
    if isinstance(child, _Composite):  # keeps None metadata: its children draw afresh
        out = child.compose(batch, metadata, params)
    else:
        out = child.apply_batch(batch, params,
                                default_metadata(size) if metadata is None else metadata)
    child.count_iteration()
    return out


def _select(owner: str, take: jax.Array, new, old):
    """Per record: `new` where take (B,) is True, else `old` (same structure)."""
    if set(new) != set(old):
        raise ValueError(f"{owner}: a branch changed the batch fields from {sorted(old)} "
                         f"to {sorted(new)}; branches must keep the fields")
    out = {}
    for field in new:
        a, b = new[field], old[field]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValueError(
                f"{owner}: a branch changed field {field!r} from {b.shape} {b.dtype} to "
                f"{a.shape} {a.dtype}; branches must keep shapes and dtypes")
        out[field] = jnp.where(take.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    return out


class _Composite(OperatorModule):
    """Runs children in `compose`; keeps the caller's metadata (None: fresh draws)."""

    def compose(self, batch, metadata, random_params):
        raise NotImplementedError

    def apply(self, data, state, metadata, random_params=None, stats=None):
        raise ValueError(f"{type(self).__name__} composes operators on whole batches; "
                         f"call it on a batch")

    def __call__(self, batch: Mapping[str, jax.Array], metadata=None):
        if not isinstance(batch, Mapping):
            raise TypeError(f"{type(self).__name__}: expected a batch dict of arrays, "
                            f"got {type(batch).__name__}")
        batch = dict(batch)
        size = batch_size_of(batch, type(self).__name__)
        self.update_stats(batch, None if metadata is None else metadata.get("valid"))
        params = None
        if self.config.stochastic:
            params = self.generate_random_params(self.element_keys(metadata, size), None)
        out = self.compose(batch, metadata, params)
        self.count_iteration()
        return out


class Sequential(_Composite):
    """Applies operators one after another.

    Args:
      operators: the `OperatorModule`s, in order.
      config: `OperatorConfig()` by default.
    """

    def __init__(self, operators: Sequence[OperatorModule],
                 config: OperatorConfig | None = None, *, rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), rngs=rngs)
        self.operators = nnx.List(_check_children("Sequential", operators))

    def compose(self, batch, metadata, random_params):
        for i, child in enumerate(self.operators):
            batch = run_child(child, batch, metadata, i)
        return batch


class RandomApply(_Composite):
    """Applies `operator` (one or a list, in sequence) to each record with probability p.

    Args:
      operator: an `OperatorModule`, or a sequence of them applied in order.
      p: probability per record.
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      rngs: `nnx.Rngs` with the config's stream.
    """

    def __init__(self, operator: OperatorModule | Sequence[OperatorModule], p: float = 0.5,
                 config: OperatorConfig | None = None, *, rngs: nnx.Rngs | None = None):
        super().__init__(stochastic_config("RandomApply", config), rngs=rngs)
        children = [operator] if isinstance(operator, OperatorModule) else operator
        self.operators = nnx.List(_check_children("RandomApply", children))
        self.p = probability("RandomApply", p)

    def generate_random_params(self, keys, data_shapes):
        return jax.vmap(lambda k: jax.random.bernoulli(k, self.p))(keys)

    def compose(self, batch, metadata, random_params):
        out = batch
        for i, child in enumerate(self.operators):
            out = run_child(child, out, metadata, i)
        return _select("RandomApply", random_params, out, batch)


class RandomChoice(_Composite):
    """Applies one of `operators` per record, chosen with probabilities `weights`.

    Args:
      operators: the candidate `OperatorModule`s (each keeps the batch structure).
      weights: relative weights (default: equal); normalised to sum to 1.
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      rngs: `nnx.Rngs` with the config's stream.
    """

    def __init__(self, operators: Sequence[OperatorModule],
                 weights: Sequence[float] | None = None,
                 config: OperatorConfig | None = None, *, rngs: nnx.Rngs | None = None):
        super().__init__(stochastic_config("RandomChoice", config), rngs=rngs)
        self.operators = nnx.List(_check_children("RandomChoice", operators))
        n = len(self.operators)
        weights = [1.0] * n if weights is None else [float(w) for w in weights]
        if len(weights) != n or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"RandomChoice: weights must be {n} non-negative numbers "
                             f"with a positive sum, got {weights!r}")
        self.weights = tuple(w / sum(weights) for w in weights)

    def generate_random_params(self, keys, data_shapes):
        logits = jnp.log(jnp.asarray(self.weights))
        return jax.vmap(lambda k: jax.random.categorical(k, logits))(keys)

    def compose(self, batch, metadata, random_params):
        out = batch
        for i, child in enumerate(self.operators):
            out = _select("RandomChoice", random_params == i,
                          run_child(child, batch, metadata, i), out)
        return out
