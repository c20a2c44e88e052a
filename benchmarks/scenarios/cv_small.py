"""CV-small: 32x32x3 uint8 images + int32 labels, raw bytes (3,076 per record).

Per record: random crop 32 -> 28, random horizontal flip, normalise to float32 with
per-channel mean and std. Batch 256. The default size is 50,000 records in ONE
ArrayRecord file (CIFAR-10's shape); pixels are seeded random, so every record is
distinct and identifiable after the transforms (the conformance test relies on it).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from benchmarks.scenarios.base import Batch, Scenario

SIZE, CROP, CHANNELS = 32, 28, 3
MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
IMAGE_BYTES = SIZE * SIZE * CHANNELS
RECORD_BYTES = IMAGE_BYTES + 4
MARGIN = SIZE - CROP
CENTRE = MARGIN // 2


def normalise(image_uint8: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) -> float32 ((x / 255) - mean) / std, the formula every loader uses."""
    return (image_uint8.astype(np.float32) / np.float32(255.0) - MEAN) / STD


@dataclasses.dataclass(frozen=True)
class CvSmall(Scenario):
    num_records: int = 50_000
    batch_size: int = 256

    name = "cv_small"

    @property
    def device_ops(self):
        return (("crop", CROP, CROP, self.augment), ("flip", self.augment),
                ("normalize", tuple(MEAN), tuple(STD)))

    def generate_records(self):
        rng = np.random.default_rng(1234)
        for start in range(0, self.num_records, 4096):
            n = min(4096, self.num_records - start)
            images = rng.integers(0, 256, (n, IMAGE_BYTES), dtype=np.uint8)
            labels = rng.integers(0, 10, n, dtype=np.int32)
            for image, label in zip(images, labels):
                yield image.tobytes() + label.tobytes()

    def layout(self):
        from datarax.sources import FixedLayout  # pylint: disable=import-outside-toplevel
        return FixedLayout({"image": ((SIZE, SIZE, CHANNELS), "uint8"), "label": ((), "int32")})

    # ---- host --------------------------------------------------------------------

    def decode_record(self, record: bytes) -> Batch:
        return {"image": np.frombuffer(record, np.uint8, IMAGE_BYTES).reshape(SIZE, SIZE, CHANNELS),
                "label": np.frombuffer(record, np.int32, 1, IMAGE_BYTES)[0]}

    def decode_batch(self, records: Sequence[bytes]) -> Batch:
        rows = np.frombuffer(b"".join(records), np.uint8).reshape(len(records), RECORD_BYTES)
        return {"image": rows[:, :IMAGE_BYTES].reshape(-1, SIZE, SIZE, CHANNELS),
                "label": rows[:, IMAGE_BYTES:].copy().view(np.int32)[:, 0]}

    def augment_record(self, record: Batch, rng: np.random.Generator) -> Batch:
        image = record["image"]
        if self.augment:
            dy, dx = rng.integers(0, MARGIN + 1, 2)
            flip = rng.random() < 0.5
        else:
            dy = dx = CENTRE
            flip = False
        image = image[dy:dy + CROP, dx:dx + CROP]
        if flip:
            image = image[:, ::-1]
        return {"image": normalise(image), "label": np.int32(record["label"])}

    def augment_batch(self, batch: Batch, rng: np.random.Generator) -> Batch:
        images = batch["image"]
        n = len(images)
        if self.augment:
            dy, dx = rng.integers(0, MARGIN + 1, (2, n))
            flip = rng.random(n) < 0.5
        else:
            dy = dx = np.full(n, CENTRE)
            flip = np.zeros(n, bool)
        # One gather does crop and flip: row i takes pixels (dy_i + r, dx_i + c'), with
        # c' = c, or 27 - c when flipped; then one normalise over the whole batch.
        steps = np.arange(CROP)
        rows = dy[:, None] + steps
        cols = dx[:, None] + np.where(flip[:, None], CROP - 1 - steps, steps)
        crops = images[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return {"image": normalise(crops), "label": batch["label"].astype(np.int32)}

    def tf_map(self, record, seed: int):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        raw = tf.io.decode_raw(record, tf.uint8)
        image = tf.reshape(raw[:IMAGE_BYTES], (SIZE, SIZE, CHANNELS))
        label = tf.bitcast(raw[IMAGE_BYTES:], tf.int32)
        if self.augment:
            image = tf.image.random_crop(image, (CROP, CROP, CHANNELS), seed=seed)
            image = tf.image.random_flip_left_right(image, seed=seed + 1)
        else:
            image = image[CENTRE:CENTRE + CROP, CENTRE:CENTRE + CROP]
        image = (tf.cast(image, tf.float32) / 255.0 - MEAN) / STD
        return {"image": image, "label": label}

    def datarax_source(self, seed: int):
        from datarax.sources import ArrayRecordSource  # pylint: disable=import-outside-toplevel
        return ArrayRecordSource(self.paths(), decode_batch=self.layout())

    # ---- checking ----------------------------------------------------------------

    def record_keys(self, batch: Batch) -> list[bytes]:
        # Undo the normalisation: the crop's uint8 pixels and the label identify it.
        pixels = np.rint((batch["image"] * STD + MEAN) * 255.0).astype(np.uint8)
        labels = np.asarray(batch["label"], np.int32)
        return [p.tobytes() + l.tobytes() for p, l in zip(pixels, labels)]
