"""Record sources: in memory, ArrayRecord files (and, with the tfds extra, TFDS)."""

from datarax.sources.array_record import ArrayRecordSource
from datarax.sources.decoders import FixedLayout
from datarax.sources.memory import MemorySource

__all__ = ["ArrayRecordSource", "FixedLayout", "MemorySource"]
