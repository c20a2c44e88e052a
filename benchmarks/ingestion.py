"""Ingestion speed: datarax vs Grain alone, same data, decode, batch and worker count.

    python -m benchmarks.ingestion [--records-tfds 4000] [--records-raw 20000]

Two datasets, built here in a temporary directory (no network):
  - tfds: a TFDS dataset prepared in ArrayRecord (32x32x3 PNG image, label, text),
    decoded by TFDS's NumPy path (Pillow);
  - raw: one ArrayRecord file of fixed-layout records (32x32x3 uint8 image, int32
    label).
For each worker count in 0, 1, 2, records/s of:
  - grain: `grain.DataLoader` (tfds: `builder.as_data_source`; raw: a per-record
    decode Map), then `grain.transforms.Batch`;
  - datarax_loader: `datarax.DataLoader` with the same arguments (default,
    worker-count-invariant stream; no stages, so it yields NumPy as Grain does);
  - datarax_pipeline: `datarax.Pipeline` (TFDSSource / ArrayRecordSource with a
    batch decoder), batches put on the default JAX device.
Throughput is steady state: records after the first 2*workers+2 batches over the
time after them (worker start-up excluded); the whole-pass rate and the time to the
first batch are reported beside it. Ratios are datarax / grain
in this one run. Writes benchmarks/results/ingestion.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import grain
import numpy as np

from datarax import Pipeline
from datarax.loader import DataLoader
from datarax.pipeline.grain_runtime import ensure_absl_flags_parsed
from datarax.sources import ArrayRecordSource, FixedLayout, TFDSSource

BATCH = 64
SEED = 0
LAYOUT = FixedLayout({"image": ((32, 32, 3), "uint8"), "label": ((), "int32")})
RESULTS = os.path.join(os.path.dirname(__file__), "results", "ingestion.json")


class DecodeFixed(grain.transforms.Map):
    """One raw record -> {'image', 'label'} (the per-record decode Grain users write)."""

    def map(self, record):
        return {k: v[0] for k, v in LAYOUT([record]).items()}


def image_of(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def build_tfds(data_dir: str, n: int) -> str:
    import PIL.Image
    import tensorflow_datasets as tfds

    class DataraxBenchImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(32, 32, 3)),
                "label": tfds.features.ClassLabel(num_classes=10),
                "text": tfds.features.Text(),
            }))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(n)}

        def _generate_examples(self, count):
            for i in range(count):
                yield i, {"image": PIL.Image.fromarray(image_of(i)), "label": i % 10,
                          "text": f"record {i}"}

    # A single-part module name keeps TFDS from needing importlib_resources.
    DataraxBenchImages.__module__ = "datarax_bench_images"
    builder = DataraxBenchImages(data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
    return str(builder.data_dir)


def build_raw(path: str, n: int) -> str:
    from array_record.python.array_record_module import ArrayRecordWriter

    writer = ArrayRecordWriter(path, "group_size:1")
    for i in range(n):
        writer.write(LAYOUT.encode({"image": image_of(i % 1000), "label": np.int32(i % 10)}))
    writer.close()
    return path


def measure(make_iterator, warmup_batches: int) -> dict:
    """Steady-state records/s of one pass (after `warmup_batches`, so every worker
    has started), the whole pass's records/s, and the time to the first batch."""
    start = time.perf_counter()
    iterator = make_iterator()
    total, steady, seen, first_at, steady_at = 0, 0, 0, None, None
    try:
        for batch in iterator:
            size = len(batch["label"])
            seen += 1
            total += size
            if first_at is None:
                np.asarray(batch["label"])
                first_at = time.perf_counter()
            if seen == warmup_batches:
                np.asarray(batch["label"])
                steady_at = time.perf_counter()
            elif seen > warmup_batches:
                steady += size
        np.asarray(batch["label"])  # wait for the last device transfer
        end = time.perf_counter()
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    return {"records_per_s": steady / (end - steady_at),
            "records_per_s_with_startup": total / (end - start),
            "first_batch_s": first_at - start}


def sampler(n: int):
    return grain.samplers.IndexSampler(n, shuffle=True, seed=SEED, num_epochs=1,
                                       shard_options=grain.sharding.NoSharding())


def runs_for(dataset: str, workers: int, files: dict) -> dict:
    if dataset == "tfds":
        import tensorflow_datasets as tfds

        def grain_args():
            source = tfds.builder_from_directory(files["tfds"]).as_data_source(split="train")
            return dict(data_source=source, sampler=sampler(len(source)),
                        operations=[grain.transforms.Batch(BATCH)])

        def pipeline_source():
            return TFDSSource(os.path.basename(os.path.dirname(files["tfds"])),
                              split="train", data_dir=os.path.dirname(os.path.dirname(files["tfds"])),
                              fields=("image", "label"))
    else:
        def grain_args():
            source = grain.sources.ArrayRecordDataSource([files["raw"]])
            return dict(data_source=source, sampler=sampler(len(source)),
                        operations=[DecodeFixed(), grain.transforms.Batch(BATCH)])

        def pipeline_source():
            return ArrayRecordSource(files["raw"], decode_batch=LAYOUT)

    def pipeline_iter():
        return iter(Pipeline(pipeline_source(), batch_size=BATCH, shuffle=True, seed=SEED,
                             worker_count=workers))

    return {
        "grain": lambda: iter(grain.DataLoader(**grain_args(), worker_count=workers)),
        "datarax_loader": lambda: iter(DataLoader(**grain_args(), worker_count=workers)),
        "datarax_pipeline": pipeline_iter,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records-tfds", type=int, default=4000)
    parser.add_argument("--records-raw", type=int, default=20000)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    ensure_absl_flags_parsed()
    results = {"batch_size": BATCH, "cpu_count": os.cpu_count(),
               "machine": platform.platform(), "records": {}, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"tfds": build_tfds(os.path.join(tmp, "tfds"), args.records_tfds),
                 "raw": build_raw(os.path.join(tmp, "raw.array_record"), args.records_raw)}
        results["records"] = {"tfds": args.records_tfds, "raw": args.records_raw}
        for dataset in ("tfds", "raw"):
            for workers in args.workers:
                row = {"dataset": dataset, "worker_count": workers}
                for name, make in runs_for(dataset, workers, files).items():
                    row[name] = measure(make, warmup_batches=2 * max(workers, 1) + 2)
                grain_rate = row["grain"]["records_per_s"]
                for name in ("datarax_loader", "datarax_pipeline"):
                    row[f"{name}_vs_grain"] = row[name]["records_per_s"] / grain_rate
                results["runs"].append(row)
                print(f"{dataset:5s} workers={workers}: grain {grain_rate:9.0f} rec/s | "
                      f"datarax.DataLoader {row['datarax_loader']['records_per_s']:9.0f} "
                      f"({row['datarax_loader_vs_grain']:.2f}x) | datarax.Pipeline "
                      f"{row['datarax_pipeline']['records_per_s']:9.0f} "
                      f"({row['datarax_pipeline_vs_grain']:.2f}x)", flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
