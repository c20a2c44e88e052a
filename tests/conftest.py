"""Shared fixtures: real data written to real files in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from sample_data import IMAGE_LAYOUT, make_images, write_array_record  # noqa: F401


@pytest.fixture
def image_records(tmp_path):
    """(path of one ArrayRecord file with 100 image records, the arrays written)."""
    data = make_images(100)
    records = [IMAGE_LAYOUT.encode({k: v[i] for k, v in data.items()}) for i in range(100)]
    return write_array_record(tmp_path / "images.array_record", records), data
