"""The Pipeline: Grain host side, device transfer, fused operator stages."""

from datarax.lazy_exports import lazy_exports as _lazy_exports

_EXPORTS = {"Pipeline": "datarax.pipeline.pipeline",
            "PipelineIterator": "datarax.pipeline.pipeline"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
