"""Tier 1: `DataraxModule`, the base of every datarax component.

A DataraxModule is an `nnx.Module` that holds a frozen config and, as NNX state (so
it is checkpointed and flows through `nnx.split`/`nnx.merge` at a jit boundary):
  - `iteration_count`: how many batches it has processed (int32 scalar);
  - `batch_stats`: running mean / variance per feature of each field named in
    `config.stats_fields` (float32, the field's per-element shape), and the running
    mean of whatever a user `batch_stats_fn` returns;
plus an opt-in host-side cache of processed results keyed by input identity.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Hashable, Mapping

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import DataraxConfig

Batch = dict[str, jax.Array]


class IterationCount(nnx.Variable):
    """How many batches a module has processed."""


class BatchStat(nnx.Variable):
    """A running statistic of the data a module has seen (not a trainable param)."""


class _ResultCache:
    """A small LRU of processed results. Plain Python, so NNX treats it as static."""

    def __init__(self, size: int):
        self.size = size
        self.entries: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = compute()
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


class DataraxModule(nnx.Module):
    """Base of all datarax modules: config, call counting, statistics, cache, state.

    Args:
      config: a frozen `DataraxConfig` (or subclass).
      rngs: an `nnx.Rngs`; must hold `config.stream_name` when `config.stochastic`.
      batch_stats_fn: optional `fn(batch) -> dict of arrays`; the module keeps the
        running mean of each returned array (over batches) in `batch_stats['custom']`.
    """

    def __init__(
        self,
        config: DataraxConfig,
        *,
        rngs: nnx.Rngs | None = None,
        batch_stats_fn: Callable[[Batch], Mapping[str, jax.Array]] | None = None,
    ):
        if not isinstance(config, DataraxConfig):
            raise TypeError(
                f"{type(self).__name__}: config must be a datarax config "
                f"(OperatorConfig or StructuralConfig), got {type(config).__name__}")
        if config.stochastic:
            if rngs is None:
                raise ValueError(
                    f"{type(self).__name__} is stochastic (stream_name="
                    f"{config.stream_name!r}) but was built without rngs; pass "
                    f"rngs=nnx.Rngs({config.stream_name}=seed)")
            if config.stream_name not in rngs:
                raise ValueError(
                    f"{type(self).__name__}: rngs has no stream "
                    f"{config.stream_name!r} (config.stream_name); pass "
                    f"rngs=nnx.Rngs({config.stream_name}=seed)")
        self.config = config
        self.rngs = rngs
        self.iteration_count = IterationCount(jnp.zeros((), jnp.int32))
        self.batch_stats_fn = batch_stats_fn
        self.batch_stats = nnx.Dict() if (config.stats_fields or batch_stats_fn) else None
        self._cache = _ResultCache(config.cache_size) if config.cache_size else None

    # ---- statistics -------------------------------------------------------------

    def update_stats(self, batch: Batch, valid: jax.Array | None = None) -> None:
        """Folds one batch into the running statistics (jit-safe, no host sync).

        Args:
          batch: dict of arrays with a leading batch axis.
          valid: optional bool (B,) mask; rows where it is False (padding) are ignored.
        """
        if self.batch_stats is None or not self.state_is_writable():
            return
        first = next(iter(batch.values()))
        if valid is None:
            valid = jnp.ones(first.shape[0], bool)
        limit = self.config.stats_max_batches
        # Counting batches as a float keeps one select instead of a Python branch.
        active = jnp.asarray(True) if limit is None else self.iteration_count[...] < limit
        weights = valid.astype(jnp.float32) * active
        for field in self.config.stats_fields:
            if field not in batch:
                raise ValueError(
                    f"{type(self).__name__}: stats_fields names {field!r}, which is not "
                    f"in the batch (fields: {sorted(batch)})")
            self._fold_moments(field, batch[field].astype(jnp.float32), weights)
        if self.batch_stats_fn is not None:
            custom = self.batch_stats_fn(batch)
            for name, value in custom.items():
                value = jnp.asarray(value, jnp.float32)
                self._fold_moments(f"custom/{name}", value[None], active.astype(jnp.float32)[None])

    def init_stats(self, batch_spec: Mapping[str, Any]) -> None:
        """Creates zeroed statistics for a batch of this structure.

        NNX state cannot grow inside a compiled function, so a pipeline calls this
        once, eagerly, with the shapes (`jax.ShapeDtypeStruct`s or arrays, leading
        batch axis) its stage will see. Direct eager calls create them on first use.
        """
        if self.batch_stats is None:
            return
        for field in self.config.stats_fields:
            if field not in batch_spec:
                raise ValueError(
                    f"{type(self).__name__}: stats_fields names {field!r}, which is not "
                    f"in the batch (fields: {sorted(batch_spec)})")
            self._ensure_moments(field, tuple(batch_spec[field].shape[1:]))
        if self.batch_stats_fn is not None:
            custom = jax.eval_shape(self.batch_stats_fn, dict(batch_spec))
            for name, value in custom.items():
                self._ensure_moments(f"custom/{name}", tuple(value.shape))

    def _ensure_moments(self, field: str, shape: tuple[int, ...]) -> None:
        if field in self.batch_stats:
            return
        self.batch_stats[field] = nnx.Dict(
            count=BatchStat(jnp.zeros((), jnp.float32)),
            mean=BatchStat(jnp.zeros(shape, jnp.float32)),
            m2=BatchStat(jnp.zeros(shape, jnp.float32)),
        )

    def _fold_moments(self, field: str, x: jax.Array, weights: jax.Array) -> None:
        """Chan's parallel update of (count, mean, M2) with a weighted batch."""
        if field not in self.batch_stats:
            if isinstance(x, jax.core.Tracer):
                raise ValueError(
                    f"{type(self).__name__}: statistics for {field!r} were not "
                    f"initialised before tracing; call init_stats(batch_spec) first "
                    f"(datarax.Pipeline does this for its stages)")
            self._ensure_moments(field, tuple(x.shape[1:]))
        s = self.batch_stats[field]
        w = weights.reshape((-1,) + (1,) * (x.ndim - 1))
        n_b = weights.sum()
        mean_b = (w * x).sum(0) / jnp.maximum(n_b, 1.0)
        m2_b = (w * (x - mean_b) ** 2).sum(0)
        n_a, mean_a = s["count"][...], s["mean"][...]
        n = n_a + n_b
        delta = mean_b - mean_a
        frac = n_b / jnp.maximum(n, 1.0)
        s["mean"][...] = mean_a + delta * frac
        s["m2"][...] = s["m2"][...] + m2_b + delta**2 * n_a * frac
        s["count"][...] = n

    def stats(self, field: str) -> dict[str, jax.Array]:
        """Running statistics of `field`: {'count', 'mean', 'var'} (population var)."""
        if self.batch_stats is None or field not in self.batch_stats:
            tracked = [] if self.batch_stats is None else list(self.batch_stats)
            raise ValueError(
                f"{type(self).__name__}: no statistics for {field!r} (tracked: "
                f"{tracked}); list it in config.stats_fields")
        s = self.batch_stats[field]
        count = s["count"][...]
        return {"count": count, "mean": s["mean"][...],
                "var": s["m2"][...] / jnp.maximum(count, 1.0)}

    # ---- iteration count, cache, state ------------------------------------------

    def count_iteration(self) -> None:
        if self.state_is_writable():
            self.iteration_count[...] = self.iteration_count[...] + 1

    def state_is_writable(self) -> bool:
        """False inside a plain `jax.jit`/`jax.grad` of a module made outside it.

        NNX state cannot be written from inside a raw JAX transform, so there the
        bookkeeping (iteration count, statistics) is skipped and the data still flows;
        `nnx.jit`/`nnx.grad` and datarax pipelines keep it.
        """
        return self.iteration_count._can_update  # pylint: disable=protected-access

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Returns the cached result for `key`, computing and storing it on a miss.

        The key is the identity of the input (for example a tuple of record indices);
        with `config.cache_size == 0` the cache is off and `compute()` always runs.
        """
        if self._cache is None:
            return compute()
        return self._cache.get_or_compute(key, compute)

    def get_state(self) -> nnx.State:
        """The module's whole NNX state: params, RNG streams, statistics, counts."""
        return nnx.state(self)

    def set_state(self, state: nnx.State) -> None:
        """Restores what `get_state` returned (same structure)."""
        nnx.update(self, state)
