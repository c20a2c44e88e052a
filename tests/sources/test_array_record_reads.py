"""Batched reads across several ArrayRecord files return each record in order."""

import pickle

import numpy as np
import pytest

from datarax.sources.array_record_files import ArrayRecordFiles
from sample_data import write_array_record


@pytest.fixture
def three_files(tmp_path):
    sizes = [5, 1, 7]
    paths, start = [], 0
    for f, n in enumerate(sizes):
        records = [f"record-{start + i}".encode() for i in range(n)]
        paths.append(write_array_record(tmp_path / f"part-{f}.array_record", records))
        start += n
    return paths


def test_a_batch_spanning_files_comes_back_in_the_order_asked(three_files):
    files = ArrayRecordFiles(three_files)
    assert len(files) == 13
    indices = np.asarray([12, 0, 5, 6, 4, 5, 11])
    assert files.read(indices) == [f"record-{i}".encode() for i in indices]
    assert files[5] == b"record-5"


def test_out_of_range_indices_are_refused(three_files):
    with pytest.raises(IndexError, match=r"indices must be in \[0, 13\)"):
        ArrayRecordFiles(three_files).read([3, 13])


def test_it_pickles_without_its_open_readers(three_files):
    files = ArrayRecordFiles(three_files)
    files.read([1, 7])  # opens readers
    copy = pickle.loads(pickle.dumps(files))
    assert copy.read([7, 1]) == [b"record-7", b"record-1"]
