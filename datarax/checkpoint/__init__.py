"""Checkpointing: the Grain-side stream position and NNX state in one Orbax step."""

from datarax.checkpoint.checkpointer import Checkpointer
from datarax.checkpoint.handler import (
    PipelineCheckpointHandler, PipelineMismatchError, PipelineRestore, PipelineSave)

__all__ = ["Checkpointer", "PipelineCheckpointHandler", "PipelineMismatchError",
           "PipelineRestore", "PipelineSave"]
