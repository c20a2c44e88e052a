"""Tier 2A: `OperatorModule`, the base of every on-device data transform.

An operator is written for ONE element (a dict of arrays without a batch axis) in
`apply`; the base class vmaps it over a batch. Calling `op(batch)` on a dict of arrays
with a leading batch axis returns the transformed dict, so an operator can sit inside a
user's `jax.jit`, `jax.grad` or `nnx.grad`, and `nnx.Param` attributes are trainable.

Randomness: a stochastic operator draws its own key once, at construction, from its
`rngs` stream (so two instances on one stream differ), and derives each element's key
as fold_in(fold_in(operator key, epoch), global record index). A record therefore gets
the same draw whatever its batch, its position in it, or the worker count, and a
fresh draw each epoch. The record identity travels in `metadata`
({'epoch': int32 (B,), 'index': int32 (B,)}); a pipeline supplies it. Called without
metadata, an operator draws a fresh key from its stream per call and uses positions.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.nnx as nnx
import jax
import jax.extend
import jax.numpy as jnp

from datarax.core.config import DataraxConfig, OperatorConfig, StructuralConfig
from datarax.core.module import Batch, DataraxModule

__all__ = ["OperatorModule", "OperatorConfig", "StructuralConfig", "DataraxConfig",
           "OperatorKey", "default_metadata", "element_keys"]


class OperatorKey(nnx.Variable):
    """An operator's own random key (raw uint32 key data, fixed after construction)."""


def default_metadata(batch_size: int, epoch: int | jax.Array = 0) -> dict[str, jax.Array]:
    """Record identity for a batch that carries none: positions 0..B-1, all valid."""
    return {
        "epoch": jnp.full((batch_size,), epoch, jnp.int32),
        "index": jnp.arange(batch_size, dtype=jnp.int32),
        "valid": jnp.ones((batch_size,), bool),
    }


def element_keys(key: jax.Array, metadata: Mapping[str, jax.Array]) -> jax.Array:
    """One key per element, a function of (key, epoch, index) only. Shape (B,) of keys.

    For threefry keys (JAX's default) the element key is the threefry hash of the
    two-word block (epoch, index) under `key`: one hash, where fold_in(fold_in(key,
    epoch), index) costs two. Each threefry in a program adds ~0.13 s to XLA's CPU
    compile, which is most of the time to a pipeline's first batch. Other key
    implementations fold the two words in one after the other.
    """
    epoch = metadata["epoch"].astype(jnp.uint32)
    index = metadata["index"].astype(jnp.uint32)
    if str(jax.random.key_impl(key)) == "threefry2x32":
        data = jax.random.key_data(key)
        # Per element (vmap), so a batch sharded over devices is never mixed across them.
        pairs = jax.vmap(lambda e, i: jax.extend.random.threefry_2x32(data, jnp.stack([e, i])))(
            epoch, index)
        return jax.random.wrap_key_data(pairs, impl="threefry2x32")

    def one(e, i):
        return jax.random.fold_in(jax.random.fold_in(key, e), i)
    return jax.vmap(one)(epoch, index)


def batch_size_of(batch: Mapping[str, Any], owner: str) -> int:
    """The common leading dimension of a batch's leaves; a clear error if they differ."""
    leaves = jax.tree_util.tree_leaves_with_path(batch)
    if not leaves:
        raise ValueError(f"{owner}: the batch is empty (no arrays)")
    sizes = {}
    for path, leaf in leaves:
        name = jax.tree_util.keystr(path)
        if jnp.ndim(leaf) == 0:
            raise ValueError(
                f"{owner}: field {name} is a scalar; a batch needs a leading batch axis")
        sizes[name] = jnp.shape(leaf)[0]
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{owner}: batch fields disagree on the batch size: {sizes}")
    return next(iter(sizes.values()))


class OperatorModule(DataraxModule):
    """A differentiable, optionally stochastic and learnable batch transform.

    Subclasses implement `apply` for one element, and may override
    `generate_random_params` (turn per-element keys into whatever `apply` needs) or
    `apply_batch` (for operators that need the whole batch, such as MixUp).
    """

    def __init__(self, config: OperatorConfig, *, rngs: nnx.Rngs | None = None, **kwargs):
        super().__init__(config, rngs=rngs, **kwargs)
        if config.stochastic:
            # One draw per instance: two operators on the same stream get different keys.
            key = rngs[config.stream_name]()
            self.operator_key = OperatorKey(jax.random.key_data(key))
        else:
            self.operator_key = None

    # ---- what subclasses write ---------------------------------------------------

    def apply(self, data, state, metadata, random_params=None, stats=None):
        """Transforms ONE element. Returns (data, state, metadata)."""
        raise NotImplementedError(f"{type(self).__name__} must implement apply()")

    def generate_random_params(self, keys: jax.Array, data_shapes: Mapping[str, Any]):
        """Per-element random parameters from per-element keys (B,). Default: the keys."""
        del data_shapes
        return keys

    def apply_batch(self, batch: Batch, random_params=None, metadata=None) -> Batch:
        """Transforms a whole batch; by default vmaps `apply` over the batch axis."""
        stats = self.apply_stats()
        if metadata is None:
            metadata = default_metadata(batch_size_of(batch, type(self).__name__))

        def one(data, meta, params):
            out, _, _ = self.apply(data, {}, meta, params, stats)
            return out

        params_axis = None if random_params is None else 0
        per_element = {k: v for k, v in metadata.items() if k != "salt"}
        return jax.vmap(one, in_axes=(0, 0, params_axis))(batch, per_element, random_params)

    # ---- the machinery -----------------------------------------------------------

    def apply_stats(self) -> dict[str, dict[str, jax.Array]] | None:
        """The statistics `apply` receives: {field: {'count', 'mean', 'var'}}, or None."""
        if self.batch_stats is None:
            return None
        return {field: self.stats(field) for field in self.batch_stats}

    def element_keys(self, metadata: Mapping[str, jax.Array] | None, batch_size: int):
        """Per-element keys keyed on record identity (see the module docstring)."""
        key = jax.random.wrap_key_data(self.operator_key[...])
        if metadata is not None and "salt" in metadata:
            key = jax.random.fold_in(key, metadata["salt"])  # one instance, several graph nodes
        if metadata is None:
            metadata = default_metadata(batch_size)
            if self.state_is_writable():
                key = self.rngs[self.config.stream_name]()  # a fresh draw per call
        return element_keys(key, metadata)

    def __call__(self, batch: Batch, metadata: Mapping[str, jax.Array] | None = None) -> Batch:
        """Transforms a batch (dict of arrays with a leading batch axis)."""
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"{type(self).__name__}: expected a batch dict of arrays, got "
                f"{type(batch).__name__}")
        batch = dict(batch)
        size = batch_size_of(batch, type(self).__name__)
        valid = None if metadata is None else metadata.get("valid")
        self.update_stats(batch, valid)
        random_params = None
        if self.config.stochastic:
            keys = self.element_keys(metadata, size)
            shapes = {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in batch.items()}
            random_params = self.generate_random_params(keys, shapes)
        if metadata is None:
            metadata = default_metadata(size)
        out = self.apply_batch(batch, random_params, metadata)
        self.count_iteration()
        return out
