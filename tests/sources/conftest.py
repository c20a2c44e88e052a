"""A real TFDS dataset, built locally in the ArrayRecord format (no TensorFlow).

TFDS encodes `np.ndarray` images with TensorFlow, but takes PIL images (and encoded
bytes) as they are: the builder yields PIL images, which Pillow encodes to PNG. The
dataset is built once per session (about 0.1 s).
"""

from __future__ import annotations

import json
import os
import shutil
import types

import numpy as np
import pytest

TRAIN, TEST = 40, 10


def image_of(i: int) -> np.ndarray:
    """Record i's 8x8x3 uint8 image (pixels a function of i, exact through PNG)."""
    return ((np.arange(8 * 8 * 3).reshape(8, 8, 3) + 5 * i) % 256).astype(np.uint8)


def build_tiny_images(data_dir: str) -> str:
    """Prepares 'datarax_tiny_images' (train: 40, test: 10) under data_dir."""
    import PIL.Image
    import tensorflow_datasets as tfds

    class DataraxTinyImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(num_classes=10),
                "text": tfds.features.Text(),
                "id": np.int64,
            }))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(0, TRAIN),
                    "test": self._generate_examples(TRAIN, TRAIN + TEST)}

        def _generate_examples(self, start, stop):
            for i in range(start, stop):
                yield i, {"image": PIL.Image.fromarray(image_of(i)), "label": i % 10,
                          "text": f"record {i}", "id": i}

    # TFDS looks up a builder's code path; for a class in a dotted module (pytest's
    # importlib mode names this one 'tests.sources.conftest') it needs the
    # importlib_resources package, which the tfds extra does not install.
    DataraxTinyImages.__module__ = "datarax_tiny_images_builder"
    builder = DataraxTinyImages(data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
    return str(builder.data_dir)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The prepared 'datarax_tiny_images': data_dir, version_dir, train, test, image_of."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    return types.SimpleNamespace(data_dir=data_dir, version_dir=build_tiny_images(data_dir),
                                 train=TRAIN, test=TEST, image_of=image_of)


@pytest.fixture
def tfrecord_only_dir(tiny, tmp_path):
    """A copy of the dataset whose metadata says it is stored only as TFRecord (TFDS
    writes TFRecord only with TensorFlow installed, so the prepared copy is relabelled;
    what TFDSSource checks is that metadata)."""
    data_dir, version_dir = tiny.data_dir, tiny.version_dir
    copy = tmp_path / "tfr" / os.path.relpath(version_dir, data_dir)
    shutil.copytree(version_dir, copy)
    info_path = copy / "dataset_info.json"
    info = json.loads(info_path.read_text())
    info["fileFormat"] = "tfrecord"
    info.pop("alternativeFileFormats", None)
    info_path.write_text(json.dumps(info))
    return str(tmp_path / "tfr")
