"""Runs every loader on one scenario, interleaved, and writes a JSON file and a chart.

    python -m benchmarks.run --scenario cv_small [--workers N] [--repeat K]

Each measurement is one epoch in a FRESH process (so first-batch times are honest and
one loader's memory cannot leak into another's): imports and JAX's backend start are
done before the clock starts; the clock covers building the loader and the whole epoch,
each batch waited for on the device. Repeats are interleaved (loader order rotates each
round). JAX's persistent compilation cache is on (`datarax.compilation_cache`) in an
EMPTY folder for these cold runs; then each loader runs twice more on one fresh
folder, the second run being the warm one ("first batch, warm cache").

Reported per loader: records/s (median, min, max over the cold runs), the ratio to the
NumPy bound, time to first batch (cold, warm cache), peak resident memory of the
process tree (the loader's worker processes included; sampled every 20 ms, RSS summed,
so pages shared with forked workers count more than once), and CPU seconds (user +
system, reaped worker processes included) per epoch. Beside each first-batch time,
the CPU seconds spent up to it: a figure that other load on the machine barely moves. Results go to
benchmarks/results/<scenario>[-workersN].{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks.report import RESULTS, machine

SEED = 0


# ---- one measurement (child process) --------------------------------------------------

class TreeMemory:
    """Samples the summed RSS of this process and all its descendants on a thread."""

    def __init__(self, interval: float = 0.02):
        import psutil  # pylint: disable=import-outside-toplevel
        self._root = psutil.Process()
        self._interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> int:
        total = 0
        for proc in [self._root] + self._root.children(recursive=True):
            try:
                total += proc.memory_info().rss
            except Exception:  # pylint: disable=broad-except
                pass  # a worker that just exited
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self._interval)

    def stop(self) -> int:
        self.peak = max(self.peak, self._sample())
        self._stop.set()
        self._thread.join()
        return self.peak


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(spec: dict) -> dict:
    """One epoch of one loader; returns its figures."""
    import importlib  # pylint: disable=import-outside-toplevel

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import jax  # pylint: disable=import-outside-toplevel

    import adapters  # pylint: disable=import-outside-toplevel
    from benchmarks import scenarios  # pylint: disable=import-outside-toplevel
    from datarax import compilation_cache  # pylint: disable=import-outside-toplevel

    compilation_cache.enable_compilation_cache(spec["cache_dir"])
    jax.devices()  # backend start: every loader's training job pays it anyway
    adapter = adapters.load(spec["loader"])
    for module in adapter.REQUIRES:
        importlib.import_module(module)
    scenario = scenarios.get(spec["scenario"], num_records=spec.get("records"))
    scenario.paths()

    memory = TreeMemory()
    load = os.getloadavg()[0]
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    loader = adapter.build(scenario, spec["workers"], SEED)
    first, records, batches = None, 0, 0
    for batch in loader:
        jax.block_until_ready(batch)
        if first is None:
            first = time.perf_counter() - t0
            first_cpu = _cpu_seconds() - cpu0
        records += int(next(iter(batch.values())).shape[0])
        batches += 1
    elapsed = time.perf_counter() - t0
    extra = loader.stats() if hasattr(loader, "stats") else {}
    loader.close()
    cpu = _cpu_seconds() - cpu0
    peak = memory.stop()
    if records != scenario.num_records:
        raise RuntimeError(f"{spec['loader']} delivered {records} records, expected "
                           f"{scenario.num_records}")
    return {"seconds": elapsed, "records": records, "batches": batches,
            "records_per_s": records / elapsed, "first_batch_s": first,
            "first_batch_cpu_s": first_cpu, "load_average": load,
            "cpu_s": cpu, "peak_rss_mb": peak / 2**20, **extra}


# ---- the run (parent process) -----------------------------------------------------------

def run_child(spec: dict, timeout: float) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--child", json.dumps(spec)],
        capture_output=True, text=True, timeout=timeout, env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
    return {"error": f"exit {proc.returncode}: {tail}"}


def summarise(name: str, runs: list[dict], warm: dict | None) -> dict:
    import adapters  # pylint: disable=import-outside-toplevel
    module = adapters.load(name)
    ok = [r for r in runs if "error" not in r]
    out = {"description": module.DESCRIPTION, "streaming": module.STREAMING, "runs": runs}
    if warm is not None:
        out["warm_run"] = warm
    if not ok:
        return out
    rates = [r["records_per_s"] for r in ok]
    med = lambda key: statistics.median(r[key] for r in ok)  # noqa: E731
    out.update({
        "records_per_s": {"median": statistics.median(rates), "min": min(rates), "max": max(rates)},
        "first_batch_cold_s": med("first_batch_s"),
        "first_batch_cold_cpu_s": med("first_batch_cpu_s"),
        "first_batch_warm_cpu_s": None if not warm or "error" in warm else warm["first_batch_cpu_s"],
        "load_average": med("load_average"),
        "first_batch_warm_s": None if not warm or "error" in warm else warm["first_batch_s"],
        "records_per_s_warm": None if not warm or "error" in warm else warm["records_per_s"],
        "peak_rss_mb": med("peak_rss_mb"),
        "cpu_s": med("cpu_s"),
    })
    if "compiles" in ok[0]:
        out["compiles"] = max(r["compiles"] for r in ok)
    return out


def table(result: dict) -> str:
    loaders = result["loaders"]
    bound = loaders.get("numpy_bound", {}).get("records_per_s", {}).get("median")
    lines = ["| loader | records/s (median) | min-max | vs NumPy bound | first batch cold s "
             "(CPU s) | first batch warm s (CPU s) | peak RSS MB | CPU s/epoch | streaming |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, row in loaders.items():
        if "records_per_s" not in row:
            if row.get("skipped"):
                status = "skipped: " + row["skipped"]
            else:
                status = "FAILED: " + (row.get("runs") or [{}])[0].get("error", "?").splitlines()[-1]
            lines.append(f"| {name} | {status[:100]} | | | | | | | |")
            continue
        rate = row["records_per_s"]
        ratio = f"{rate['median'] / bound:.2f}" if bound else "-"
        warm, warm_cpu = row.get("first_batch_warm_s"), row.get("first_batch_warm_cpu_s")
        lines.append(
            f"| {name} | {rate['median']:,.0f} | {rate['min']:,.0f}-{rate['max']:,.0f} | {ratio} | "
            f"{row['first_batch_cold_s']:.2f} ({row['first_batch_cold_cpu_s']:.2f}) | "
            f"{'-' if warm is None else f'{warm:.2f} ({warm_cpu:.2f})'} | "
            f"{row['peak_rss_mb']:,.0f} | {row['cpu_s']:.1f} | "
            f"{'yes' if row['streaming'] else 'NO (whole dataset in memory)'} |")
    return "\n".join(lines)


def _load_range(result: dict) -> str:
    loads = [r["load_average"] for row in result["loaders"].values()
             for r in row.get("runs", []) if "load_average" in r]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "n/a"


def chart(result: dict, path: str) -> None:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    rows = [(n, r) for n, r in result["loaders"].items() if "records_per_s" in r]
    names = [n + ("" if r["streaming"] else "\n(not streaming)") for n, r in rows]
    med = [r["records_per_s"]["median"] for _, r in rows]
    low = [m - r["records_per_s"]["min"] for m, (_, r) in zip(med, rows)]
    high = [r["records_per_s"]["max"] - m for m, (_, r) in zip(med, rows)]
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 4.5))
    colors = ["tab:green" if n == "datarax" else "tab:gray" if n == "numpy_bound" else "tab:blue"
              for n, _ in rows]
    ax.bar(names, med, yerr=[low, high], capsize=5, color=colors)
    ax.set_ylabel("records / s (median, min-max bars)")
    ax.set_title(f"{result['scenario']} (workers={result['workers']}, {result['repeat']} runs each)"
                 f"\n{result['machine']['cpu']}, {result['machine']['logical_cores']} cores")
    for x, m in enumerate(med):
        ax.annotate(f"{m:,.0f}", (x, m), ha="center", va="bottom", fontsize=8,
                    xytext=(12, 2), textcoords="offset points")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="cv_small")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loaders", default=None, help="comma-separated subset of loaders")
    parser.add_argument("--records", type=int, default=None, help="override the dataset size")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per epoch run")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print("RESULT " + json.dumps(measure(json.loads(args.child))), flush=True)
        return 0

    import adapters  # pylint: disable=import-outside-toplevel
    from benchmarks import scenarios  # pylint: disable=import-outside-toplevel

    names = args.loaders.split(",") if args.loaders else list(adapters.NAMES)
    scenario = scenarios.get(args.scenario, num_records=args.records)
    print(f"preparing {scenario.name} ({scenario.num_records:,} records) in {scenario.folder}",
          flush=True)
    scenario.paths()
    runnable, skipped = [], {}
    for name in names:
        reason = adapters.load(name).available()
        if reason:
            print(f"  skipping {name}: {reason}", flush=True)
            skipped[name] = reason
        else:
            runnable.append(name)

    base = {"scenario": args.scenario, "records": args.records, "workers": args.workers}
    runs: dict[str, list] = {n: [] for n in runnable}
    caches = tempfile.mkdtemp(prefix="datarax-bench-cache-")
    try:
        for rep in range(args.repeat):
            order = runnable[rep % len(runnable):] + runnable[:rep % len(runnable)]
            for name in order:
                cache_dir = os.path.join(caches, f"{name}-{rep}")  # empty: a cold start
                r = run_child(dict(base, loader=name, cache_dir=cache_dir), args.timeout)
                runs[name].append(r)
                print(f"  round {rep + 1}/{args.repeat} {name:14s} " + (
                    r["error"].splitlines()[-1] if "error" in r else
                    f"{r['records_per_s']:>9,.0f} rec/s  first {r['first_batch_s']:.2f}s  "
                    f"cpu {r['cpu_s']:.1f}s  peak {r['peak_rss_mb']:,.0f} MB"), flush=True)
        warm = {}
        for name in runnable:
            # Fill a fresh cache right before the warm run, so that nothing (such as an
            # edited operator) can make the warm run miss it.
            cache_dir = os.path.join(caches, f"{name}-warm")
            run_child(dict(base, loader=name, cache_dir=cache_dir), args.timeout)
            warm[name] = run_child(dict(base, loader=name, cache_dir=cache_dir), args.timeout)
            r = warm[name]
            print(f"  warm cache   {name:14s} " + (r["error"].splitlines()[-1] if "error" in r else
                  f"{r['records_per_s']:>9,.0f} rec/s  first {r['first_batch_s']:.2f}s"), flush=True)
    finally:
        shutil.rmtree(caches, ignore_errors=True)

    result = {
        "scenario": args.scenario, "workers": args.workers, "repeat": args.repeat,
        "num_records": scenario.num_records, "batch_size": scenario.batch_size,
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:]),
        "machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "loaders": {},
    }
    for name in names:
        if name in skipped:
            result["loaders"][name] = {"skipped": skipped[name],
                                       "streaming": adapters.load(name).STREAMING}
        else:
            result["loaders"][name] = summarise(name, runs[name], warm.get(name))
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, args.scenario + (f"-workers{args.workers}" if args.workers else ""))
    with open(stem + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    text = table(result)
    with open(stem + ".md", "w", encoding="utf-8") as f:
        f.write(f"{result['command']} ({result['time']}; {result['machine']['cpu']}, "
                f"{result['machine']['logical_cores']} cores; load average during the runs "
                f"{_load_range(result)})\n\n{text}\n")
    chart(result, stem + ".png")
    print("\n" + text + f"\n\nwrote {stem}.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
