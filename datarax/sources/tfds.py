"""`TFDSSource`: a prepared TFDS dataset, read by random access without TensorFlow.

    source = TFDSSource("mnist", split="train[:80%]", data_dir="~/tensorflow_datasets")
    pipeline = datarax.Pipeline(source, batch_size=128, shuffle=True, worker_count=2)

Reading is TFDS's own random-access data source (`builder.as_data_source`, what
`tfds.data_source` returns), over the dataset's ArrayRecord files. Examples decode
with TFDS's NumPy path (`deserialize_example_np`): images with OpenCV if installed,
else Pillow; text is `bytes`. TensorFlow is never imported, and nothing is
downloaded: the dataset must already be prepared, in the ArrayRecord format, under
`data_dir`. `tensorflow_datasets` is imported only when a `TFDSSource` is made (the
`tfds` extra: `pip install 'datarax[tfds]'`).

Records are flat dicts of NumPy arrays: nested feature dicts are flattened with '/'
('objects/bbox'). A batch read is one `__getitems__` call on the TFDS source (one
ArrayRecord read per file), then one decode per record.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from datarax.core.batcher import stack_elements
from datarax.core.data_source import DataSourceModule, decode_each


_PREPARE_HINT = (
    "Prepare it once in the ArrayRecord format, e.g.\n"
    "    builder = tfds.builder({name!r}, data_dir={data_dir!r})\n"
    "    builder.download_and_prepare(file_format='array_record')\n"
    "or on the command line: tfds build {name} --data_dir={data_dir} "
    "--file_format=array_record")


def import_tfds():
    """`tensorflow_datasets`, or an error saying how to install it."""
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise ImportError(
            "TFDSSource needs tensorflow-datasets (not TensorFlow): pip install "
            "'datarax[tfds]'") from error
    return tfds


def split_spec(split: str | Sequence[str]) -> str:
    """One TFDS split string: 'train', 'train[:80%]', 'train+test'; a list is joined
    with '+' (its records concatenated in order)."""
    if isinstance(split, str):
        spec = split
    else:
        parts = list(split)
        if not parts or not all(isinstance(p, str) for p in parts):
            raise ValueError(
                f"TFDSSource: split must be a split string ('train[:80%]') or a "
                f"non-empty list of them, got {split!r}")
        spec = "+".join(parts)
    if not spec.strip():
        raise ValueError("TFDSSource: split is empty; pass e.g. split='train'")
    return spec


def flatten_example(example: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """{'a': {'b': x}} -> {'a/b': np.asarray(x)}."""
    out = {}
    for key, value in example.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_example(value, name + "/"))
        else:
            out[name] = np.asarray(value)
    return out


class _Reader:
    """Holds the TFDS data source (plain Python: NNX leaves it alone).

    It pickles as what reopens it: the prepared dataset's directory, the split and
    the decoders. Grain's worker processes reopen it from the files (TFDS's
    read-only builder), so the builder's class need not be importable there.
    """

    def __init__(self, version_dir: str, split: str, decoders: Any, data_source=None):
        self.version_dir = version_dir
        self.split = split
        self.decoders = decoders
        self.data_source = data_source if data_source is not None else self._open()

    def _open(self):
        tfds = import_tfds()
        builder = tfds.builder_from_directory(self.version_dir)
        return builder.as_data_source(
            split=self.split, decoders=self.decoders, file_format="array_record")

    def __getstate__(self):
        return {"version_dir": self.version_dir, "split": self.split,
                "decoders": self.decoders}

    def __setstate__(self, state):
        self.__init__(state["version_dir"], state["split"], state["decoders"])


class TFDSSource(DataSourceModule):
    """Records of a prepared TFDS dataset (ArrayRecord format), as dicts of arrays.

    Args:
      name: the dataset name, as for `tfds.builder` ('mnist', 'cifar10/config:3.0.2').
      split: a split string with TFDS's slicing ('train', 'train[:80%]',
        'train[10%:]+test') or a list of them, read one after another.
      data_dir: where the dataset is prepared (TFDS's default if None).
      decoders: TFDS decoders per feature (e.g. {'image': tfds.decode.SkipDecoding()}),
        as for `tfds.data_source`.
      builder_kwargs: extra keyword arguments for `tfds.builder` (e.g. a config).
      fields: the (flattened) features to return, e.g. ('image', 'label'); None: all.
        Text features are `bytes` arrays, which cannot go to a JAX device: leave them
        out when the records feed a `Pipeline`.
      on_error: 'raise' (default): a record that fails to decode raises an error naming
        it; 'skip': it is dropped, counted (`PipelineIterator.skipped`) and logged.

    Raises:
      FileNotFoundError: the dataset is not prepared under `data_dir`.
      ValueError: it is prepared only in a format without random access (TFRecord).
      Both messages say how to prepare it in the ArrayRecord format.
    """

    def __init__(self, name: str, *, split: str | Sequence[str] = "train",
                 data_dir: str | os.PathLike | None = None, decoders: Any = None,
                 builder_kwargs: Mapping[str, Any] | None = None,
                 fields: Sequence[str] | None = None, on_error: str = "raise"):
        super().__init__()
        if on_error not in ("raise", "skip"):
            raise ValueError(f"TFDSSource: on_error must be 'raise' or 'skip', got {on_error!r}")
        tfds = import_tfds()
        self.name = name
        self.split = split_spec(split)
        self.on_error = on_error
        data_dir = None if data_dir is None else os.fspath(os.path.expanduser(data_dir))
        shown_dir = data_dir or "~/tensorflow_datasets"
        hint = _PREPARE_HINT.format(name=name, data_dir=shown_dir)
        try:
            builder = tfds.builder(name, data_dir=data_dir, **dict(builder_kwargs or {}))
        except tfds.core.registered.DatasetNotFoundError as error:
            raise FileNotFoundError(
                f"TFDSSource: dataset {name!r} is not prepared in {shown_dir!r} (and no "
                f"builder of that name is registered). {hint}\n(TFDSSource never "
                f"downloads.)") from error
        if not builder.is_prepared():
            raise FileNotFoundError(
                f"TFDSSource: dataset {name!r} is not prepared in {builder.data_dir!r}. "
                f"{hint}\n(TFDSSource never downloads.)")
        formats = {f.value for f in builder.info.available_file_formats()}
        if "array_record" not in formats:
            raise ValueError(
                f"TFDSSource: dataset {name!r} in {builder.data_dir!r} is stored as "
                f"{sorted(formats)}, which has no random access; datarax reads the "
                f"ArrayRecord format. {hint} (into another data_dir, or convert the "
                f"existing files: tfds convert_format --dataset_version_dir="
                f"{builder.data_dir} --out_file_format=array_record).")
        try:
            source = builder.as_data_source(
                split=self.split, decoders=decoders, file_format="array_record")
        except (KeyError, ValueError, AssertionError) as error:
            splits = sorted(builder.info.splits)
            raise ValueError(
                f"TFDSSource: split {self.split!r} of {name!r} is not valid ({error}); "
                f"the splits are {splits}, sliced like 'train[:80%]' or "
                f"'train[:1000]', joined with '+'") from error
        if len(source) == 0:
            raise ValueError(f"TFDSSource: split {self.split!r} of {name!r} holds no records")
        self._reader = _Reader(os.fspath(builder.data_dir), self.split, decoders, source)
        self.fields = None if fields is None else tuple(fields)
        if self.fields is not None:
            known = sorted(flatten_example(source[0]))
            unknown = sorted(set(self.fields) - set(known))
            if unknown or not self.fields:
                raise ValueError(
                    f"TFDSSource: fields {unknown or '()'} are not features of {name!r}; "
                    f"its features are {known}")

    @property
    def features(self):
        """The dataset's `tfds.features.FeaturesDict`."""
        return self._reader.data_source.dataset_info.features

    @property
    def data_source(self):
        """The underlying `tfds` ArrayRecordDataSource."""
        return self._reader.data_source

    def __len__(self) -> int:
        return len(self._reader.data_source)

    def _select(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
        flat = flatten_example(example)
        return flat if self.fields is None else {f: flat[f] for f in self.fields}

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return self._select(self._reader.data_source[int(index)])

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.read_batch_checked(indices)[0]

    def read_batch_checked(self, indices: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Reads and decodes `indices`; returns (batch, kept) with `kept` a bool mask.

        With on_error='skip', records that fail to decode are left out of the batch and
        marked False in `kept`; with 'raise', the first one raises a `ValueError`.
        """
        keys = [int(i) for i in indices]
        source = self._reader.data_source
        try:
            examples = source.__getitems__(keys)
            return stack_elements([self._select(e) for e in examples]), np.ones(len(keys), bool)
        except Exception:  # pylint: disable=broad-except
            pass  # find the culprit(s) one record at a time: the rare, slow path
        good, kept = decode_each(
            keys, lambda key: self._select(source[key]),
            lambda key: f"record {key:,} of {self.name!r} split {self.split!r}",
            self.on_error, "TFDSSource")
        return (stack_elements(good) if good else {}), kept

    def describe(self) -> str:
        return f"TFDSSource({self.name!r}, split={self.split!r}, len={len(self)})"

    def __repr__(self) -> str:
        return self.describe()
