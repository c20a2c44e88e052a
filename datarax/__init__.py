"""datarax: Grain-backed data loading for JAX, with on-device Flax NNX operators.

    import datarax
    from datarax.sources import ArrayRecordSource, FixedLayout
    from datarax.operators import RandomCrop, RandomFlip, Normalize

    pipeline = datarax.Pipeline(source=..., stages=[...], batch_size=256, shuffle=True)

JAX's persistent compilation cache is turned on at import (a per-user folder), so a
pipeline's device function compiles once per machine, not once per run; set
DATARAX_COMPILATION_CACHE=0 to leave JAX's settings alone.

Names are imported on first use: Grain's worker processes unpickle sources and import
only what those need, which keeps worker start-up short.
"""

from datarax.compilation_cache import enable_compilation_cache as _enable_compilation_cache
from datarax.lazy_exports import lazy_exports as _lazy_exports

_enable_compilation_cache()

__version__ = "0.1.0"

_EXPORTS = {
    "DataLoader": "datarax.loader",
    "DataraxModule": "datarax.core.module",
    "OperatorConfig": "datarax.core.config",
    "OperatorModule": "datarax.core.operator",
    "Pipeline": "datarax.pipeline.pipeline",
    "PipelineIterator": "datarax.pipeline.pipeline",
    "StageGraph": "datarax.pipeline.graph",
    "StructuralConfig": "datarax.core.config",
    "StructuralModule": "datarax.core.structural",
    "checkpoint": "datarax.checkpoint",
    "operators": "datarax.operators",
    "sharding": "datarax.sharding",
    "sources": "datarax.sources",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
