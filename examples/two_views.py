"""Two augmented views of every record, from one source, in one compiled graph.

The SimCLR-style input pipeline as a datarax DAG: the source batch feeds two branches
("view1", "view2"), each its own chain of random operators, so the same record gets two
different crops, brightness/contrast changes and noise; both views come out of ONE
jitted function. A small encoder is then trained for a few steps with the NT-Xent
contrastive loss, which pulls the two views of a record together.

Data: scikit-learn's 8x8 handwritten digits (shipped inside the package), as float
images in [0, 1]. Run: `python examples/two_views.py` inside the project's venv.
"""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

from datarax import Pipeline
from datarax.operators import ColorJitter, GaussianNoise, RandomCrop, Sequential
from datarax.sources import MemorySource

STEPS = 60
BATCH_SIZE = 128


def view(seed: int) -> Sequential:
    """One branch: random crop (pad 1), brightness/contrast jitter, pixel noise."""
    rngs = nnx.Rngs(augment=seed)
    return Sequential([
        RandomCrop(size=(8, 8), padding=1, rngs=rngs),
        ColorJitter(brightness=0.4, contrast=0.4, rngs=rngs),
        GaussianNoise(std=0.05, rngs=rngs),
    ], rngs=rngs)


class Encoder(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, 128, rngs=rngs)
        self.project = nnx.Linear(128, 32, rngs=rngs)

    def __call__(self, images):
        z = self.project(nnx.relu(self.hidden(images.reshape(images.shape[0], -1))))
        return z / jnp.linalg.norm(z, axis=-1, keepdims=True)


def nt_xent(z1, z2, temperature=0.2):
    """SimCLR's loss: each view must pick its partner out of the 2B - 1 others."""
    z = jnp.concatenate([z1, z2])
    logits = z @ z.T / temperature
    logits = logits - 1e9 * jnp.eye(len(z))
    n = len(z1)
    partners = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    return optax.softmax_cross_entropy_with_integer_labels(logits, partners).mean()


@nnx.jit
def train_step(encoder, optimizer, views):
    def loss_fn(encoder):
        return nt_xent(encoder(views["view1"]["image"]), encoder(views["view2"]["image"]))

    loss, grads = nnx.value_and_grad(loss_fn)(encoder)
    optimizer.update(encoder, grads)
    return loss


def main() -> None:
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1)
    pipeline = Pipeline.from_dag(
        source=MemorySource({"image": images, "label": digits.target.astype(np.int32)}),
        nodes={"view1": view(1), "view2": view(2)},
        edges={"view1": ["source"], "view2": ["source"]},
        sink=["view1", "view2"],
        batch_size=BATCH_SIZE, shuffle=True, seed=0, num_epochs=None, drop_remainder=True)
    print(pipeline.describe())
    encoder = Encoder(nnx.Rngs(params=0))
    optimizer = nnx.Optimizer(encoder, optax.adam(1e-3), wrt=nnx.Param)
    with pipeline:
        batches = iter(pipeline)
        first = next(batches)
        difference = float(jnp.abs(first["view1"]["image"] - first["view2"]["image"]).mean())
        print(f"mean |view1 - view2| on the first batch: {difference:.3f} (same records, other draws)")
        losses = []
        for step in range(STEPS):
            losses.append(float(train_step(encoder, optimizer, next(batches))))
            if step % 10 == 0 or step == STEPS - 1:
                print(f"step {step:3d}  contrastive loss {losses[-1]:.3f}")
    print(f"loss fell from {np.mean(losses[:5]):.3f} to {np.mean(losses[-5:]):.3f}")


if __name__ == "__main__":
    main()
