"""The Pipeline: Grain host side, device transfer, fused operator stages."""

from datarax.pipeline.pipeline import Pipeline, PipelineIterator

__all__ = ["Pipeline", "PipelineIterator"]
