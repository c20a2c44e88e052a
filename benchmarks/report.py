"""What every benchmark shares: the machine it ran on, timing, and writing results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Any, Callable

import jax

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def machine() -> dict:
    """The machine a figure comes from: CPU model, cores, memory, load, JAX backend."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import psutil  # pylint: disable=import-outside-toplevel
        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        memory_gb = None
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "memory_gb": memory_gb,
            "platform": platform.platform(), "python": platform.python_version(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "load_average": os.getloadavg()}


def median_seconds(fn: Callable[..., Any], *args, repeats: int) -> float:
    """Median wall time of `fn(*args)` (results waited for), after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_results(name: str, results: dict) -> str:
    """Writes `results` to benchmarks/results/<name>.json; returns the path."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")
    return path
