"""TFDSSource: a real TFDS dataset prepared in ArrayRecord, read without TensorFlow."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

from datarax import Pipeline
from datarax.sources import ArrayRecordSource, TFDSExampleDecoder, TFDSSource


def ids_of(source) -> list[int]:
    return [int(i) for i in source.read_batch(np.arange(len(source)))["id"]]


def test_records_decode_to_numpy_without_tensorflow(tiny):
    source = TFDSSource("datarax_tiny_images", split="train", data_dir=tiny.data_dir)
    batch = source.read_batch(np.arange(len(source)))
    assert len(source) == tiny.train and "tensorflow" not in sys.modules
    assert sorted(batch) == ["id", "image", "label", "text"]
    assert batch["image"].shape == (tiny.train, 8, 8, 3) and batch["image"].dtype == np.uint8
    for row, i in enumerate(batch["id"]):
        np.testing.assert_array_equal(batch["image"][row], tiny.image_of(int(i)))
        assert batch["label"][row] == i % 10 and batch["text"][row] == f"record {i}".encode()
    assert sorted(int(i) for i in batch["id"]) == list(range(tiny.train))


def test_split_slicing_and_multiple_splits_follow_tfds(tiny):
    import tensorflow_datasets as tfds

    data_dir = tiny.data_dir
    whole = ids_of(TFDSSource("datarax_tiny_images", split="train", data_dir=data_dir))
    head = ids_of(TFDSSource("datarax_tiny_images", split="train[:80%]", data_dir=data_dir))
    tail = ids_of(TFDSSource("datarax_tiny_images", split="train[80%:]", data_dir=data_dir))
    assert head + tail == whole and len(head) == 32
    reference = tfds.data_source("datarax_tiny_images", split="train[:80%]",
                                 data_dir=data_dir, download=False)
    assert head == [int(reference[i]["id"]) for i in range(len(reference))]
    both = TFDSSource("datarax_tiny_images", split=["train", "test"], data_dir=data_dir)
    joined = TFDSSource("datarax_tiny_images", split="train+test", data_dir=data_dir)
    assert ids_of(both) == ids_of(joined) and len(both) == tiny.train + tiny.test
    assert sorted(ids_of(both)) == list(range(tiny.train + tiny.test))


def test_a_pipeline_with_two_workers_reads_every_record_once(tiny):
    source = TFDSSource("datarax_tiny_images", split="train+test", data_dir=tiny.data_dir,
                        fields=("image", "id"))
    assert pickle.loads(pickle.dumps(source)).read_batch(np.arange(3))["id"].tolist() == \
        source.read_batch(np.arange(3))["id"].tolist()
    with Pipeline(source, batch_size=16, shuffle=True, seed=1, worker_count=2) as pipeline:
        seen = np.concatenate([np.asarray(b["id"]) for b in pipeline])
    assert sorted(seen.tolist()) == list(range(tiny.train + tiny.test))


def test_unprepared_dataset_error_says_how_to_prepare_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)'datarax_nothing_here' is not prepared.*"
                       r"file_format='array_record'.*never downloads"):
        TFDSSource("datarax_nothing_here", data_dir=str(tmp_path))


def test_tfrecord_only_dataset_error_says_how_to_prepare_array_record(tfrecord_only_dir):
    with pytest.raises(ValueError, match=r"(?s)stored as \['tfrecord'\].*no random access.*"
                       r"download_and_prepare\(file_format='array_record'\)"):
        TFDSSource("datarax_tiny_images", data_dir=tfrecord_only_dir)


def test_unknown_split_lists_the_splits(tiny):
    with pytest.raises(ValueError, match=r"split 'validation'.*\['test', 'train'\]"):
        TFDSSource("datarax_tiny_images", split="validation", data_dir=tiny.data_dir)


def test_tfds_files_read_as_array_record_with_the_example_decoder(tiny):
    data_dir, version_dir = tiny.data_dir, tiny.version_dir
    tfds_source = TFDSSource("datarax_tiny_images", split="train", data_dir=data_dir)
    # The sharded name TFDS wrote, and the decoder built from features.json.
    decoder = TFDSExampleDecoder(version_dir)
    files = ArrayRecordSource(f"{version_dir}/datarax_tiny_images-train.array_record@1",
                              decode=pickle.loads(pickle.dumps(decoder)))
    expected = tfds_source.read_batch(np.arange(tiny.train))
    got = files.read_batch(np.arange(tiny.train))
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
    from_features = TFDSExampleDecoder(tfds_source.features)
    assert from_features(files._reader[0])["id"] == got["id"][0]  # pylint: disable=protected-access
