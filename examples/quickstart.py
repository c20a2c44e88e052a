"""Quickstart: train a Flax NNX classifier on real handwritten digits with datarax.

What it shows, end to end, on the CPU in well under a minute of training:
  1. a real dataset (scikit-learn's 8x8 digits, shipped inside the package) written
     once into ArrayRecord files, the format datarax reads fastest;
  2. `ArrayRecordSource` decoding whole batches of raw records at a time, read by 2
     Grain worker processes, shuffled afresh every epoch;
  3. a stochastic on-device augmentation operator (random shift + pixel noise, keyed
     on each record's identity, so reruns see the same draws) fused and jitted once;
  4. a learnable normalisation operator (an `nnx.Param` mean and scale) that the
     training step differentiates through, next to the classifier's own weights.

Run it with `make demo` (or `python examples/quickstart.py` inside the venv).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from array_record.python.array_record_module import ArrayRecordWriter
from sklearn.datasets import load_digits

import datarax
from datarax.core.operator import OperatorConfig, OperatorModule
from datarax.sources import ArrayRecordSource, FixedLayout

LAYOUT = FixedLayout({"image": ((8, 8, 1), "uint8"), "label": ((), "int32")})
EPOCHS = 15
BATCH_SIZE = 64


class RandomShiftAndNoise(OperatorModule):
    """Shifts each image by up to one pixel and adds N(0, sigma) noise.

    Per element: image (8, 8, 1) uint8 -> float32 in [0, 16]-ish units.
    Randomness: the shift and the noise are keyed on (stream key, epoch, record index).
    """

    def __init__(self, sigma: float, *, rngs: nnx.Rngs):
        super().__init__(OperatorConfig(stochastic=True, stream_name="augment"), rngs=rngs)
        self.sigma = sigma

    def apply(self, data, state, metadata, random_params=None, stats=None):
        shift_key, noise_key = jax.random.split(random_params)
        dy, dx = jax.random.randint(shift_key, (2,), -1, 2)
        padded = jnp.pad(data["image"].astype(jnp.float32), ((1, 1), (1, 1), (0, 0)))
        image = jax.lax.dynamic_slice(padded, (1 + dy, 1 + dx, 0), (8, 8, 1))
        image = image + self.sigma * jax.random.normal(noise_key, image.shape)
        return {**data, "image": image}, state, metadata


class LearnableNormalize(OperatorModule):
    """(image - mean) * scale with a learnable mean and scale (nnx.Param)."""

    def __init__(self):
        super().__init__(OperatorConfig())
        self.mean = nnx.Param(jnp.zeros(()))
        self.scale = nnx.Param(jnp.asarray(1 / 16))  # digits are 0..16

    def apply(self, data, state, metadata, random_params=None, stats=None):
        image = data["image"].astype(jnp.float32)
        return {**data, "image": (image - self.mean) * self.scale}, state, metadata


class Classifier(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.normalize = LearnableNormalize()
        self.hidden = nnx.Linear(64, 128, rngs=rngs)
        self.out = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, batch):
        image = self.normalize(batch)["image"].reshape(-1, 64)
        return self.out(nnx.relu(self.hidden(image)))


def write_split(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    writer = ArrayRecordWriter(path, "group_size:1")
    for image, label in zip(images, labels):
        writer.write(LAYOUT.encode({"image": image, "label": label}))
    writer.close()


def prepare_digits(folder: str) -> tuple[str, str]:
    """Writes the digits into train/test ArrayRecord files (a fixed 80/20 split)."""
    digits = load_digits()
    images = digits.images.astype(np.uint8)[..., None]  # values 0..16
    labels = digits.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.8 * len(labels))
    train, test = os.path.join(folder, "train.array_record"), os.path.join(folder, "test.array_record")
    write_split(train, images[order[:cut]], labels[order[:cut]])
    write_split(test, images[order[cut:]], labels[order[cut:]])
    return train, test


@nnx.jit
def train_step(model, optimizer, batch):
    def loss_fn(model):
        logits = model(batch)
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def count_correct(model, batch):
    return (model(batch).argmax(-1) == batch["label"]).sum()


def progress(iterable, total, description):
    """A progress bar on a terminal, plain lines elsewhere (logs, CI)."""
    if sys.stdout.isatty():
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=description, leave=False)
    return iterable


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        train_path, test_path = prepare_digits(folder)
        train = datarax.Pipeline(
            ArrayRecordSource(train_path, decode_batch=LAYOUT),
            stages=[RandomShiftAndNoise(sigma=0.5, rngs=nnx.Rngs(augment=0))],
            batch_size=BATCH_SIZE, shuffle=True, seed=0, num_epochs=EPOCHS, worker_count=2)
        test = datarax.Pipeline(ArrayRecordSource(test_path, decode_batch=LAYOUT),
                                batch_size=256)

        model = Classifier(nnx.Rngs(params=0))
        optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)
        steps_per_epoch = train.plan.batches_per_epoch
        records, started = 0, time.perf_counter()
        with train, test:
            batches = iter(train)
            for epoch in range(EPOCHS):
                losses = []
                for _ in progress(range(steps_per_epoch), steps_per_epoch, f"epoch {epoch + 1}"):
                    batch = next(batches)
                    losses.append(train_step(model, optimizer, batch))
                    records += len(batch["label"])
                print(f"epoch {epoch + 1:2d}/{EPOCHS}  loss {float(jnp.mean(jnp.stack(losses))):.4f}  "
                      f"normalize mean {float(model.normalize.mean[...]):+.3f} "
                      f"scale {float(model.normalize.scale[...]):.3f}", flush=True)
            elapsed = time.perf_counter() - started
            correct = total = 0
            for batch in test:
                correct += int(count_correct(model, batch))
                total += len(batch["label"])
        accuracy = correct / total
        print(f"test accuracy: {accuracy:.4f} on {total} held-out digits")
        print(f"throughput: {records / elapsed:,.0f} records/s over {records:,} training records "
              f"(2 Grain workers, augmentation on device, training step included)")


if __name__ == "__main__":  # Grain's worker processes re-import this file
    main()
