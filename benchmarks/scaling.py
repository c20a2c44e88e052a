"""Scaling: throughput over 1, 2 and 4 simulated devices and 1 and 2 local processes,
and the cost of forming a global array against a plain `jax.device_put`.

    python -m benchmarks.scaling [--records 4096] [--batch 128] [--repeat 3]

Each configuration runs in a fresh process (the device count is fixed when JAX starts;
processes join `jax.distributed` on localhost). The pipeline is the same everywhere:
records of a 32x32x3 uint8 image and a label in memory, a global batch of `--batch`
records, shuffled, two element-wise device stages (a learnable scale and per-record
noise), no Grain workers (so the figures compare the transfer and device side, not
decoding). Clock: `--repeat` timed passes of 2 epochs each after one warm-up epoch
(compilation); each batch is waited for on the device. Records/s counts GLOBAL records.

On one CPU box "devices" share the same cores and "hosts" share the same memory, so
more of them cannot be faster; the figures show what the sharding machinery costs.
Results: benchmarks/results/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- what every child runs -------------------------------------------------------------

def _pipeline(records: int, batch: int, sharding, shard_by_process=True):
    import flax.nnx as nnx
    import jax
    import jax.numpy as jnp
    import numpy as np

    from datarax import OperatorConfig, OperatorModule, Pipeline
    from datarax.sources import MemorySource

    class Scale(OperatorModule):
        def __init__(self):
            super().__init__(OperatorConfig())
            self.scale = nnx.Param(jnp.asarray(1 / 255, jnp.float32))

        def apply(self, data, state, metadata, random_params=None, stats=None):
            return dict(data, image=data["image"].astype(jnp.float32) * self.scale[...]), state, metadata

    class Jitter(OperatorModule):
        def __init__(self):
            super().__init__(OperatorConfig(stochastic=True, stream_name="augment"),
                             rngs=nnx.Rngs(augment=0))

        def apply(self, data, state, metadata, random_params=None, stats=None):
            noise = 0.01 * jax.random.normal(random_params, data["image"].shape)
            return dict(data, image=data["image"] + noise), state, metadata

    rng = np.random.default_rng(0)
    source = MemorySource({"image": rng.integers(0, 256, (records, 32, 32, 3), np.uint8),
                           "label": np.arange(records, dtype=np.int32)})
    return Pipeline(source, [Scale(), Jitter()], batch_size=batch, shuffle=True, seed=0,
                    num_epochs=None, drop_remainder=True, sharding=sharding,
                    shard_by_process=shard_by_process)


def _time_pipelines(pipelines: dict, steps_per_pass: int, repeat: int) -> dict:
    """Seconds per timed pass of each pipeline, after one warm-up epoch each; the
    pipelines' passes are interleaved so that drift on the machine hits them alike."""
    import jax

    iterators = {name: iter(p) for name, p in pipelines.items()}
    for iterator in iterators.values():
        for _ in range(steps_per_pass // 2):
            jax.block_until_ready(next(iterator))
    times = {name: [] for name in pipelines}
    for _ in range(repeat):
        for name, iterator in iterators.items():
            start = time.perf_counter()
            for _ in range(steps_per_pass):
                jax.block_until_ready(next(iterator))
            times[name].append(time.perf_counter() - start)
    for iterator in iterators.values():
        iterator.close()
    return times


def _time_transfer(put, host: dict, repeat: int = 200) -> float:
    """Median microseconds of `put(host)` waited for on the device."""
    import jax

    for _ in range(10):
        jax.block_until_ready(put(host))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(put(host))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def child_devices(args) -> dict:
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    from datarax.sharding import DataParallelSharder

    n = jax.device_count()
    steps = 2 * (args.records // args.batch)
    mesh = jax.make_mesh((n,), ("data",))
    sharder = DataParallelSharder(mesh, "data")
    pipelines = {"sharded_s": _pipeline(args.records, args.batch, sharder)}
    if n == 1:
        pipelines["plain_s"] = _pipeline(args.records, args.batch, None)
    out = {"devices": n, **_time_pipelines(pipelines, steps, args.repeat)}
    rng = np.random.default_rng(0)
    host = {"image": rng.integers(0, 256, (args.batch, 32, 32, 3), np.uint8),
            "label": np.arange(args.batch, dtype=np.int32)}
    shardings = {k: NamedSharding(mesh, PartitionSpec("data")) for k in host}
    out["transfer_us"] = {
        "device_put_one_device": _time_transfer(jax.device_put, host),
        "device_put_named_sharding": _time_transfer(
            lambda h: jax.device_put(h, shardings), host),
        "make_array_from_process_local_data": _time_transfer(sharder, host),
    }
    return out


def child_process(args) -> dict:
    import jax

    jax.distributed.initialize(coordinator_address=f"localhost:{args.port}",
                               num_processes=args.processes, process_id=args.process_id)
    from datarax.sharding import DataParallelSharder, ProcessSharder

    sharder = DataParallelSharder(jax.make_mesh((jax.device_count(),), ("data",)), "data")
    steps = 2 * (args.records // args.batch)
    pipeline = _pipeline(args.records, args.batch, sharder,
                         shard_by_process=ProcessSharder(num_processes=args.processes))
    times = _time_pipelines({"run": pipeline}, steps, args.repeat)["run"]
    jax.distributed.shutdown()
    return {"process": args.process_id, "seconds": times}


# ---- the parent: one child per configuration --------------------------------------------

def _run_children(args, extra: list[list[str]], env: dict, timeout: float = 600) -> list[dict]:
    base = [sys.executable, "-m", "benchmarks.scaling", "--records", str(args.records),
            "--batch", str(args.batch), "--repeat", str(args.repeat)]
    env = dict(os.environ, JAX_PLATFORMS="cpu", **env)
    procs = [subprocess.Popen(base + e, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for e in extra]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode:
            raise RuntimeError(f"benchmark child failed (rc={proc.returncode}):\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["devices", "process"])
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.child == "devices":
        print(json.dumps(child_devices(args)))
        return
    if args.child == "process":
        print(json.dumps(child_process(args)))
        return

    records_per_pass = 2 * (args.records // args.batch) * args.batch
    rate = lambda seconds: records_per_pass / statistics.median(seconds)  # noqa: E731
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "workload": {"records": args.records, "global_batch": args.batch,
                           "image": [32, 32, 3], "stages": ["scale", "per-record noise"],
                           "timed_passes": args.repeat, "epochs_per_pass": 2},
              "devices": {}, "processes": {}}
    for n in (1, 2, 4):
        flags = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        (child,) = _run_children(args, [["--child", "devices"]], flags)
        entry = {"records_per_s": rate(child["sharded_s"]), "transfer_us": child["transfer_us"]}
        if "plain_s" in child:
            entry["records_per_s_plain_device_put"] = rate(child["plain_s"])
        report["devices"][str(n)] = entry
        print(f"{n} device(s): {entry['records_per_s']:,.0f} records/s", flush=True)
    for n in (1, 2):
        port = _free_port()
        children = _run_children(args, [
            ["--child", "process", "--processes", str(n), "--process-id", str(i),
             "--port", str(port)] for i in range(n)], {"XLA_FLAGS": ""})
        # A step is done when the slowest process is done with it.
        seconds = [max(c["seconds"][r] for c in children) for r in range(args.repeat)]
        report["processes"][str(n)] = {"records_per_s": rate(seconds)}
        print(f"{n} process(es): {report['processes'][str(n)]['records_per_s']:,.0f} records/s",
              flush=True)

    one = report["devices"]["1"]
    report["ratios"] = {
        "devices_2_over_1": report["devices"]["2"]["records_per_s"] / one["records_per_s"],
        "devices_4_over_1": report["devices"]["4"]["records_per_s"] / one["records_per_s"],
        "processes_2_over_1": (report["processes"]["2"]["records_per_s"]
                               / report["processes"]["1"]["records_per_s"]),
        "global_array_pipeline_over_plain_pipeline_1_device": (
            one["records_per_s"] / one["records_per_s_plain_device_put"]),
        "global_array_put_over_device_put": {
            n: d["transfer_us"]["make_array_from_process_local_data"]
            / d["transfer_us"]["device_put_one_device"] for n, d in report["devices"].items()},
        "global_array_put_over_sharded_device_put": {
            n: d["transfer_us"]["make_array_from_process_local_data"]
            / d["transfer_us"]["device_put_named_sharding"]
            for n, d in report["devices"].items()},
    }
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "scaling.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report["ratios"], indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
