"""NNX state <-> a tree Orbax can write: plain arrays, typed PRNG keys as key data."""

from __future__ import annotations

from typing import Any

import flax.nnx as nnx
import jax
import numpy as np


def _is_key(leaf: Any) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def savable_state(module: nnx.Module) -> dict[str, Any]:
    """The module's NNX state as a nested dict of arrays (keys stored as uint32 data)."""
    pure = nnx.to_pure_dict(nnx.state(module))
    return jax.tree.map(lambda a: jax.random.key_data(a) if _is_key(a) else a, pure)


def manifest(module: nnx.Module) -> dict[str, str]:
    """{state path: 'dtype[shape]'}: what a checkpoint's modules must match."""
    leaves = jax.tree_util.tree_leaves_with_path(savable_state(module))
    return {jax.tree_util.keystr(path): f"{np.dtype(a.dtype).name}{list(a.shape)}"
            for path, a in leaves}


def load_state(module: nnx.Module, restored: dict[str, Any]) -> None:
    """Writes a tree from `savable_state` back into `module`, re-wrapping PRNG keys."""
    state = nnx.state(module)
    current = nnx.to_pure_dict(state)
    fixed = jax.tree.map(
        lambda now, saved: jax.random.wrap_key_data(saved, impl=jax.random.key_impl(now))
        if _is_key(now) else jax.numpy.asarray(saved, now.dtype),
        current, restored)
    nnx.replace_by_pure_dict(state, fixed)
    nnx.update(module, state)


def describe_mismatch(saved: dict[str, str], current: dict[str, str]) -> str:
    """Human-readable differences between two manifests ('' if equal)."""
    parts = []
    missing = sorted(set(saved) - set(current))
    extra = sorted(set(current) - set(saved))
    changed = sorted(k for k in set(saved) & set(current) if saved[k] != current[k])
    if missing:
        parts.append(f"state the checkpoint has but this pipeline lacks: {missing[:8]}")
    if extra:
        parts.append(f"state this pipeline has but the checkpoint lacks: {extra[:8]}")
    if changed:
        parts.append("shapes/dtypes differ: " + ", ".join(
            f"{k} saved {saved[k]} now {current[k]}" for k in changed[:8]))
    return "; ".join(parts)
