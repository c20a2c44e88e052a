"""`StageGraph`: the device stages as a directed acyclic graph of NNX modules.

Nodes are `nnx.Module`s keyed by name; `edges[name]` lists a node's inputs in call
order ('source' is the host batch; a node with no listed inputs reads it too). The
sink is one node (its output is the batch), a list of nodes or a dict {output key:
node} (a dict of their outputs). A linear `Pipeline(stages=[...])` is the chain
stage0 -> stage1 -> ...; both run as one jitted function.

Randomness: an operator draws its key at construction, so every instance differs; when
ONE instance serves several nodes, each node folds a hash of its name into the key, so
the branches still draw independently (and reproducibly: the name is the identity).
"""

from __future__ import annotations

import zlib
from typing import Any, Mapping, Sequence

import flax.nnx as nnx
import jax

from datarax.core.operator import batch_size_of, default_metadata
from datarax.pipeline.device import call_stage, check_stage

SOURCE = "source"


def _topological_order(nodes: Mapping[str, Any], edges: Mapping[str, list[str]]) -> list[str]:
    """Execution order (inputs before users, ties in insertion order); spells out cycles."""
    order, state = [], {}  # state: 1 visiting, 2 done

    def visit(name, path):
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise ValueError(f"StageGraph: the edges form a cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for parent in edges.get(name, []):
            if parent != SOURCE:
                visit(parent, path + [name])
        state[name] = 2
        order.append(name)

    for name in nodes:
        visit(name, [])
    return order


class StageGraph(nnx.Module):
    """A DAG of stages; see the module docstring.

    Args:
      nodes: {name: nnx.Module}; 'source' is reserved for the host batch.
      edges: {name: [input names]}; missing or empty means [SOURCE].
      sink: a node name, a list of names, or a dict {output key: node name}.
    """

    def __init__(self, nodes: Mapping[str, nnx.Module], edges: Mapping[str, Sequence[str]] | None,
                 sink: str | Sequence[str] | Mapping[str, str]):
        edges = {name: list(inputs) for name, inputs in (edges or {}).items()}
        if SOURCE in nodes:
            raise ValueError("StageGraph: 'source' names the host batch; rename that node")
        for name, module in nodes.items():
            check_stage(module, f"node {name!r}")
        for name, inputs in edges.items():
            if name not in nodes:
                raise ValueError(f"StageGraph: edges name a node {name!r} that is not in "
                                 f"nodes ({sorted(nodes)})")
            for parent in inputs:
                if parent != SOURCE and parent not in nodes:
                    raise ValueError(f"StageGraph: node {name!r} has an edge from unknown node "
                                     f"{parent!r}; known: {['source'] + sorted(nodes)}")
        self.inputs = {name: tuple(edges.get(name) or [SOURCE]) for name in nodes}
        self.sink = self._check_sink(sink, nodes)
        self.order = tuple(_topological_order(nodes, self.inputs))
        self._check_connected(nodes)
        for name in nodes:
            if len(self.inputs[name]) > 1 and hasattr(nodes[name], "apply_batch"):
                raise ValueError(
                    f"StageGraph: node {name!r} is an OperatorModule with "
                    f"{len(self.inputs[name])} inputs; operators take one batch. Merge "
                    f"inputs in a plain nnx.Module node first")
        self.nodes = nnx.Dict(dict(nodes))
        counts: dict[int, int] = {}
        for module in nodes.values():
            counts[id(module)] = counts.get(id(module), 0) + 1
        # Only a module instance used by several nodes needs the node name folded in.
        self.salts = {name: (zlib.crc32(name.encode()) & 0x7FFFFFFF if counts[id(m)] > 1 else None)
                      for name, m in nodes.items()}

    @classmethod
    def chain(cls, stages: Sequence[nnx.Module]) -> "StageGraph":
        """stage0 -> stage1 -> ...: the linear pipeline."""
        for i, stage in enumerate(stages):
            check_stage(stage, f"stages[{i}]")
        names = [f"stage{i}" for i in range(len(stages))]
        edges = {name: [names[i - 1] if i else SOURCE] for i, name in enumerate(names)}
        return cls(dict(zip(names, stages)), edges, names[-1] if names else SOURCE)

    @staticmethod
    def _check_sink(sink, nodes):
        if isinstance(sink, str):
            names = [sink]
        elif isinstance(sink, Mapping):
            names = list(sink.values())
        else:
            names = list(sink)
        if not names:
            raise ValueError("StageGraph: sink names no node")
        for name in names:
            if name != SOURCE and name not in nodes:
                raise ValueError(f"StageGraph: the sink {name!r} is not a node; nodes: "
                                 f"{sorted(nodes)}")
        return sink if isinstance(sink, (str, Mapping)) else tuple(sink)

    def _sink_names(self) -> list[str]:
        if isinstance(self.sink, str):
            return [self.sink]
        return list(self.sink.values()) if isinstance(self.sink, Mapping) else list(self.sink)

    def _check_connected(self, nodes) -> None:
        users: dict[str, list[str]] = {}
        for name, inputs in self.inputs.items():
            for parent in inputs:
                users.setdefault(parent, []).append(name)
        reached, frontier = set(), [SOURCE]
        while frontier:
            for child in users.get(frontier.pop(), []):
                if child not in reached:
                    reached.add(child)
                    frontier.append(child)
        needed, frontier = set(), [n for n in self._sink_names() if n != SOURCE]
        while frontier:
            name = frontier.pop()
            if name not in needed:
                needed.add(name)
                frontier.extend(p for p in self.inputs[name] if p != SOURCE)
        for name in nodes:
            if name not in reached:
                raise ValueError(f"StageGraph: node {name!r} is not reached by any path from "
                                 f"the source")
            if name not in needed:
                raise ValueError(f"StageGraph: node {name!r} leads to no sink "
                                 f"({self._sink_names()}); remove it or add it to the sink")

    @property
    def stages(self) -> list[nnx.Module]:
        return [self.nodes[name] for name in self.order]

    def _meta_for(self, name: str, meta):
        salt = self.salts[name]
        return meta if salt is None else {**meta, "salt": salt}

    def __call__(self, data, meta=None):
        """Runs the graph on a batch. `meta` carries record identity (see OperatorModule);
        without it, records are numbered by position, as in a direct operator call."""
        if meta is None:
            meta = default_metadata(batch_size_of(data, "StageGraph"))
        values = {SOURCE: data}
        for name in self.order:
            args = [values[p] for p in self.inputs[name]]
            values[name] = call_stage(self.nodes[name], args, self._meta_for(name, meta))
        return self._collect(values)

    def _collect(self, values):
        if isinstance(self.sink, str):
            return values[self.sink]
        if isinstance(self.sink, Mapping):
            return {key: values[name] for key, name in self.sink.items()}
        return {name: values[name] for name in self.sink}

    def trace_shapes(self, spec, meta_spec, prepare: bool = False) -> dict[str, Any]:
        """Output shapes of every node for input `spec` (abstract: nothing is computed).

        With `prepare`, each DataraxModule's statistics are created for its input first.
        """
        values = {SOURCE: spec}
        for name in self.order:
            module = self.nodes[name]
            args = [values[p] for p in self.inputs[name]]
            if prepare and getattr(module, "batch_stats", None) is not None:
                module.init_stats(args[0])
            graphdef, state = nnx.split(module)
            meta = self._meta_for(name, meta_spec)

            def run(state, args, meta, graphdef=graphdef):
                return call_stage(nnx.merge(graphdef, state), args, meta)

            values[name] = jax.eval_shape(run, state, args, meta)
        return values

    def prepare(self, spec, meta_spec) -> None:
        self.trace_shapes(spec, meta_spec, prepare=True)

    def describe(self, spec, meta_spec) -> str:
        """The nodes in execution order, their inputs, and what flows on each edge."""
        values = self.trace_shapes(spec, meta_spec)
        lines = [f"source: {_format_spec(spec)}"]
        for name in self.order:
            module = self.nodes[name]
            lines.append(f"{name} = {type(module).__name__}({', '.join(self.inputs[name])}) "
                         f"-> {_format_spec(values[name])}")
        lines.append(f"sink: {self.sink if not isinstance(self.sink, tuple) else list(self.sink)}")
        return "\n".join(lines)


def _format_spec(tree) -> str:
    if isinstance(tree, Mapping):
        return "{" + ", ".join(f"{k}: {_format_spec(v)}" for k, v in tree.items()) + "}"
    if hasattr(tree, "shape") and hasattr(tree, "dtype"):
        return f"{tree.dtype}{list(tree.shape)}"
    return type(tree).__name__
