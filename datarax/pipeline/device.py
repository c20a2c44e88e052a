"""The device side of a pipeline: every stage fused into ONE jitted function.

The stages live in one NNX container, split once into (graphdef, state). Each batch
calls one `jax.jit`-compiled pure function with the modules' state at that moment and
writes the new state (RNG counters, statistics, iteration counts) back, so a parameter
changed by a training step between two batches takes effect from the next one. JAX
caches the compiled function on input shapes and dtypes: one compile per shape.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import flax.nnx as nnx
import jax

from datarax.core.module import DataraxModule
from datarax.core.operator import OperatorModule

Meta = Mapping[str, jax.Array]


def call_stage(stage: nnx.Module, data: Any, meta: Meta) -> Any:
    """Operators get the record identity (their fast path); plain modules the batch."""
    if isinstance(stage, OperatorModule):
        return stage(data, metadata=meta)
    return stage(data)


def check_stage(stage: Any, where: str) -> None:
    if not isinstance(stage, nnx.Module):
        raise TypeError(
            f"{where} is a {type(stage).__name__}, not an nnx.Module; wrap functions in "
            f"datarax.operators.MapOperator or write an nnx.Module")


class StageChain(nnx.Module):
    """Stages applied one after another: the simplest graph."""

    def __init__(self, stages: Sequence[nnx.Module]):
        for i, stage in enumerate(stages):
            check_stage(stage, f"stages[{i}]")
        self.stages = nnx.List(list(stages))

    def __call__(self, data, meta: Meta):
        for stage in self.stages:
            data = call_stage(stage, data, meta)
        return data

    def prepare(self, spec, meta_spec) -> None:
        """Creates the stages' statistics for the shapes that will flow into each."""
        for stage in self.stages:
            spec = prepare_stage(stage, spec, meta_spec)


def prepare_stage(stage: nnx.Module, spec, meta_spec):
    """Initialises `stage`'s statistics for input `spec`; returns its output spec."""
    if isinstance(stage, DataraxModule) and stage.batch_stats is not None:
        stage.init_stats(spec)
    graphdef, state = nnx.split(stage)

    def run(state, data, meta):
        return call_stage(nnx.merge(graphdef, state), data, meta)

    return jax.eval_shape(run, state, spec, meta_spec)


class FusedStages:
    """Runs a graph module (`graph(data, meta) -> data`) as one compiled function."""

    def __init__(self, graph: nnx.Module):
        self.graph = graph
        self._graphdef = None
        self._compiled: Callable | None = None

    def _build(self, data, meta) -> None:
        spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data)
        meta_spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), meta)
        self.graph.prepare(spec, meta_spec)
        graphdef, _ = nnx.split(self.graph)

        def pure(state, data, meta):
            graph = nnx.merge(graphdef, state)
            out = graph(data, meta)
            return out, nnx.state(graph)

        self._graphdef = graphdef
        self._compiled = jax.jit(pure)

    def __call__(self, data, meta):
        if self._compiled is None:
            self._build(data, meta)
        out, state = self._compiled(nnx.state(self.graph), data, meta)
        nnx.update(self.graph, state)
        return out

    def compile_count(self) -> int:
        """How many programs have been compiled (one per distinct input shape)."""
        return 0 if self._compiled is None else self._compiled._cache_size()  # pylint: disable=protected-access
