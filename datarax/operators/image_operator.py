"""`ImageOperator`: the base of operators on channels-last image fields.

Per element: each field in `fields` is an image (H, W, C); every listed field must share
H and W, so geometric operators move an image and its mask together (one draw per
record, applied to every field). Other fields pass through unchanged.

Randomness: a subclass writes `draw(key, shape)` for ONE record, returning a dict of
cheap scalars (a flip bit, a crop offset, a factor); the base vmaps it over the
per-record keys the `OperatorModule` machinery derives from (stream key, epoch, record
index). With `p` set, the base also draws one Bernoulli(p) per record and keeps the
input where it is False, by selection (`jnp.where`) rather than `lax.cond`: under
`vmap` a cond computes both branches anyway, and a select fuses with them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.core.operator import OperatorModule
from datarax.operators._checks import fields_tuple, probability, require_fields


class ImageOperator(OperatorModule):
    """Base of image operators; subclasses implement `transform` (and `draw` if random).

    Class attributes:
      channels: the channel counts the operator accepts (None: any).

    Args:
      config: the operator's config.
      fields: the image field name, or several that share H and W.
      p: probability that a record is transformed (stochastic operators only; None:
        always).
      rngs: `nnx.Rngs` holding `config.stream_name` when the config is stochastic.
    """

    channels: tuple[int, ...] | None = None

    def __init__(self, config: OperatorConfig, *, fields: str | Sequence[str] = "image",
                 p: float | None = None, rngs: nnx.Rngs | None = None):
        super().__init__(config, rngs=rngs)
        name = type(self).__name__
        self.fields = fields_tuple(name, fields)
        self.p = None if p is None else probability(name, p)

    # ---- what subclasses write ---------------------------------------------------

    def draw(self, key: jax.Array, shape: tuple[int, int, int]) -> dict[str, jax.Array]:
        """Random parameters of ONE record whose images are `shape` (H, W, C)."""
        del key, shape
        return {}

    def transform(self, image: jax.Array, params: Mapping[str, jax.Array] | None,
                  stats: Any = None) -> jax.Array:
        """Transforms one image (H, W, C) with this record's params."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform()")

    # ---- the machinery -----------------------------------------------------------

    def image_shape(self, data: Mapping[str, Any]) -> tuple[int, int, int]:
        """Validates the image fields of one element; returns their (H, W, C).

        Raises:
          ValueError: a field is missing, is not rank 3, has a channel count the
            operator does not accept, or the fields disagree on H and W.
        """
        name = type(self).__name__
        require_fields(name, data, self.fields)
        first = None
        for field in self.fields:
            shape = tuple(data[field].shape)
            if len(shape) != 3:
                raise ValueError(
                    f"{name}: field {field!r} must be one channels-last image (H, W, C) "
                    f"per element (a batch (B, H, W, C)), got element shape {shape}; "
                    f"add a channel axis to grayscale images")
            if self.channels is not None and shape[2] not in self.channels:
                raise ValueError(
                    f"{name}: field {field!r} has {shape[2]} channels; this operator "
                    f"accepts {' or '.join(map(str, self.channels))}")
            if first is not None and shape[:2] != first[:2]:
                raise ValueError(
                    f"{name}: fields {self.fields} must share height and width; "
                    f"{field!r} is {shape[:2]}, {self.fields[0]!r} is {first[:2]}")
            first = first or shape
        return first

    def generate_random_params(self, keys: jax.Array, data_shapes: Mapping[str, Any]):
        shape = self.image_shape(data_shapes)

        def one(key):
            if self.p is None:  # no gate, no split: each threefry costs compile time
                return dict(self.draw(key, shape))
            gate_key, key = jax.random.split(key)
            params = dict(self.draw(key, shape))
            params["apply"] = jax.random.bernoulli(gate_key, self.p)
            return params

        return jax.vmap(one)(keys)

    def apply(self, data, state, metadata, random_params=None, stats=None):
        self.image_shape(data)
        out = dict(data)
        for field in self.fields:
            image = data[field]
            result = self.transform(image, random_params, stats)
            if random_params is not None and "apply" in random_params:
                result = jnp.where(random_params["apply"], result, image.astype(result.dtype))
            out[field] = result
        return out, state, metadata
