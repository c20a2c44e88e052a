"""Pipeline: the Grain host side, the fused device stage, and the stream's guarantees."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datarax import Pipeline
from datarax.core.operator import OperatorConfig, OperatorModule
from datarax.sources import ArrayRecordSource, MemorySource
from sample_data import IMAGE_LAYOUT, make_images
from sample_operators import Jitter


class Scale(OperatorModule):
    def __init__(self):
        super().__init__(OperatorConfig())
        self.factor = nnx.Param(jnp.asarray(1.0))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return {**data, "image": data["image"] * self.factor}, state, metadata


def collect(pipeline, limit=None):
    out = []
    with pipeline:
        for i, batch in enumerate(pipeline):
            if limit is not None and i == limit:
                break
            out.append(jax.tree.map(np.asarray, batch))
    return out


def image_pipeline(path, **kwargs):
    source = ArrayRecordSource(path, decode_batch=IMAGE_LAYOUT)
    stages = kwargs.pop("stages", None)
    if stages is None:
        stages = [Jitter(nnx.Rngs(augment=7)), Scale()]
    defaults = dict(batch_size=16, shuffle=True, seed=3, num_epochs=2, record_ids=True)
    return Pipeline(source, stages, **{**defaults, **kwargs})


def test_batches_are_identical_for_worker_counts_0_2_and_3(image_records):
    path, _ = image_records
    runs = {w: collect(image_pipeline(path, worker_count=w)) for w in (0, 2, 3)}
    assert len(runs[0]) == 14  # 2 epochs of ceil(100 / 16)
    for w in (2, 3):
        assert len(runs[w]) == len(runs[0])
        for a, b in zip(runs[0], runs[w]):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def test_each_epoch_is_a_fresh_permutation_covering_every_record_once(image_records):
    path, data = image_records
    batches = collect(image_pipeline(path, num_epochs=3, stages=[]))
    epochs = [np.concatenate([b["_index"] for b in batches if b["_epoch"][0] == e])
              for e in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(100))
    assert epochs[0].tolist() != epochs[1].tolist() != epochs[2].tolist()
    assert epochs[0].tolist() != list(range(100))
    # the records delivered are the ones stored at those indices
    first = batches[0]
    np.testing.assert_array_equal(first["image"], data["image"][first["_index"]])
    np.testing.assert_array_equal(first["label"], data["label"][first["_index"]])


def test_augmentation_of_a_record_is_the_same_whatever_the_batch_size(image_records):
    path, _ = image_records

    def by_record(batch_size):
        out = {}
        for b in collect(image_pipeline(path, batch_size=batch_size, num_epochs=1)):
            for i, image in zip(b["_index"], b["image"]):
                out[int(i)] = image
        return out

    small, large = by_record(8), by_record(32)
    assert sorted(small) == list(range(100))
    for i in range(100):
        np.testing.assert_array_equal(small[i], large[i])
    # and the noise is real: the augmented image is not the stored one
    assert not np.allclose(small[0], np.round(small[0]))


def test_restored_iterator_continues_the_uninterrupted_stream(image_records):
    path, _ = image_records
    full = collect(image_pipeline(path))
    pipeline = image_pipeline(path)
    with pipeline:
        it = iter(pipeline)
        for _ in range(5):
            next(it)
        state = it.get_state()
    assert state["step"] == 5
    resumed = image_pipeline(path)
    with resumed:
        it = iter(resumed)
        it.set_state(state)
        rest = [jax.tree.map(np.asarray, b) for b in it]
    assert len(rest) == len(full) - 5
    for a, b in zip(full[5:], rest):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_state_from_another_pipeline_is_refused_naming_what_differs(image_records):
    path, _ = image_records
    state = iter(image_pipeline(path, seed=3)).get_state()
    other = iter(image_pipeline(path, seed=4, batch_size=10))
    with pytest.raises(ValueError, match=r"batch_size: saved 16, this pipeline 10.*seed: saved 3, this pipeline 4"):
        other.set_state(state)


def test_stages_compile_once_for_an_epoch_with_a_partial_last_batch(image_records):
    path, _ = image_records
    pipeline = image_pipeline(path, batch_size=24, num_epochs=2)  # 100 = 4 * 24 + 4
    batches = collect(pipeline)
    assert [len(b["label"]) for b in batches[:5]] == [24, 24, 24, 24, 4]
    assert pipeline.fused.compile_count() == 1


def test_a_parameter_changed_between_batches_takes_effect_from_the_next_one():
    source = MemorySource({"image": np.ones((8, 2), np.float32)})
    scale = Scale()
    pipeline = Pipeline(source, [scale], batch_size=2, prefetch=3)
    with pipeline:
        it = iter(pipeline)
        first = next(it)
        scale.factor[...] = jnp.asarray(5.0)  # as a training step would
        second = next(it)
    np.testing.assert_allclose(first["image"], 1.0)
    np.testing.assert_allclose(second["image"], 5.0)
    assert int(scale.iteration_count[...]) == 2


def test_plain_nnx_module_stage_receives_the_batch_dict():
    class AddField(nnx.Module):
        def __call__(self, batch):
            return {**batch, "double": batch["x"] * 2}

    source = MemorySource({"x": np.arange(6, dtype=np.float32)})
    batches = collect(Pipeline(source, [AddField()], batch_size=3))
    np.testing.assert_array_equal(batches[1]["double"], [6.0, 8.0, 10.0])


def test_drop_remainder_and_endless_epochs():
    source = MemorySource({"x": np.arange(10)})
    dropped = collect(Pipeline(source, batch_size=4, drop_remainder=True, num_epochs=2))
    assert [len(b["x"]) for b in dropped] == [4, 4, 4, 4]
    endless = collect(Pipeline(source, batch_size=4, num_epochs=None, shuffle=True), limit=9)
    assert len(endless) == 9


def test_batches_are_device_arrays_with_a_leading_batch_axis():
    source = MemorySource({"x": np.zeros((5, 3), np.float32)})
    with Pipeline(source, batch_size=5) as pipeline:
        batch = next(iter(pipeline))
    assert isinstance(batch["x"], jax.Array) and batch["x"].shape == (5, 3)
    assert batch["x"].devices() == {jax.devices()[0]}


def test_grain_map_dataset_and_plain_sequences_are_sources():
    import grain

    records = [{"x": np.full(2, i)} for i in range(6)]
    dataset = grain.MapDataset.source(records).map(lambda r: {"x": r["x"] * 10})
    batches = collect(Pipeline(dataset, batch_size=4))
    np.testing.assert_array_equal(batches[1]["x"], [[40, 40], [50, 50]])
    batches = collect(Pipeline(records, batch_size=6))
    np.testing.assert_array_equal(batches[0]["x"][:, 0], np.arange(6))


def test_memory_source_reads_real_images():
    data = make_images(10)
    batches = collect(Pipeline(MemorySource(data), batch_size=10))
    np.testing.assert_array_equal(batches[0]["image"], data["image"])


def test_a_grain_iter_dataset_is_batched_transferred_and_resumable():
    import grain

    dataset = (grain.MapDataset.range(23).shuffle(seed=1)
               .map(lambda i: {"x": np.full(2, i, np.int32)})
               .filter(lambda r: r["x"][0] % 5 != 0)  # drops 0, 5, 10, 15, 20
               .to_iter_dataset())
    expected = [int(r["x"][0]) for r in dataset]

    def run(state=None, limit=None):
        pipeline = Pipeline(dataset, [MapScale()], batch_size=4)
        with pipeline:
            it = iter(pipeline)
            if state is not None:
                it.set_state(state)
            out = []
            for batch in it:
                out.append(np.asarray(batch["x"]))
                if limit is not None and len(out) == limit:
                    return out, it.get_state()
        return out, None

    batches, _ = run()
    assert [len(b) for b in batches] == [4, 4, 4, 4, 2]
    assert np.concatenate(batches)[:, 0].tolist() == [3 * v for v in expected]
    first, state = run(limit=2)
    rest, _ = run(state=state)
    for a, b in zip(batches, first + rest):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shuffle=True does not apply to a grain.IterDataset"):
        Pipeline(dataset, batch_size=4, shuffle=True)


class MapScale(OperatorModule):
    def __init__(self):
        super().__init__(OperatorConfig())

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return {**data, "x": data["x"] * 3}, state, metadata


def test_a_filtered_grain_map_dataset_leaves_the_dropped_records_out():
    import grain

    dataset = grain.MapDataset.range(12).map(lambda i: {"x": np.int32(i)}).filter(lambda r: r["x"] % 3)
    with Pipeline(dataset, batch_size=4, shuffle=True, seed=2) as pipeline:
        it = iter(pipeline)
        values = np.concatenate([np.asarray(b["x"]) for b in it])
    assert sorted(values.tolist()) == [1, 2, 4, 5, 7, 8, 10, 11]
    assert it.skipped == 4


def test_refresh_picks_up_a_replaced_parameter_object():
    scale = Scale()
    pipeline = Pipeline(MemorySource({"image": np.ones((4, 2), np.float32)}), [scale],
                        batch_size=2, prefetch=1)
    with pipeline:
        it = iter(pipeline)
        next(it)
        scale.factor = nnx.Param(jnp.asarray(4.0))  # a new Variable, not an in-place change
        pipeline.fused.refresh()
        np.testing.assert_allclose(next(it)["image"], 4.0)


def test_a_stage_holding_a_plain_array_attribute_runs():
    class Offset(OperatorModule):
        def __init__(self):
            super().__init__(OperatorConfig())
            self.offset = jnp.asarray([1.0, 2.0])  # a constant, not an nnx.Variable

        def apply(self, data, state, metadata, random_params=None, stats=None):
            return {**data, "x": data["x"] + self.offset}, state, metadata

    batches = collect(Pipeline(MemorySource({"x": np.zeros((4, 2), np.float32)}), [Offset()],
                               batch_size=2))
    np.testing.assert_array_equal(batches[1]["x"], [[1.0, 2.0], [1.0, 2.0]])
