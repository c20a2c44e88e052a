"""Every benchmark loader does the same work: same records per epoch, same values.

With the random transforms fixed to their deterministic value (`augment=False`: centre
crop, no flip), each adapter's epoch must hold exactly the records of the dataset, each
once, and each record's transformed values must equal the NumPy bound's. Peers that
are not installed (PyTorch, TensorFlow: the `bench` extra) are skipped with the reason;
the NumPy bound, Grain and datarax always run.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest

# adapters/ and benchmarks/ live at the repository root (on pytest's pythonpath).
import adapters
from benchmarks import scenarios
from benchmarks.scenarios.base import read_all_records

# Small sizes whose last batch is partial, so the padding path is exercised.
SIZES = {
    "cv_small": dict(num_records=300, batch_size=128),
    "text": dict(num_records=150, batch_size=64),
    "tabular": dict(num_records=600, batch_size=256),
    "cv_large": dict(num_records=20, batch_size=8),
}
# tf.data decodes and resizes JPEGs with its own kernels: same records, other pixels.
OWN_DECODER = {("cv_large", "tf_data")}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("benchmark-data"))


def make_scenario(name: str, data_dir: str):
    return scenarios.get(name, augment=False, data_dir=data_dir, **SIZES[name])


def one_epoch(loader_name: str, scenario, worker_count: int = 0) -> dict[bytes, dict]:
    """{record identity: its output row} for one epoch; fails on a repeated record."""
    adapter = adapters.load(loader_name)
    reason = adapter.available()
    if reason:
        pytest.skip(f"{loader_name}: {reason}")
    rows: dict[bytes, dict] = {}
    with contextlib.closing(adapter.build(scenario, worker_count, seed=3)) as loader:
        for batch in loader:
            batch = {k: np.asarray(v) for k, v in batch.items()}
            for i, key in enumerate(scenario.record_keys(batch)):
                assert key not in rows, f"{loader_name} delivered a record twice"
                rows[key] = {k: v[i] for k, v in batch.items()}
    return rows


_reference: dict[str, dict] = {}


def reference(name: str, data_dir: str) -> dict[bytes, dict]:
    if name not in _reference:
        _reference[name] = one_epoch("numpy_bound", make_scenario(name, data_dir))
    return _reference[name]


CASES = [(s, l, 0) for s in SIZES for l in adapters.NAMES if l != "numpy_bound"]
CASES += [("cv_small", "datarax", 2), ("cv_small", "grain_tuned", 2)]


@pytest.mark.parametrize("scenario_name, loader_name, workers", CASES,
                         ids=[f"{s}-{l}-w{w}" for s, l, w in CASES])
def test_loader_delivers_every_record_once_with_the_bounds_values(
        scenario_name, loader_name, workers, data_dir):
    scenario = make_scenario(scenario_name, data_dir)
    expected = reference(scenario_name, data_dir)
    got = one_epoch(loader_name, scenario, workers)

    assert len(expected) == scenario.num_records
    assert set(got) == set(expected), (
        f"{loader_name}: {len(set(expected) - set(got))} records missing, "
        f"{len(set(got) - set(expected))} unexpected")
    if (scenario_name, loader_name) in OWN_DECODER:
        return
    for key, row in expected.items():
        assert set(got[key]) == set(row)
        for field, value in row.items():
            assert got[key][field].dtype == value.dtype, (loader_name, field)
            np.testing.assert_allclose(got[key][field], value, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{loader_name} {scenario_name} {field}")


def test_random_transforms_keep_the_records_and_vary_the_values(data_dir):
    """With augmentation on, datarax still delivers each label as often as the data has
    it, and the crops differ from the deterministic centre crops."""
    plain = make_scenario("cv_small", data_dir)
    augmented = dataclasses.replace(plain, augment=True)
    with contextlib.closing(adapters.load("datarax").build(augmented, 0, seed=3)) as loader:
        batches = [{k: np.asarray(v) for k, v in b.items()} for b in loader]
    labels = np.concatenate([b["label"] for b in batches])
    all_labels = plain.decode_batch(read_all_records(plain.paths()))["label"]
    np.testing.assert_array_equal(np.sort(labels), np.sort(all_labels))
    keys = {k for b in batches for k in augmented.record_keys(b)}
    assert len(keys & set(reference("cv_small", data_dir))) < plain.num_records // 2
