"""Batch-level mixing: `MixUp` and `CutMix` (they override `apply_batch`).

Per batch: images (B, ...) and labels (B,) int or (B, num_classes) float ->
images of the same shape and dtype, labels float32 (B, num_classes) mixed with the
same weight as the pixels. Record i mixes with record i - 1 of the batch (a roll by
one, as torchvision), so the partner depends on the batch by nature; a record whose
partner is padding (metadata 'valid' False) is left unmixed.
Randomness: the mixing weight lam ~ Beta(alpha, alpha) per record (and CutMix's box
centre), keyed on (stream key, epoch, record index), not on batch position.
"""

from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from datarax.core.config import OperatorConfig
from datarax.core.operator import OperatorModule
from datarax.operators._checks import (
    fields_tuple, probability, require_fields, stochastic_config)
from datarax.operators._pixels import restore


class _BatchMix(OperatorModule):
    """Shared parts of MixUp and CutMix: arguments, label handling, the partner roll."""

    def __init__(self, config: OperatorConfig | None = None, *, num_classes: int,
                 alpha: float = 1.0, p: float = 1.0, fields: str | Sequence[str] = "image",
                 label_field: str = "label", rngs: nnx.Rngs | None = None):
        name = type(self).__name__
        super().__init__(stochastic_config(name, config), rngs=rngs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        if not alpha > 0:
            raise ValueError(f"{name}: alpha must be > 0, got {alpha!r}")
        self.num_classes, self.alpha = num_classes, float(alpha)
        self.p = probability(name, p)
        self.fields = fields_tuple(name, fields)
        self.label_field = fields_tuple(name, label_field, "label_field")[0]

    def check_shapes(self, shapes) -> None:
        name = type(self).__name__
        require_fields(name, shapes, self.fields + (self.label_field,))
        label = shapes[self.label_field]
        integer = jnp.issubdtype(label.dtype, jnp.integer)
        if not ((integer and label.shape == ()) or
                (not integer and tuple(label.shape) == (self.num_classes,))):
            raise ValueError(
                f"{name}: label field {self.label_field!r} must be an integer class id "
                f"or a float vector of num_classes={self.num_classes} per element, got "
                f"shape {tuple(label.shape)} dtype {label.dtype}")

    def draw(self, key, shape) -> dict:
        return {}

    def generate_random_params(self, keys, data_shapes):
        self.check_shapes(data_shapes)

        def one(key):
            lam_key, gate_key, key = jax.random.split(key, 3)
            lam = jax.random.beta(lam_key, self.alpha, self.alpha)
            lam = jnp.where(jax.random.bernoulli(gate_key, self.p), lam, 1.0)
            return {"lam": lam, **self.draw(key, data_shapes[self.fields[0]].shape)}

        return jax.vmap(one)(keys)

    def apply(self, data, state, metadata, random_params=None, stats=None):
        raise ValueError(f"{type(self).__name__} mixes records of a batch; call it on a "
                         f"batch (it has no per-element apply)")

    def one_hot_labels(self, labels: jax.Array) -> jax.Array:
        if jnp.issubdtype(labels.dtype, jnp.integer):
            return jax.nn.one_hot(labels, self.num_classes, dtype=jnp.float32)
        return labels.astype(jnp.float32)

    def mix(self, batch, metadata, pixel_weight, label_weight):
        """Mixes each record with the previous one: weights are (B,) for self."""
        if metadata is not None and "valid" in metadata:
            keep = ~jnp.roll(metadata["valid"], 1)  # the partner is padding
            pixel_weight = jnp.where(keep.reshape((-1,) + (1,) * (pixel_weight.ndim - 1)),
                                     1.0, pixel_weight)
            label_weight = jnp.where(keep, 1.0, label_weight)
        out = dict(batch)
        for field in self.fields:
            x = batch[field]
            w = pixel_weight.reshape(pixel_weight.shape + (1,) * (x.ndim - pixel_weight.ndim))
            xf = x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.integer) else x
            out[field] = restore(w * xf + (1 - w) * jnp.roll(xf, 1, axis=0), x.dtype)
        labels = self.one_hot_labels(batch[self.label_field])
        lw = label_weight[:, None]
        out[self.label_field] = lw * labels + (1 - lw) * jnp.roll(labels, 1, axis=0)
        return out


