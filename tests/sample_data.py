"""Small real datasets the tests write to real files (importable as `sample_data`)."""

from __future__ import annotations

import numpy as np

from datarax.sources import FixedLayout

# A small image dataset: record i has image pixels derived from i, and label i % 10.
IMAGE_LAYOUT = FixedLayout({"image": ((8, 8, 3), "uint8"), "label": ((), "int32")})


def make_images(n: int) -> dict[str, np.ndarray]:
    """n records of 8x8x3 uint8 images (pixels a function of the index) and labels."""
    index = np.arange(n, dtype=np.int64)[:, None, None, None]
    pixels = (index * 7 + np.arange(8 * 8 * 3).reshape(1, 8, 8, 3)) % 256
    return {"image": pixels.astype(np.uint8), "label": (np.arange(n) % 10).astype(np.int32)}


def write_array_record(path, records: list[bytes]) -> str:
    from array_record.python.array_record_module import ArrayRecordWriter

    writer = ArrayRecordWriter(str(path), "group_size:1")
    for record in records:
        writer.write(record)
    writer.close()
    return str(path)


def decode_failing_on_record_7(record: bytes):
    """A per-record decoder that raises on record 7 of `make_images` data.

    It lives in an importable module (not a test file) so that Grain's worker
    processes can unpickle it.
    """
    decoded = IMAGE_LAYOUT([record])
    if int(decoded["label"][0]) == 7 and decoded["image"][0, 0, 0, 0] == (7 * 7) % 256:
        raise ValueError("corrupt pixels")
    return {k: v[0] for k, v in decoded.items()}
