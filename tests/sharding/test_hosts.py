"""Several hosts: 2 and 3 real `jax.distributed` processes on localhost, each with a
Grain worker process, against the one-process run of the same pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

GLOBAL_BATCH = 12
EPOCHS = 2
WORKERS = 1  # per process; the box has 2 cores and each process runs its own


@pytest.fixture(scope="module", params=[2, 3], ids=lambda n: f"{n}hosts")
def hosts(request, scripts, tmp_path_factory):
    n = request.param
    out = tmp_path_factory.mktemp(f"hosts{n}")
    port = scripts.free_port()
    procs = [scripts.start("run_host.py", n, i, port, out, WORKERS) for i in range(n)]
    scripts.finish(procs, timeout=240)
    results = []
    for i in range(n):
        with np.load(out / f"process_{i}.npz") as z:
            results.append((json.loads(str(z["report"])),
                            {k: z[k] for k in z.files if k != "report"}))
    return n, results


@pytest.fixture(scope="module")
def reference(scenario):
    """The one-process run, with its steps' rows concatenated."""
    batches = scenario.collect(scenario.make_pipeline(batch_size=GLOBAL_BATCH))
    return batches, scenario.valid_rows(batches)


def test_each_process_knows_its_place(hosts):
    n, results = hosts
    assert [(r["index"], r["count"], r["devices"]) for r, _ in results] == [
        (i, n, n) for i in range(n)]


def test_every_record_is_read_once_per_epoch_across_processes(hosts, scenario):
    _, results = hosts
    for mode in ("local", "global"):
        for epoch in range(EPOCHS):
            indices = []
            for _, arrays in results:
                mine = arrays[f"{mode}/_epoch"] == epoch
                if mode == "global":
                    mine &= arrays["global/_valid"]
                indices.append(arrays[f"{mode}/_index"][mine])
            everything = np.concatenate(indices)
            assert sorted(everything) == list(range(scenario.NUM_RECORDS)), (mode, epoch)


def test_every_process_takes_every_step(hosts, reference):
    _, results = hosts
    steps = {(r["global_steps"], r["local_steps"]) for r, _ in results}
    assert steps == {(len(reference[0]), len(reference[0]))}


def test_assembled_global_batches_equal_the_one_process_run(hosts, reference):
    n, results = hosts
    batches, _ = reference
    for step, expected in enumerate(batches):
        rows = {}
        for _, arrays in results:
            at = arrays["global/_step"] == step
            for field in ("image", "label", "_index", "_valid", "_row"):
                rows.setdefault(field, []).append(arrays[f"global/{field}"][at])
        assembled = {k: np.concatenate(v) for k, v in rows.items()}
        np.testing.assert_array_equal(assembled["_row"], np.arange(GLOBAL_BATCH))
        valid = assembled["_valid"]
        assert valid.sum() == len(expected["_index"]), step
        for field in ("image", "label", "_index"):
            np.testing.assert_array_equal(assembled[field][valid], expected[field],
                                          err_msg=f"step {step}, {field}, {n} hosts")


def test_local_parts_concatenate_to_the_one_process_batches(hosts, reference):
    _, results = hosts
    batches, _ = reference
    for step, expected in enumerate(batches):
        parts = [arrays["local/_index"][arrays["local/_step"] == step] for _, arrays in results]
        np.testing.assert_array_equal(np.concatenate(parts), expected["_index"])


def test_element_wise_stages_compile_without_collectives_across_hosts(hosts):
    _, results = hosts
    for report, _ in results:
        assert sum(report["collectives"].values()) == 0, report["collectives"]


def test_wrong_process_counts_and_batch_sizes_are_clear_errors(hosts):
    n, results = hosts
    report = results[0][0]
    assert f"jax.distributed runs {n} processes" in report["count_mismatch_error"]
    local_error, pipeline_error = report["indivisible_errors"]
    assert f"global batch_size={GLOBAL_BATCH + 1}" in local_error
    assert f"not divisible by the {n} JAX processes" in pipeline_error
