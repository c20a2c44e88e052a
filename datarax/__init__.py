"""datarax: Grain-backed data loading for JAX, with on-device Flax NNX operators."""

from datarax.core.config import OperatorConfig, StructuralConfig
from datarax.core.module import DataraxModule
from datarax.core.operator import OperatorModule
from datarax.core.structural import StructuralModule
from datarax.pipeline import Pipeline, PipelineIterator
from datarax import sources

__version__ = "0.1.0"

__all__ = [
    "DataraxModule", "OperatorConfig", "OperatorModule", "Pipeline", "PipelineIterator",
    "StructuralConfig", "StructuralModule", "sources",
]
