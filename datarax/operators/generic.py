"""Operators built from a user function: `MapOperator` and `ElementOperator`.

Per element: `MapOperator` calls `fn` on each chosen field's array (no batch axis) and
keeps the other fields; `ElementOperator` calls `fn` on the whole element dict, for
transforms that must touch several fields together (an image and its boxes or mask).
Randomness (stochastic config only): `fn` gets a second argument, the record's key,
derived from (stream key, epoch, record index); every field of a record gets the same
key, so `MapOperator` can apply one random geometry to an image and its mask.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import flax.nnx as nnx
import jax

from datarax.core.config import OperatorConfig
from datarax.core.operator import OperatorModule
from datarax.operators._checks import fields_tuple, plain_config, require_fields


def _check_callable(owner: str, fn: Any) -> None:
    if not callable(fn):
        raise ValueError(f"{owner}: fn must be callable, got {type(fn).__name__}")


class MapOperator(OperatorModule):
    """Applies `fn` to chosen fields of each element.

    Args:
      config: `OperatorConfig()` (default) for `fn(x)`; a stochastic config for
        `fn(x, key)`.
      fn: a jax-traceable function of one field's array (per element, no batch axis).
      fields: the field name(s) to map; None maps every field.
      rngs: `nnx.Rngs` holding the config's stream when it is stochastic.

    Example:
      scale = MapOperator(None, lambda x: x / 255.0, fields="image")
    """

    def __init__(self, config: OperatorConfig | None, fn: Callable, *,
                 fields: str | Sequence[str] | None = None, rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), rngs=rngs)
        _check_callable("MapOperator", fn)
        self.fn = fn
        self.fields = None if fields is None else fields_tuple("MapOperator", fields)

    def apply(self, data, state, metadata, random_params=None, stats=None):
        fields = tuple(data) if self.fields is None else self.fields
        require_fields("MapOperator", data, fields)
        out = dict(data)
        for field in fields:
            if self.config.stochastic:
                out[field] = self.fn(data[field], random_params)
            else:
                out[field] = self.fn(data[field])
        return out, state, metadata


class ElementOperator(OperatorModule):
    """Applies `fn` to each whole element (a dict of arrays without a batch axis).

    Args:
      config: `OperatorConfig()` (default) for `fn(element)`; a stochastic config for
        `fn(element, key)`.
      fn: returns the new element dict (it may add or drop fields; every element must
        come out with the same structure).
      rngs: `nnx.Rngs` holding the config's stream when it is stochastic.
    """

    def __init__(self, config: OperatorConfig | None, fn: Callable, *,
                 rngs: nnx.Rngs | None = None):
        super().__init__(plain_config(config), rngs=rngs)
        _check_callable("ElementOperator", fn)
        self.fn = fn

    def apply(self, data, state, metadata, random_params=None, stats=None):
        out = self.fn(dict(data), random_params) if self.config.stochastic else self.fn(dict(data))
        if not isinstance(out, Mapping):
            raise ValueError(f"ElementOperator: fn must return a dict of arrays, got "
                             f"{type(out).__name__}")
        return dict(out), state, metadata
