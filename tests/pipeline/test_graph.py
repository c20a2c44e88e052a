"""The DAG execution model: branching and merging stages compiled as one function."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from datarax import Pipeline
from datarax.checkpoint import Checkpointer
from datarax.core.operator import OperatorConfig, OperatorModule
from datarax.pipeline.graph import StageGraph
from datarax.sources import MemorySource
from sample_operators import Noise


class Affine(OperatorModule):
    def __init__(self, scale, shift):
        super().__init__(OperatorConfig())
        self.scale = nnx.Param(jnp.asarray(scale))
        self.shift = shift

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return {**data, "x": data["x"] * self.scale + self.shift}, state, metadata


class Merge(nnx.Module):
    def __call__(self, a, b):
        return {"x": a["x"] * b["x"], "y": a["y"]}


def source(n=20):
    return MemorySource({"x": np.linspace(-1, 1, n * 3, dtype=np.float32).reshape(n, 3),
                         "y": np.arange(n, dtype=np.int32)})


def collect(pipeline):
    with pipeline:
        return [jax.tree.map(np.asarray, b) for b in pipeline]


def diamond(**kwargs):
    return Pipeline.from_dag(
        source=source(), nodes={"a": Affine(2.0, 1.0), "b": Affine(-1.0, 0.5), "merge": Merge()},
        edges={"a": ["source"], "b": ["source"], "merge": ["a", "b"]}, sink="merge",
        batch_size=8, **kwargs)


def test_diamond_graph_equals_the_computation_written_by_hand():
    batches = collect(diamond())
    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(20, 3)
    expected = (x * 2.0 + 1.0) * (x * -1.0 + 0.5)
    np.testing.assert_allclose(np.concatenate([b["x"] for b in batches]), expected, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([b["y"] for b in batches]), np.arange(20))


def test_the_whole_graph_compiles_once():
    pipeline = diamond(num_epochs=2)  # 20 records in batches of 8: a partial last batch
    collect(pipeline)
    assert pipeline.fused.compile_count() == 1


def two_views(rngs_seed=0, shared=False, **kwargs):
    first = Noise(nnx.Rngs(augment=rngs_seed))
    second = first if shared else Noise(nnx.Rngs(augment=rngs_seed + 1))
    defaults = dict(batch_size=8, shuffle=True, seed=5, num_epochs=1, record_ids=True)
    return Pipeline.from_dag(source=source(), nodes={"view1": first, "view2": second},
                             edges={"view1": ["source"], "view2": ["source"]},
                             sink=["view1", "view2"], **{**defaults, **kwargs})


def by_record(batches):
    out = {}
    for b in batches:
        for row, index in enumerate(b["_index"]):
            out[int(index)] = (b["view1"]["x"][row], b["view2"]["x"][row])
    return out


@pytest.mark.parametrize("shared", [False, True])
def test_two_views_differ_and_each_is_the_same_across_workers_and_batch_sizes(shared):
    base = by_record(collect(two_views(shared=shared)))
    assert sorted(base) == list(range(20))
    for index, (v1, v2) in base.items():
        assert not np.allclose(v1, v2), index
    workers = by_record(collect(two_views(shared=shared, worker_count=2)))
    resized = by_record(collect(two_views(shared=shared, batch_size=5)))
    for index in base:
        for view in (0, 1):
            np.testing.assert_array_equal(workers[index][view], base[index][view])
            # The random bits are identical; XLA may evaluate the normal's erf_inv with
            # other vector widths for another batch shape, which moves the last bit.
            np.testing.assert_allclose(resized[index][view], base[index][view], atol=1e-6)


def test_a_sink_dict_names_the_outputs():
    pipeline = Pipeline.from_dag(source=source(), nodes={"a": Affine(1.0, 0.0)},
                                 edges={"a": ["source"]}, sink={"clean": "a", "raw": "source"},
                                 batch_size=4)
    batch = collect(pipeline)[0]
    assert set(batch) == {"clean", "raw"}
    np.testing.assert_array_equal(batch["clean"]["x"], batch["raw"]["x"])


def test_learnable_parameters_in_any_node_receive_gradients():
    graph = StageGraph({"a": Affine(2.0, 1.0), "b": Affine(-1.0, 0.5), "merge": Merge()},
                       {"a": ["source"], "b": ["source"], "merge": ["a", "b"]}, "merge")
    x = jnp.asarray([[1.0, 2.0]])
    batch = {"x": x, "y": jnp.zeros(1, jnp.int32)}
    grads = nnx.grad(lambda g: g(batch)["x"].sum())(graph)
    # d/da_scale sum((a x + 1)(b x + .5)) = sum(x (b x + .5)); likewise for b
    np.testing.assert_allclose(grads["nodes"]["a"]["scale"][...], np.sum(x * (-x + 0.5)))
    np.testing.assert_allclose(grads["nodes"]["b"]["scale"][...], np.sum(x * (2 * x + 1.0)))


@pytest.mark.parametrize("nodes, edges, sink, message", [
    ({"a": Merge(), "b": Merge()}, {"a": ["b", "source"], "b": ["a", "source"]}, "a",
     r"cycle: (a -> b -> a|b -> a -> b)"),
    ({"a": Affine(1.0, 0.0)}, {"a": ["ghost"]}, "a", r"node 'a' has an edge from unknown node 'ghost'"),
    ({"a": Affine(1.0, 0.0)}, {}, "nowhere", r"the sink 'nowhere' is not a node"),
    ({"a": Affine(1.0, 0.0), "b": Affine(1.0, 0.0)}, {}, "a", r"node 'b' leads to no sink"),
    ({"a": Affine(1.0, 0.0), "b": Merge()}, {"a": ["source"], "b": ["b"]}, "a",
     r"cycle: b -> b"),
    ({"a": Affine(1.0, 0.0), "b": lambda x: x}, {}, "a", r"node 'b' is a function, not an nnx.Module"),
    ({"a": Affine(1.0, 0.0)}, {"z": ["source"]}, "a", r"edges name a node 'z' that is not in nodes"),
])
def test_invalid_graphs_get_an_error_naming_the_node(nodes, edges, sink, message):
    with pytest.raises((ValueError, TypeError), match=message):
        StageGraph(nodes, edges, sink)


def test_describe_lists_nodes_in_order_with_shapes():
    text = diamond().describe()
    lines = text.splitlines()
    assert lines[0] == "source: {x: float32[8, 3], y: int32[8]}"
    assert lines[1].startswith("a = Affine(source) -> {x: float32[8, 3]")
    assert lines[3] == "merge = Merge(a, b) -> {x: float32[8, 3], y: int32[8]}"
    assert "merge" in repr(diamond())


def test_a_dag_pipeline_resumes_exactly_from_a_checkpoint(tmp_path):
    full = collect(two_views(num_epochs=2))
    pipeline = two_views(num_epochs=2)
    with pipeline, Checkpointer(tmp_path, async_save=False) as ckpt:
        it = iter(pipeline)
        for _ in range(4):
            next(it)
        ckpt.save(4, it)
    resumed = two_views(num_epochs=2)
    with resumed, Checkpointer(tmp_path) as ckpt:
        it = iter(resumed)
        ckpt.restore(it)
        rest = [jax.tree.map(np.asarray, b) for b in it]
    assert len(rest) == len(full) - 4
    for a, b in zip(full[4:], rest):
        jax.tree.map(np.testing.assert_array_equal, a, b)
