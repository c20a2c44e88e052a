"""Sequence and tabular operators: `PadOrTruncate`, `OneHot`, `Standardize`.

Per element:
  PadOrTruncate  field (L, ...) -> (length, ...), same dtype, plus a bool (length,) mask
  OneHot         integer field (...) -> float (..., num_classes)
  Standardize    field (...) -> float32 (...): (x - mean) / sqrt(var + epsilon)
Deterministic. Standardize takes mean/var from the statistics the module tracks in its
NNX state (tier 1: running, over the first `max_batches` batches, so checkpointed with
the pipeline) or from values passed in.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import numpy as np
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.core.operator import OperatorModule
from datarax.operators._checks import (
    OperatorConstant, fields_tuple, plain_config, require_fields)


class PadOrTruncate(OperatorModule):
    """Cuts or pads sequences to a fixed `length` along their first axis, with a mask.

    Args:
      config: `OperatorConfig()` by default.
      length: the output length.
      fields: the sequence field(s) (L, ...), cut and padded alike.
      pad_value: the value of padded positions.
      length_field: optional int field holding each record's true length (a batch
        stores sequences padded to a common L); positions past it count as padding.
      mask_field: name of the bool (length,) field marking real positions (None: none).
    """

    def __init__(self, config: OperatorConfig | None = None, *, length: int,
                 fields: str | Sequence[str], pad_value: float = 0,
                 length_field: str | None = None, mask_field: str | None = "mask",
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), rngs=rngs)
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"PadOrTruncate: length must be a positive int, got {length!r}")
        self.length = length
        self.fields = fields_tuple("PadOrTruncate", fields)
        self.pad_value = pad_value
        self.length_field = length_field
        self.mask_field = mask_field
        if mask_field is not None and mask_field in self.fields:
            raise ValueError(f"PadOrTruncate: mask_field {mask_field!r} is also one of the "
                             f"fields to pad; pick another name")

    def apply(self, data, state, metadata, random_params=None, stats=None):
        names = self.fields + ((self.length_field,) if self.length_field else ())
        require_fields("PadOrTruncate", data, names)
        out = dict(data)
        positions = jnp.arange(self.length)
        for field in self.fields:
            x = data[field]
            if x.ndim < 1:
                raise ValueError(f"PadOrTruncate: field {field!r} must be a sequence "
                                 f"(L, ...) per element, got a scalar")
            true_length = x.shape[0] if self.length_field is None else data[self.length_field]
            keep = min(x.shape[0], self.length)
            widths = [(0, self.length - keep)] + [(0, 0)] * (x.ndim - 1)
            y = jnp.pad(x[:keep], widths, constant_values=jnp.asarray(self.pad_value, x.dtype))
            real = positions < jnp.minimum(true_length, self.length)
            out[field] = jnp.where(real.reshape((-1,) + (1,) * (x.ndim - 1)), y,
                                   jnp.asarray(self.pad_value, x.dtype))
        if self.mask_field is not None:
            true_length = (data[self.fields[0]].shape[0] if self.length_field is None
                           else data[self.length_field])
            out[self.mask_field] = positions < jnp.minimum(true_length, self.length)
        return out, state, metadata


class OneHot(OperatorModule):
    """Integer class ids -> one-hot vectors (ids outside [0, num_classes) give zeros).

    Args:
      config: `OperatorConfig()` by default.
      num_classes: the vector length.
      fields: the integer field(s).
      dtype: the output dtype (float32).
    """

    def __init__(self, config: OperatorConfig | None = None, *, num_classes: int,
                 fields: str | Sequence[str] = "label", dtype=jnp.float32,
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), rngs=rngs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"OneHot: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = num_classes
        self.fields = fields_tuple("OneHot", fields)
        self.dtype = jnp.dtype(dtype)

    def apply(self, data, state, metadata, random_params=None, stats=None):
        require_fields("OneHot", data, self.fields)
        out = dict(data)
        for field in self.fields:
            if not jnp.issubdtype(data[field].dtype, jnp.integer):
                raise ValueError(f"OneHot: field {field!r} must hold integer class ids, "
                                 f"got dtype {data[field].dtype}")
            out[field] = jax.nn.one_hot(data[field], self.num_classes, dtype=self.dtype)
        return out, state, metadata


class Standardize(OperatorModule):
    """(x - mean) / sqrt(var + epsilon) per feature, from tracked or given statistics.

    Tracked (mean and std omitted): the module keeps the running mean and variance of
    each field over the batches it sees (the first `max_batches` of them, then frozen)
    in its NNX state; each batch is folded in before it is standardised, so the first
    batch is standardised by its own moments. Given: `mean` and `std` broadcast
    against each element.

    Args:
      config: default `OperatorConfig(stats_fields=fields, stats_max_batches=max_batches)`
        when tracking; a given config must list every field in `stats_fields`.
      fields: the field(s) to standardise.
      mean, std: precomputed statistics (both or neither).
      max_batches: with tracking, freeze the statistics after this many batches.
      epsilon: added to the variance (std**2 when given).
    """

    def __init__(self, config: OperatorConfig | None = None, *,
                 fields: str | Sequence[str], mean=None, std=None,
                 max_batches: int | None = None, epsilon: float = 1e-6,
                 rngs: nnx.Rngs | None = None):
        fields = fields_tuple("Standardize", fields)
        if (mean is None) != (std is None):
            raise ValueError("Standardize: pass both mean and std, or neither to use "
                             "tracked statistics")
        tracked = mean is None
        if config is None:
            config = (OperatorConfig(stats_fields=fields, stats_max_batches=max_batches)
                      if tracked else OperatorConfig())
        elif tracked:
            missing = [f for f in fields if f not in config.stats_fields]
            if missing:
                raise ValueError(f"Standardize: config.stats_fields must list {missing} "
                                 f"to standardise with tracked statistics")
        super().__init__(config, rngs=rngs)
        self.fields = fields
        self.epsilon = float(epsilon)
        self.tracked = tracked
        if tracked:
            self.mean = self.var = None
        else:
            std = np.asarray(std, np.float32)
            if np.any(std <= 0):
                raise ValueError(f"Standardize: std must be > 0, got {std}")
            self.mean = OperatorConstant(jnp.asarray(mean, jnp.float32))
            self.var = OperatorConstant(jnp.asarray(std**2))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        require_fields("Standardize", data, self.fields)
        out = dict(data)
        for field in self.fields:
            if self.tracked:
                mean, var = stats[field]["mean"], stats[field]["var"]
            else:
                mean, var = self.mean[...], self.var[...]
            out[field] = (data[field].astype(jnp.float32) - mean) / jnp.sqrt(var + self.epsilon)
        return out, state, metadata
