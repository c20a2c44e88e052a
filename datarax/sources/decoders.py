"""Decoders that turn ArrayRecord bytes into arrays.

`TFDSExampleDecoder` decodes examples serialised by TFDS (`tf.train.Example` protos,
what `tfds build --file_format=array_record` writes) with TFDS's NumPy path: no
TensorFlow. `FixedLayout` decodes records that are fixed-size concatenations of raw arrays. It is a
batch decoder: a whole batch is one `b"".join` and one `np.frombuffer`, no Python work
per field per record, which is what makes raw-bytes datasets fast to read.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class FixedLayout:
    """Fields packed back to back in every record, in the order given.

    Args:
      fields: {name: (shape, dtype)}, e.g. {'image': ((32, 32, 3), 'uint8'),
        'label': ((), 'int32')}. Each record is exactly the sum of their byte sizes.

    Calling it on a list of n records returns {name: array (n, *shape) of dtype}.
    `encode(element)` makes the bytes of one record, for writing files.
    """

    fields: dict

    def __post_init__(self):
        if not self.fields:
            raise ValueError("FixedLayout: fields must name at least one field")
        layout = []
        offset = 0
        for name, (shape, dtype) in self.fields.items():
            dtype = np.dtype(dtype)
            shape = tuple(shape)
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            layout.append((name, shape, dtype, offset, size))
            offset += size
        object.__setattr__(self, "_layout", tuple(layout))
        object.__setattr__(self, "record_size", offset)

    def __hash__(self):
        return hash(self._layout)

    def encode(self, element) -> bytes:
        """The record bytes of one element {name: array of the field's shape}."""
        parts = []
        for name, shape, dtype, _, _ in self._layout:
            value = np.asarray(element[name], dtype=dtype)
            if value.shape != shape:
                raise ValueError(
                    f"FixedLayout.encode: field {name!r} has shape {value.shape}, "
                    f"the layout says {shape}")
            parts.append(value.tobytes())
        return b"".join(parts)

    def __call__(self, records: Sequence[bytes]) -> dict[str, np.ndarray]:
        n = len(records)
        blob = b"".join(records)
        if len(blob) != n * self.record_size:
            sizes = sorted({len(r) for r in records})
            raise ValueError(
                f"FixedLayout: records must be {self.record_size} bytes each, got "
                f"sizes {sizes[:5]}")
        rows = np.frombuffer(blob, np.uint8).reshape(n, self.record_size)
        out = {}
        for name, shape, dtype, offset, size in self._layout:
            # .copy() gives an aligned, writable array that owns its memory.
            field = rows[:, offset:offset + size].copy().view(dtype)
            out[name] = field.reshape((n,) + shape)
        return out


class TFDSExampleDecoder:
    """One TFDS-serialised example's bytes -> {feature: np.ndarray}, without TensorFlow.

    Args:
      features: the dataset's features: a `tfds.features.FeaturesDict`, a
        `tfds.core.DatasetInfo` or builder (its `.features` are used), or the path of
        a prepared dataset's version directory (it reads `features.json` there).
      decoders: TFDS decoders per feature, as for `tfds.data_source` (e.g.
        {'image': tfds.decode.SkipDecoding()} keeps the encoded bytes).

    Nested features are flattened with '/' ('objects/bbox'); text is `bytes`.
    Pass it as `ArrayRecordSource(files, decode=TFDSExampleDecoder(info))`. It pickles
    (as its features' JSON) for Grain's worker processes.
    """

    def __init__(self, features: Any, decoders: Any = None):
        from datarax.sources.tfds import import_tfds  # pylint: disable=import-outside-toplevel

        tfds = import_tfds()
        if isinstance(features, (str, os.PathLike)):
            path = os.fspath(features)
            if not os.path.isfile(os.path.join(path, "features.json")):
                raise FileNotFoundError(
                    f"TFDSExampleDecoder: no features.json in {path!r}; pass a prepared "
                    f"dataset's version directory (e.g. ~/tensorflow_datasets/mnist/"
                    f"3.0.1) or its tfds.features.FeaturesDict")
            features = tfds.features.FeatureConnector.from_config(path)
        if not isinstance(features, tfds.features.FeatureConnector):
            info = getattr(features, "info", features)  # a builder -> its DatasetInfo
            features = getattr(info, "features", info)
        if not isinstance(features, tfds.features.FeatureConnector):
            raise TypeError(
                f"TFDSExampleDecoder: features is a {type(features).__name__}; pass a "
                f"tfds.features.FeaturesDict, a DatasetInfo, a builder or a dataset "
                f"directory")
        self._features = features
        self._decoders = decoders

    def __getstate__(self):
        return {"features_json": self._features.to_json(), "decoders": self._decoders}

    def __setstate__(self, state):
        from datarax.sources.tfds import import_tfds  # pylint: disable=import-outside-toplevel

        tfds = import_tfds()
        self._features = tfds.features.FeatureConnector.from_json(state["features_json"])
        self._decoders = state["decoders"]

    @property
    def features(self):
        return self._features

    def __call__(self, record: bytes) -> dict[str, np.ndarray]:
        from datarax.sources.tfds import flatten_example  # pylint: disable=import-outside-toplevel

        example = self._features.deserialize_example_np(record, decoders=self._decoders)
        return flatten_example(example)

    def __repr__(self) -> str:
        return f"TFDSExampleDecoder({sorted(self._features.keys())})"
