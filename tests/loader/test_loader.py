"""datarax.DataLoader: Grain's stream for the same arguments, plus device stages."""

from __future__ import annotations

import json

import flax.nnx as nnx
import grain
import jax
import numpy as np
import pytest

import datarax.loader as loader_module
from datarax.loader import DataLoader
from datarax.pipeline.grain_runtime import ensure_absl_flags_parsed


def collect(loader, steps=None):
    out = []
    with iter(loader) as iterator:
        for batch in iterator:
            out.append(batch)
            if steps is not None and len(out) == steps:
                return out, iterator.get_state()
    return out, None


def grain_batches(**kwargs):
    ensure_absl_flags_parsed()
    return [{k: np.array(v) for k, v in b.items()} for b in grain.DataLoader(**kwargs)]


def assert_same_batches(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert sorted(g) == sorted(e)
        for key in e:
            assert g[key].dtype == e[key].dtype and g[key].shape == e[key].shape, key
            np.testing.assert_array_equal(np.asarray(g[key]), e[key])


@pytest.mark.parametrize("filtered", [False, True])
def test_without_workers_it_yields_exactly_what_grain_yields(grain_args, filtered):
    expected = grain_batches(**grain_args(filtered=filtered), worker_count=0)
    for stream in ("invariant", "grain"):
        got, _ = collect(DataLoader(**grain_args(filtered=filtered), stream=stream))
        assert all(isinstance(b["image"], np.ndarray) for b in got)
        assert_same_batches(got, expected)
    assert expected[0]["noise"].dtype == np.int64  # NumPy dtypes kept, not JAX's


def test_two_workers_give_the_in_process_stream_by_default(grain_args):
    expected = grain_batches(**grain_args(filtered=True), worker_count=0)
    got, _ = collect(DataLoader(**grain_args(filtered=True), worker_count=2))
    assert_same_batches(got, expected)


def test_stream_grain_with_two_workers_is_grains_own_stream(grain_args):
    expected = grain_batches(**grain_args(), worker_count=2)
    got, _ = collect(DataLoader(**grain_args(), worker_count=2, stream="grain"))
    assert_same_batches(got, expected)


def test_a_restored_iterator_continues_the_uninterrupted_stream(grain_args):
    whole, _ = collect(DataLoader(**grain_args(filtered=True)))
    head, state = collect(DataLoader(**grain_args(filtered=True)), steps=5)
    state = json.loads(json.dumps(state))  # JSON-able
    iterator = iter(DataLoader(**grain_args(filtered=True)))
    iterator.set_state(state)
    tail = list(iterator)
    iterator.close()
    assert_same_batches(head + tail, whole)


def test_a_state_from_another_loader_is_refused_naming_the_difference(grain_args):
    _, state = collect(DataLoader(**grain_args()), steps=1)
    other = grain_args()
    other["sampler"] = grain.samplers.IndexSampler(
        100, shuffle=True, seed=8, num_epochs=2, shard_options=grain.sharding.NoSharding())
    with pytest.raises(ValueError, match=r"sampler: saved .*seed=7.*seed=8"):
        iter(DataLoader(**other)).set_state(state)


class Scale(nnx.Module):
    def __init__(self):
        self.factor = nnx.Param(jax.numpy.asarray(0.5))

    def __call__(self, batch):
        return dict(batch, image=batch["image"].astype(jax.numpy.float32) * self.factor[...])


def test_stages_run_on_the_device_after_batching(grain_args):
    expected = grain_batches(**grain_args(), worker_count=0)
    got, _ = collect(DataLoader(**grain_args(), stages=[Scale()]))
    assert isinstance(got[0]["image"], jax.Array)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g["image"]), e["image"] * 0.5)
        np.testing.assert_array_equal(np.asarray(g["label"]), e["label"])


class Twice(grain.experimental.FlatMapTransform):
    max_fan_out = 2

    def flat_map(self, element):
        return [element, element]


def test_bad_arguments_are_named(grain_args):
    with pytest.raises(ValueError, match="stream must be 'invariant'"):
        DataLoader(**grain_args(), stream="fast")
    args = grain_args()
    args["operations"] = args["operations"][:-1]
    with pytest.raises(ValueError, match="no grain.transforms.Batch"):
        DataLoader(**args, stages=[Scale()])
    args["operations"].append(Twice())
    with pytest.raises(ValueError, match=r"operations\[2\] is a Twice.*stream=.grain."):
        DataLoader(**args)
    assert loader_module.STREAMS == ("invariant", "grain")
