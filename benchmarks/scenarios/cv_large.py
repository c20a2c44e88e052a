"""CV-large: Pillow-encoded JPEGs of 224x224 and larger, decoded on the host.

Record: int32 label + JPEG bytes (quality 90; sides 224 to 400 pixels; smooth
gradients plus noise, so decoding costs what a photo's would). Per record: decode,
random resized crop to 224x224 (scale 0.08-1, aspect 3/4-4/3, torchvision's rule, done
by Pillow's resize with a box, bilinear), random horizontal flip, normalise. Batch 64.
Decode-bound: this is where worker processes must pay off. Default 2,000 images, sane
for a 2-core machine. The label is the record's number, so records are identifiable.

datarax reads a batch per call and decodes + crops on the host (keyed by record index,
so the crop does not depend on the worker count); flip and normalise run on the device.
"""

from __future__ import annotations

import dataclasses
import io
import math
from typing import Sequence

import numpy as np
from grain.sources import ArrayRecordDataSource

from benchmarks.scenarios.base import Batch, Scenario, stack
from benchmarks.scenarios.cv_small import MEAN, STD, normalise
from datarax.core.data_source import DataSourceModule

OUT = 224
LABEL_BYTES = 4


def random_resized_box(width: int, height: int, rng: np.random.Generator | None):
    """(x0, y0, x1, y1): torchvision's RandomResizedCrop box; the whole image if rng is None."""
    if rng is None:
        return (0, 0, width, height)
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            return (x0, y0, x0 + w, y0 + h)
    side = min(width, height)
    return ((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)


def decode_and_crop(record: bytes, rng: np.random.Generator | None) -> Batch:
    """JPEG record -> {'image': uint8 (224, 224, 3), 'label': int32}."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    label = np.frombuffer(record, np.int32, 1)[0]
    with Image.open(io.BytesIO(record[LABEL_BYTES:])) as image:
        image = image.convert("RGB")
        box = random_resized_box(image.width, image.height, rng)
        image = image.resize((OUT, OUT), Image.BILINEAR, box=box)
        return {"image": np.asarray(image), "label": label}


@dataclasses.dataclass(frozen=True)
class CvLarge(Scenario):
    num_records: int = 2_000
    batch_size: int = 64

    name = "cv_large"

    @property
    def device_ops(self):
        return (("flip", self.augment), ("normalize", tuple(MEAN), tuple(STD)))

    def generate_records(self):
        from PIL import Image  # pylint: disable=import-outside-toplevel

        rng = np.random.default_rng(2024)
        for i in range(self.num_records):
            h, w = rng.integers(224, 401, 2)
            y = np.linspace(0, 1, h)[:, None, None]
            x = np.linspace(0, 1, w)[None, :, None]
            phase = rng.uniform(0, 2 * np.pi, 3)
            base = 127 + 100 * np.sin(6 * x * rng.uniform(0.5, 2) + 4 * y + phase)
            pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, format="JPEG", quality=90)
            yield np.int32(i).tobytes() + out.getvalue()

    # ---- host --------------------------------------------------------------------

    def decode_record(self, record: bytes) -> Batch:
        return {"record": record}  # decoding happens with the crop (one Pillow pass)

    def augment_record(self, record: Batch, rng: np.random.Generator) -> Batch:
        out = decode_and_crop(record["record"], rng if self.augment else None)
        image = out["image"]
        if self.augment and rng.random() < 0.5:
            image = image[:, ::-1]
        return {"image": normalise(image), "label": out["label"]}

    def bound_prepare(self, records):
        return records

    def bound_batch(self, prepared, indices, rng) -> Batch:
        batch = stack([decode_and_crop(prepared[i], rng if self.augment else None)
                       for i in indices])
        images = batch["image"]
        if self.augment:
            flip = rng.random(len(images)) < 0.5
            images = np.where(flip[:, None, None, None], images[:, :, ::-1], images)
        return {"image": normalise(images), "label": batch["label"]}

    def tf_map(self, record, seed: int):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        label = tf.io.decode_raw(tf.strings.substr(record, 0, LABEL_BYTES), tf.int32)[0]
        image = tf.io.decode_jpeg(tf.strings.substr(record, LABEL_BYTES, -1), channels=3)
        if self.augment:
            begin, size, _ = tf.image.sample_distorted_bounding_box(
                tf.shape(image), tf.zeros([0, 0, 4]), seed=seed, area_range=(0.08, 1.0),
                aspect_ratio_range=(3 / 4, 4 / 3), max_attempts=10,
                use_image_if_no_bounding_boxes=True)
            image = tf.slice(image, begin, size)
        image = tf.image.resize(image, (OUT, OUT), method="bilinear")
        if self.augment:
            image = tf.image.random_flip_left_right(image, seed=seed + 1)
        return {"image": (image / 255.0 - MEAN) / STD, "label": label}

    def datarax_source(self, seed: int):
        return JpegSource(self.paths(), seed, self.augment)

    def record_keys(self, batch: Batch) -> list[bytes]:
        return [np.int32(l).tobytes() for l in np.asarray(batch["label"])]


class JpegSource(DataSourceModule):
    """ArrayRecord JPEGs for datarax: one batched read per step, then decode + random
    resized crop per record, its randomness keyed on (seed, record index), so the
    worker count does not change it. Flip and normalise are left to the device."""

    def __init__(self, paths, seed: int, augment: bool):
        super().__init__()
        self.paths, self.seed, self.augment = list(paths), seed, augment
        self._reader = ArrayRecordDataSource(self.paths)

    def __len__(self) -> int:
        return len(self._reader)

    def read_batch(self, indices: np.ndarray) -> Batch:
        raw = self._reader.__getitems__([int(i) for i in indices])
        return stack([decode_and_crop(r, np.random.default_rng([self.seed, int(i)])
                                      if self.augment else None)
                      for r, i in zip(raw, indices)])
