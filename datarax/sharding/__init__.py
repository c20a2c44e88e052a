"""Sharders: split a pipeline's work across JAX processes and devices (tier 2B).

`ProcessSharder` says which share of every global batch this JAX process reads (Grain's
`ShardByJaxProcess`); `DataParallelSharder` turns each process's share into one global
`jax.Array` over a `jax.sharding.Mesh`. Pass the latter as `Pipeline(sharding=...)`.
"""

from datarax.sharding.data_parallel import DataParallelSharder
from datarax.sharding.process import ProcessSharder

__all__ = ["DataParallelSharder", "ProcessSharder"]
