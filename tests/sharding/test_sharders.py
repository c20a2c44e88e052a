"""Sharders in one process on one device: construction, errors, and a one-device mesh."""

from __future__ import annotations

import grain
import jax
import numpy as np
import pytest

from datarax.sharding import DataParallelSharder, ProcessSharder


def one_device_mesh(*names):
    return jax.make_mesh((1,) * len(names), names)


def test_unknown_batch_axis_error_names_the_axis_and_the_mesh_axes():
    with pytest.raises(ValueError, match=r"'batch'.*\('data',\)"):
        DataParallelSharder(one_device_mesh("data"), "batch")


def test_unknown_axis_in_a_field_spec_names_the_field():
    with pytest.raises(ValueError, match=r"field_specs\['image'\].*'model'"):
        DataParallelSharder(one_device_mesh("data"), "data", field_specs={"image": ("model",)})


def test_a_mesh_axis_used_for_two_dimensions_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        DataParallelSharder(one_device_mesh("data", "model"), "data",
                            field_specs={"image": ("data",)})


def test_a_field_spec_longer_than_the_field_is_an_error():
    sharder = DataParallelSharder(one_device_mesh("data", "model"), "data",
                                  field_specs={"label": ("model",)})
    with pytest.raises(ValueError, match=r"field_specs\['label'\].*only 0"):
        sharder({"label": np.arange(4)})


def test_a_mesh_must_be_a_mesh():
    with pytest.raises(TypeError, match="jax.sharding.Mesh"):
        DataParallelSharder(jax.devices(), "data")


def test_sharder_forms_arrays_with_the_named_sharding():
    sharder = DataParallelSharder(one_device_mesh("data", "model"), ("data",),
                                  field_specs={"image": (None, "model")})
    out = sharder({"image": np.ones((4, 8, 8, 3), np.uint8), "label": np.arange(4)})
    assert out["image"].shape == (4, 8, 8, 3)
    assert out["image"].sharding.spec == jax.sharding.PartitionSpec("data", None, "model")
    assert out["label"].sharding.spec == jax.sharding.PartitionSpec("data")
    np.testing.assert_array_equal(np.asarray(out["label"]), np.arange(4))


def test_process_sharder_refuses_several_processes_without_jax_distributed():
    assert not jax.distributed.is_initialized()
    with pytest.raises(RuntimeError, match=r"jax.distributed.initialize.*__main__"):
        ProcessSharder(num_processes=2)


def test_process_sharder_in_one_process_reads_the_whole_global_batch():
    sharder = ProcessSharder(num_processes=1)
    assert (sharder.index, sharder.count) == (0, 1)
    assert isinstance(sharder.shard_options, grain.sharding.ShardByJaxProcess)
    assert sharder.local_batch_size(12) == 12
    batch = {"x": np.arange(12)}
    np.testing.assert_array_equal(sharder(batch)["x"], np.arange(12))


def test_process_sharder_rejects_a_bad_process_count():
    with pytest.raises(ValueError, match="num_processes"):
        ProcessSharder(num_processes=0)


def test_pipeline_over_a_one_device_mesh_gives_the_plain_pipelines_values(scenario):
    plain = scenario.collect(scenario.make_pipeline(batch_size=16))
    sharder = DataParallelSharder(one_device_mesh("data"), "data")
    sharded = scenario.collect(scenario.make_pipeline(batch_size=16, sharding=sharder))
    assert len(sharded) == len(plain)
    # A global batch is never cut: the partial batch stays padded, marked by '_valid'.
    assert {b["image"].shape[0] for b in sharded} == {16}
    assert [int(b["_valid"].sum()) for b in sharded] == [len(b["_index"]) for b in plain]
    for field, rows in scenario.valid_rows(plain).items():
        np.testing.assert_array_equal(scenario.valid_rows(sharded)[field], rows, err_msg=field)
    assert all((b["_index"][~b["_valid"]] == -1).all() for b in sharded)
