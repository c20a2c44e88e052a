"""A training-input job run as a real process by the checkpoint tests.

    python resume_job.py DATA CKPT OUT --workers 2 [--stop-after K] [--resume]
        [--save-every N] [--log LOG] [--sleep S] [--seed S] [--batch-size B]

Reads the ArrayRecord file DATA through a pipeline with a stochastic and a learnable
operator; a pretend training step nudges the learnable parameter after every batch.
Without --resume it starts fresh; with it, it restores the latest checkpoint in CKPT.
Every --save-every steps it saves. It stops after K batches (then saves) or at the end,
and writes the batches it delivered to OUT (.npz). --log appends one line per batch
(JSON: step and record indices), flushed, for the SIGKILL tests.
"""

import argparse
import json
import os
import sys
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datarax import Pipeline  # noqa: E402
from datarax.checkpoint import Checkpointer  # noqa: E402
from datarax.core.operator import OperatorConfig, OperatorModule  # noqa: E402
from datarax.sources import ArrayRecordSource  # noqa: E402
from sample_data import IMAGE_LAYOUT  # noqa: E402
from sample_operators import Jitter  # noqa: E402


class Gain(OperatorModule):
    def __init__(self):
        super().__init__(OperatorConfig(stats_fields=("label",)))
        self.gain = nnx.Param(jnp.asarray(1.0))

    def apply(self, data, state, metadata, random_params=None, stats=None):
        return {**data, "image": data["image"] * self.gain}, state, metadata


def build(args):
    source = ArrayRecordSource(args.data, decode_batch=IMAGE_LAYOUT)
    gain = Gain()
    pipeline = Pipeline(source, [Jitter(nnx.Rngs(augment=5)), gain], batch_size=args.batch_size,
                        shuffle=True, seed=args.seed, num_epochs=args.epochs,
                        worker_count=args.workers, record_ids=True)
    return pipeline, gain


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("ckpt")
    parser.add_argument("out")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--stop-after", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--save-every", type=int, default=0)
    parser.add_argument("--log", default=None)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    pipeline, gain = build(args)
    checkpointer = Checkpointer(args.ckpt, max_to_keep=2)
    delivered = []
    log = open(args.log, "a") if args.log else None
    with pipeline:
        it = iter(pipeline)
        if args.resume:
            restored = checkpointer.restore(it)
            if log:
                log.write(json.dumps({"restored": restored}) + "\n")
                log.flush()
        for batch in it:
            step = it.step - 1  # the 0-based index of this batch in the stream
            delivered.append({k: np.asarray(v) for k, v in batch.items()})
            if log:
                log.write(json.dumps({"step": step, "index": delivered[-1]["_index"].tolist()}) + "\n")
                log.flush()
            gain.gain[...] = gain.gain[...] + 0.125  # the training step updates the operator
            if args.save_every and it.step % args.save_every == 0:
                checkpointer.save(it.step, it)
            if args.sleep:
                time.sleep(args.sleep)
            if args.stop_after is not None and len(delivered) == args.stop_after:
                checkpointer.save(it.step, it)
                break
    checkpointer.close()
    np.savez(args.out, **{f"{i}/{k}": v for i, b in enumerate(delivered) for k, v in b.items()},
             gain=np.asarray(gain.gain[...]))


if __name__ == "__main__":
    main()
