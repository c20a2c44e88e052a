"""Bad input: a clear error naming the argument, path or record; nothing hangs."""

import multiprocessing
import time

import flax.nnx as nnx
import numpy as np
import pytest

from datarax import Pipeline
from datarax.sources import ArrayRecordSource, MemorySource
from sample_data import IMAGE_LAYOUT, decode_failing_on_record_7


def test_missing_array_record_file_is_named(tmp_path):
    missing = tmp_path / "nope.array_record"
    with pytest.raises(FileNotFoundError, match=r"no such file '.*nope.array_record'"):
        ArrayRecordSource(str(missing), decode_batch=IMAGE_LAYOUT)
    with pytest.raises(FileNotFoundError, match=r"'.*train-\*.array_record' matched no files"):
        ArrayRecordSource(str(tmp_path / "train-*.array_record"), decode_batch=IMAGE_LAYOUT)


def test_empty_source_is_refused():
    with pytest.raises(ValueError, match="MemorySource: data is empty"):
        MemorySource({"x": np.zeros((0, 3))})
    with pytest.raises(ValueError, match="the source is empty"):
        Pipeline([], batch_size=2)


@pytest.mark.parametrize("batch_size", [0, -4])
def test_non_positive_batch_size_is_named(batch_size):
    with pytest.raises(ValueError, match=rf"batch_size must be a positive int, got {batch_size}"):
        Pipeline(MemorySource({"x": np.arange(4)}), batch_size=batch_size)


def test_a_stage_that_is_not_an_nnx_module_is_named():
    with pytest.raises(TypeError, match=r"stages\[1\] is a function, not an nnx.Module"):
        Pipeline(MemorySource({"x": np.arange(4)}), [nnx.Module(), lambda b: b], batch_size=2)


@pytest.mark.parametrize("worker_count", [0, 2])
def test_a_record_that_fails_to_decode_names_file_and_index(image_records, worker_count):
    path, _ = image_records
    source = ArrayRecordSource(path, decode=decode_failing_on_record_7)
    pipeline = Pipeline(source, batch_size=10, worker_count=worker_count)
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"record 7 of 'images.array_record' \(global index 7\) "
                                         r"failed to decode: ValueError: corrupt pixels.*on_error='skip'"):
        with pipeline:
            list(pipeline)
    assert time.monotonic() - started < 60
    deadline = time.monotonic() + 15  # the workers exit (they get a few seconds to)
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


def test_skipped_records_are_counted_and_the_rest_delivered(image_records):
    path, data = image_records
    source = ArrayRecordSource(path, decode=decode_failing_on_record_7, on_error="skip")
    with Pipeline(source, batch_size=10, record_ids=True) as pipeline:
        it = iter(pipeline)
        batches = list(it)
    delivered = np.concatenate([b["_index"] for b in batches])
    assert sorted(delivered.tolist()) == [i for i in range(100) if i != 7]
    assert it.skipped == 1 and it.get_state()["skipped"] == 1
    assert [len(b["label"]) for b in batches][:2] == [9, 10]


def test_a_text_field_gets_an_error_naming_it():
    source = MemorySource({"x": np.arange(4), "caption": np.array([b"a", b"b", b"c", b"d"])})
    with pytest.raises(TypeError, match=r"field 'caption' holds \|S1 values"):
        with Pipeline(source, batch_size=2) as pipeline:
            next(iter(pipeline))
