"""Record sources: in memory, ArrayRecord files and, with the tfds extra, TFDS.

`TFDSSource` and `TFDSExampleDecoder` import `tensorflow_datasets` only when made.
"""

from datarax.sources.array_record import ArrayRecordSource
from datarax.sources.decoders import FixedLayout, TFDSExampleDecoder
from datarax.sources.memory import MemorySource
from datarax.sources.tfds import TFDSSource

__all__ = ["ArrayRecordSource", "FixedLayout", "MemorySource", "TFDSExampleDecoder",
           "TFDSSource"]