class MixUp(_BatchMix):
    """x_i <- lam_i x_i + (1 - lam_i) x_{i-1}; labels likewise (Zhang et al.).

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      num_classes: length of the one-hot label vectors.
      alpha: the Beta(alpha, alpha) parameter of lam.
      p: probability that a record is mixed (lam = 1 otherwise).
      fields: the field(s) to mix (any shape per element).
      label_field: integer class ids (B,) or float (B, num_classes).
      rngs: `nnx.Rngs` with the config's stream.
    """

    def apply_batch(self, batch, random_params=None, metadata=None):
        self.check_shapes(batch_shapes(batch))
        lam = random_params["lam"]
        return self.mix(batch, metadata, lam, lam)


class CutMix(_BatchMix):
    """Pastes a box of record i - 1 into record i; labels weighted by area (Yun et al.).

    The box follows torchvision: centre uniform over the image, half-sides
    int(0.5 sqrt(1 - lam) H) and int(0.5 sqrt(1 - lam) W), clipped at the borders; the
    label weight is the fraction of the record's own pixels that remain.

    Args:
      config: default `OperatorConfig(stochastic=True, stream_name='augment')`.
      num_classes: length of the one-hot label vectors.
      alpha: the Beta(alpha, alpha) parameter of lam.
      p: probability that a record is mixed.
      fields: the image field(s) (B, H, W, C), sharing H and W.
      label_field: integer class ids (B,) or float (B, num_classes).
      rngs: `nnx.Rngs` with the config's stream.
    """

    def check_shapes(self, shapes) -> None:
        super().check_shapes(shapes)
        sizes = set()
        for field in self.fields:
            shape = tuple(shapes[field].shape)
            if len(shape) != 3:
                raise ValueError(f"CutMix: field {field!r} must be a channels-last image "
                                 f"(H, W, C) per element, got element shape {shape}")
            sizes.add(shape[:2])
        if len(sizes) > 1:
            raise ValueError(f"CutMix: fields {self.fields} must share height and width")

    def draw(self, key, shape):
        cy_key, cx_key = jax.random.split(key)
        return {"cy": jax.random.randint(cy_key, (), 0, shape[0]),
                "cx": jax.random.randint(cx_key, (), 0, shape[1])}

    def apply_batch(self, batch, random_params=None, metadata=None):
        self.check_shapes(batch_shapes(batch))
        height, width = batch[self.fields[0]].shape[1:3]
        lam, cy, cx = random_params["lam"], random_params["cy"], random_params["cx"]
        half = 0.5 * jnp.sqrt(1.0 - lam)
        half_h = jnp.floor(half * height).astype(jnp.int32)
        half_w = jnp.floor(half * width).astype(jnp.int32)
        y1, y2 = jnp.maximum(cy - half_h, 0), jnp.minimum(cy + half_h, height)
        x1, x2 = jnp.maximum(cx - half_w, 0), jnp.minimum(cx + half_w, width)
        rows = jnp.arange(height)[None, :, None]
        cols = jnp.arange(width)[None, None, :]
        inside = ((rows >= y1[:, None, None]) & (rows < y2[:, None, None]) &
                  (cols >= x1[:, None, None]) & (cols < x2[:, None, None]))
        own = 1.0 - inside.astype(jnp.float32)  # (B, H, W): 1 where the record stays
        label_weight = 1.0 - ((y2 - y1) * (x2 - x1)) / (height * width)
        return self.mix(batch, metadata, own, label_weight)


def batch_shapes(batch):
    """Per-element shapes of a batch dict (the leading axis dropped)."""
    return {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in batch.items()}
