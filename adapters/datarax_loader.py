"""datarax: Grain index work, whole-batch reads and decode, one fused device function.

`Pipeline(scenario.datarax_source(seed), stages, batch_size, shuffle=True, seed,
worker_count)`: Grain shuffles indices and runs the worker processes; each step reads
and decodes its records in one call (`ArrayRecordSource(decode_batch=...)`); the
scenario's `device_ops` run on the device as `datarax.operators`, fused into one
jitted function.
"""

from __future__ import annotations

from typing import Sequence

from adapters import missing_modules

NAME = "datarax"
# Imported before the clock starts, as every peer's library is (datarax's package
# exports are lazy, so name the modules the pipeline uses).
REQUIRES = ("datarax", "datarax.pipeline.pipeline", "datarax.operators", "flax")
STREAMING = True
DESCRIPTION = "datarax Pipeline: batched ArrayRecord read+decode, fused jitted device ops"


def available() -> str | None:
    return missing_modules(*REQUIRES)


def device_stages(ops: Sequence[tuple], seed: int) -> list:
    """`datarax.operators` for a scenario's declarative `device_ops` list."""
    import flax.nnx as nnx  # pylint: disable=import-outside-toplevel
    from datarax import operators as lib  # pylint: disable=import-outside-toplevel

    rngs = nnx.Rngs(augment=seed)
    stages = []
    for op, *args in ops:
        if op == "crop":
            height, width, random = args
            stages.append(lib.RandomCrop(size=(height, width), rngs=rngs) if random
                          else lib.CenterCrop(size=(height, width)))
        elif op == "flip":
            if args[0]:
                stages.append(lib.RandomFlip(horizontal=True, rngs=rngs))
        elif op == "normalize":
            mean, std = args
            stages += [lib.ConvertDtype(), lib.Normalize(mean=mean, std=std)]
        elif op == "standardize":
            mean, std, field = args
            stages.append(lib.Standardize(fields=field, mean=mean, std=std, epsilon=0.0))
        else:
            raise ValueError(f"datarax adapter: unknown device op {op!r}")
    return stages


def build(scenario, worker_count: int = 0, seed: int = 0):
    from datarax import Pipeline  # pylint: disable=import-outside-toplevel

    pipeline = Pipeline(scenario.datarax_source(seed),
                        stages=device_stages(scenario.device_ops, seed),
                        batch_size=scenario.batch_size, shuffle=True, seed=seed,
                        num_epochs=1, worker_count=worker_count)
    return _PipelineLoader(pipeline)


class _PipelineLoader:
    def __init__(self, pipeline):
        self.pipeline = pipeline

    def __iter__(self):
        return iter(self.pipeline)

    def stats(self) -> dict:
        return {"compiles": self.pipeline.fused.compile_count(),
                "operators": sorted({type(s).__module__.split(".")[0] + "." + type(s).__name__
                                     for s in self.pipeline.stages})}

    def close(self) -> None:
        self.pipeline.close()
