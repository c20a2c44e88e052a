"""The device side of a pipeline: every stage fused into ONE jitted function.

The stages live in one NNX graph module (`StageGraph`). Each batch calls one
`jax.jit`-compiled pure function with the modules' state at that moment and writes the
new state (RNG counters, statistics, iteration counts) back, so a parameter changed by
a training step between two batches takes effect from the next one. JAX caches the
compiled function on input shapes and dtypes: one compile per shape.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import flax.nnx as nnx
import jax
import numpy as np

from datarax.core.operator import OperatorModule

Meta = Mapping[str, jax.Array]


def call_stage(stage: nnx.Module, inputs: Sequence[Any], meta: Meta) -> Any:
    """Operators get the record identity (their fast path); plain modules the batch(es)."""
    if isinstance(stage, OperatorModule):
        return stage(inputs[0], metadata=meta)
    return stage(*inputs)


def check_stage(stage: Any, where: str) -> None:
    if not isinstance(stage, nnx.Module):
        raise TypeError(
            f"{where} is a {type(stage).__name__}, not an nnx.Module; wrap functions in "
            f"datarax.operators.MapOperator or write an nnx.Module")


def _has_statistics(graph: nnx.Module) -> bool:
    """Whether any module in the graph keeps batch statistics (shaped by the data)."""
    return any(getattr(node, "batch_stats", None) is not None
               for _, node in nnx.iter_graph(graph) if isinstance(node, nnx.Module))


class FusedStages:
    """Runs a graph module (`graph(data, meta) -> data`) as one compiled function.

    The graph is split once: its NNX Variables are kept in a list, their current
    values go into the compiled function, and the new values are written back into the
    same Variables. That keeps the per-batch Python cost to a list walk (NNX's own
    state/update traversal cost ~1.5 ms a batch). In-place changes to a stage's
    Variables (`param[...] = x`, `nnx.update`, an optimizer step) are seen by the next
    batch; after replacing a Variable object or adding a stage, call `refresh()`.
    """

    def __init__(self, graph: nnx.Module):
        self.graph = graph
        self._compiled: Callable | None = None
        self._variables: list = []  # the graph's Variables (and plain array leaves)

    @property
    def built(self) -> bool:
        return self._compiled is not None

    def build(self, data, meta) -> None:
        """Prepares the stages' state for batches shaped like `data`/`meta` (arrays or
        `jax.ShapeDtypeStruct`s) and makes the compiled function. Idempotent."""
        if self._compiled is not None:
            return
        spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data)
        meta_spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), meta)
        if _has_statistics(self.graph):
            # Statistics are shaped by the data and must exist before the trace; other
            # graphs skip this extra trace of every stage (~50 ms off the first batch).
            self.graph.prepare(spec, meta_spec)
        self.refresh()

    def refresh(self) -> None:
        """Re-reads the graph's structure (after Variables were replaced or added)."""
        graphdef, state = nnx.split(self.graph)
        is_variable = lambda x: isinstance(x, nnx.Variable)  # noqa: E731
        self._variables = jax.tree.leaves(state, is_leaf=is_variable)
        treedef = jax.tree.structure(state, is_leaf=is_variable)

        def pure(values, data, meta):
            state = jax.tree.unflatten(treedef, [
                v.replace(value) if is_variable(v) else value
                for v, value in zip(self._variables, values)])
            graph = nnx.merge(graphdef, state)
            out = graph(data, meta)
            leaves = jax.tree.leaves(nnx.state(graph), is_leaf=is_variable)
            return out, [v.get_value() if is_variable(v) else v for v in leaves]

        self._compiled = jax.jit(pure)

    def __call__(self, data, meta):
        self.build(data, meta)
        values = [v.get_value() if isinstance(v, nnx.Variable) else v for v in self._variables]
        out, values = self._compiled(values, data, meta)
        for variable, value in zip(self._variables, values):
            # A plain array attribute (not a Variable) is a constant of the stage.
            if isinstance(variable, nnx.Variable):
                variable.set_value(value)
        return out

    def warm_up(self, data, meta) -> None:
        """Compiles for batches shaped like `data`/`meta` (`ShapeDtypeStruct`s) by running
        once on zeros, leaving the stages' state untouched. A pipeline calls this while
        its first batch is still being read, so the compile overlaps the reading."""
        self.build(data, meta)
        zeros = lambda s: jax.device_put(np.zeros(s.shape, s.dtype))  # noqa: E731
        values = [v.get_value() if isinstance(v, nnx.Variable) else v for v in self._variables]
        self._compiled(values, jax.tree.map(zeros, data), jax.tree.map(zeros, meta))

    def compile_count(self) -> int:
        """How many programs have been compiled (one per distinct input shape)."""
        return 0 if self._compiled is None else self._compiled._cache_size()  # pylint: disable=protected-access
