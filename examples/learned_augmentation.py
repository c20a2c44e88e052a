"""Learning a preprocessing parameter by gradient descent, through the operator tier.

The data: scikit-learn's embedded handwritten digits (1,797 real 8x8 scans, pixel
values 0..16, no download). A datarax Pipeline serves shuffled batches; in the training
step, a learnable `Normalize` (its per-channel mean and std are `nnx.Param`s) feeds a
small linear classifier, and `nnx.grad` trains both together. The normalisation starts
badly (mean 0, std 1 on 0..16 pixels) and moves towards a useful scale while the loss
falls.

    .venv/bin/python examples/learned_augmentation.py     (about 10-30 s on a CPU)
"""

from __future__ import annotations

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits

from datarax import Pipeline
from datarax.operators import Normalize
from datarax.sources import MemorySource


class Classifier(nnx.Module):
    """Learnable normalisation, then a linear softmax layer over the 64 pixels."""

    def __init__(self, rngs: nnx.Rngs):
        self.normalize = Normalize(mean=0.0, std=1.0, learnable=True)
        self.linear = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, images):
        x = self.normalize({"image": images})["image"]
        return self.linear(x.reshape(x.shape[0], -1))


def main() -> None:
    digits = load_digits()
    data = {"image": digits.images.astype(np.float32)[..., None],  # (1797, 8, 8, 1)
            "label": digits.target.astype(np.int32)}
    pipeline = Pipeline(MemorySource(data), batch_size=128, shuffle=True, seed=0,
                        num_epochs=15, drop_remainder=True)
    model = Classifier(nnx.Rngs(params=0))
    optimizer = nnx.Optimizer(model, optax.adam(0.05), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, images, labels):
        def loss_fn(model):
            logits = model(images)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    print(f"{'step':>5} {'loss':>8} {'norm mean':>10} {'norm std':>9}")
    losses = []
    for step, batch in enumerate(pipeline):
        loss = train_step(model, optimizer, batch["image"], batch["label"])
        losses.append(float(loss))
        if step % 20 == 0:
            print(f"{step:5d} {losses[-1]:8.4f} {float(model.normalize.mean[...][0]):10.4f} "
                  f"{float(model.normalize.std[...][0]):9.4f}")
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    print(f"loss {first:.3f} -> {last:.3f}; Normalize mean 0.000 -> "
          f"{float(model.normalize.mean[...][0]):.3f}, std 1.000 -> "
          f"{float(model.normalize.std[...][0]):.3f}")
    assert last < first, "the loss should fall"


if __name__ == "__main__":  # Grain worker processes re-import this file: keep the guard.
    main()
