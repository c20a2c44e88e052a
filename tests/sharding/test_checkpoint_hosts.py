"""Checkpoints of a multi-host run: 2 real `jax.distributed` processes on localhost, each
with a Grain worker process, save mid-epoch and are killed; new processes restore and
continue; a run with another process count (2 -> 1, 1 -> 2) continues the same global
stream. The uninterrupted one-process run in this process is the reference."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

GLOBAL_BATCH = 12
NUM_PROCESSES = 2
WORKERS = 1      # per process; the box has 2 cores and each process runs its own
STOP_AT = 3      # the 2-process run saves here, mid-epoch 0 (5 steps an epoch)
SINGLE_STOP = 7  # the 1-process run saves here, mid-epoch 1
NUDGE = 0.25     # run_checkpoint_host.py's pretend training step: scale += NUDGE
FIELDS = ("image", "label", "_index", "_epoch")


def train_step(pipeline) -> None:
    scale = pipeline.stages[0].scale
    scale[...] = scale[...] + NUDGE


def run(pipeline, iterator) -> list[dict[str, np.ndarray]]:
    batches = []
    for batch in iterator:
        batches.append({k: np.asarray(v) for k, v in batch.items()})
        train_step(pipeline)
    return batches


def load(path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path) as z:
        return json.loads(str(z["report"])), {k: z[k] for k in z.files if k != "report"}


@pytest.fixture(scope="module")
def reference(scenario, tmp_path_factory):
    """The uninterrupted one-process run (with the training steps), which also saves a
    one-process checkpoint at SINGLE_STOP."""
    from datarax.checkpoint import Checkpointer
    directory = tmp_path_factory.mktemp("single") / "ckpt"
    pipeline = scenario.make_pipeline(batch_size=GLOBAL_BATCH)
    with pipeline, Checkpointer(directory, async_save=False) as checkpointer:
        iterator = iter(pipeline)
        batches = []
        for batch in iterator:
            batches.append({k: np.asarray(v) for k, v in batch.items()})
            train_step(pipeline)
            if len(batches) == SINGLE_STOP:
                checkpointer.save(SINGLE_STOP, iterator)
    return batches, directory


@pytest.fixture(scope="module")
def saved(scripts, tmp_path_factory):
    """2 processes save at STOP_AT (Orbax Composite form), then all are SIGKILLed."""
    root = tmp_path_factory.mktemp("hosts_ckpt")
    out, ckpt = root / "out", root / "ckpt"
    out.mkdir()
    port = scripts.free_port()
    procs = [scripts.start("run_checkpoint_host.py", "save", NUM_PROCESSES, i, port, out,
                           WORKERS, ckpt, STOP_AT, own_group=True)
             for i in range(NUM_PROCESSES)]
    done = [out / f"save_{i}.npz" for i in range(NUM_PROCESSES)]
    deadline = time.monotonic() + 180
    try:
        while not all(p.exists() for p in done):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
    finally:  # kill every process (and its Grain worker) mid-run, saved or not
        outputs = [scripts.kill_group(proc) for proc in procs]
    if not all(p.exists() for p in done):
        pytest.fail("the saving processes did not finish their save:\n" + "\n".join(
            f"--- process {i} ---\n{o[-4000:]}" for i, o in enumerate(outputs)))
    return ckpt, [load(p) for p in done]


@pytest.fixture(scope="module")
def resumed_dir(tmp_path_factory):
    """Where `resumed` writes (its processes' results, a 'diverged' checkpoint)."""
    return tmp_path_factory.mktemp("hosts_resume")


@pytest.fixture(scope="module")
def resumed(saved, reference, scripts, resumed_dir):
    """2 NEW processes restore the 2-process checkpoint (Checkpointer), run to the end,
    then restore the 1-process checkpoint (Composite form) and run to the end."""
    ckpt, _ = saved
    out = resumed_dir
    port = scripts.free_port()
    procs = [scripts.start("run_checkpoint_host.py", "resume", NUM_PROCESSES, i, port, out,
                           WORKERS, ckpt, reference[1])
             for i in range(NUM_PROCESSES)]
    scripts.finish(procs, timeout=240)
    return [load(out / f"resume_{i}.npz") for i in range(NUM_PROCESSES)]


def assemble(results: list[dict[str, np.ndarray]], prefix: str, step: int) -> dict:
    """The valid rows of one global batch, from every process's own rows."""
    rows = {}
    for arrays in results:
        at = arrays[f"{prefix}_step"] == step
        for field in FIELDS + ("_valid", "_row"):
            rows.setdefault(field, []).append(arrays[f"{prefix}{field}"][at])
    batch = {k: np.concatenate(v) for k, v in rows.items()}
    order = np.argsort(batch["_row"])
    batch = {k: v[order] for k, v in batch.items()}
    np.testing.assert_array_equal(batch["_row"], np.arange(GLOBAL_BATCH))
    return {k: batch[k][batch["_valid"]] for k in FIELDS}


def assert_continues(results, prefix: str, expected: list[dict], what: str) -> None:
    steps = {int(a[f"{prefix}_step"].max()) + 1 for a in results}
    assert steps == {len(expected)}, (what, steps, len(expected))
    for step, batch in enumerate(expected):
        got = assemble(results, prefix, step)
        for field in FIELDS:
            np.testing.assert_array_equal(got[field], batch[field],
                                          err_msg=f"{what}: step {step}, {field}")


# ---- the same process count ----------------------------------------------------------

def test_every_process_saves_its_part_in_the_same_orbax_step(saved):
    ckpt, results = saved
    assert sorted(p.name for p in ckpt.iterdir() if not p.name.startswith(".")) == [str(STOP_AT)]
    files = sorted(p.name for p in (ckpt / str(STOP_AT) / "data").glob("process_*.json"))
    assert files == ["process_0-of-2.json", "process_1-of-2.json"]
    for name in files:
        record = json.loads((ckpt / str(STOP_AT) / "data" / name).read_text())
        assert record["iterator"]["step"] == STOP_AT
        assert record["layout"] == {}  # every module leaf agreed: written once, replicated
    assert [r["step"] for r, _ in results] == [STOP_AT] * NUM_PROCESSES


def test_batches_before_the_save_are_the_one_process_stream(saved, reference):
    _, results = saved
    assert_continues([a for _, a in results], "", reference[0][:STOP_AT], "before the save")


def test_new_processes_continue_a_killed_run_identically(resumed, reference):
    expected = reference[0][STOP_AT:]
    for report, _ in resumed:
        assert report["restored_step"] == report["iterator_step"] == STOP_AT
        assert report["restored_scale"] == 0.5 + STOP_AT * NUDGE
    assert_continues([a for _, a in resumed], "multi/", expected, "2 -> 2")


# ---- another process count (elastic hosts) -------------------------------------------

def test_two_processes_continue_a_one_process_checkpoint(resumed, reference):
    expected = reference[0][SINGLE_STOP:]
    for report, _ in resumed:
        assert report["single_step"] == SINGLE_STOP
        assert report["single_scale"] == 0.5 + SINGLE_STOP * NUDGE
    assert_continues([a for _, a in resumed], "single/", expected, "1 -> 2")


def test_one_process_continues_a_two_process_checkpoint(saved, reference, scenario):
    from datarax.checkpoint import Checkpointer
    ckpt, _ = saved
    pipeline = scenario.make_pipeline(batch_size=GLOBAL_BATCH)
    with pipeline, Checkpointer(ckpt) as checkpointer:
        iterator = iter(pipeline)
        assert checkpointer.restore(iterator) == STOP_AT
        assert float(pipeline.stages[0].scale[...]) == 0.5 + STOP_AT * NUDGE
        batches = run(pipeline, iterator)
    expected = reference[0][STOP_AT:]
    assert len(batches) == len(expected)
    for step, (got, want) in enumerate(zip(batches, expected)):
        for field in FIELDS:
            np.testing.assert_array_equal(got[field], want[field], err_msg=f"step {step}")


def copy_of(saved, tmp_path):
    ckpt, _ = saved
    copy = tmp_path / "ckpt"
    shutil.copytree(ckpt, copy)
    return copy, copy / str(STOP_AT) / "data"


def edit(path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def restore_error(scenario, directory) -> str:
    from datarax.checkpoint import Checkpointer
    pipeline = scenario.make_pipeline(batch_size=GLOBAL_BATCH)
    with pipeline, Checkpointer(directory) as checkpointer:
        with pytest.raises(ValueError) as error:
            checkpointer.restore(iter(pipeline))
    return str(error.value)


def test_processes_saved_at_different_steps_cannot_be_merged(saved, scenario, tmp_path):
    copy, data = copy_of(saved, tmp_path)
    edit(data / "process_1-of-2.json", lambda r: r["iterator"].update(step=STOP_AT + 1))
    message = restore_error(scenario, copy)
    assert "different stream positions" in message and f"[{STOP_AT}, {STOP_AT + 1}]" in message
    assert "Restore it with 2 processes" in message


def test_checkpointer_saves_a_model_beside_the_iterator_from_every_process(resumed):
    assert [report["model_restored"] for report, _ in resumed] == [True] * NUM_PROCESSES


def test_state_that_differs_between_processes_is_kept_per_process(resumed):
    for index, (report, _) in enumerate(resumed):
        assert report["diverged_scale"] == 0.5 + index


def test_state_that_differed_between_processes_cannot_change_process_count(
        resumed, resumed_dir, scenario):
    data = resumed_dir / "diverged" / "1" / "data"
    leaf = "['nodes']['stage0']['scale']"
    for i in range(NUM_PROCESSES):
        record = json.loads((data / f"process_{i}-of-2.json").read_text())
        assert record["layout"] == {leaf: "per_process"}
    message = restore_error(scenario, resumed_dir / "diverged")
    assert leaf in message and "cannot be split exactly over 1 processes" in message


def test_a_missing_process_file_is_a_clear_error(saved, scenario, tmp_path):
    copy, data = copy_of(saved, tmp_path)
    (data / "process_1-of-2.json").unlink()
    assert "lacks ['process_1-of-2.json']" in restore_error(scenario, copy)


def test_a_global_batch_the_new_process_count_cannot_split_is_a_clear_error():
    # An elastic restore builds its pipeline for the new process count first; a global
    # batch that count cannot split exactly is refused there, before any restore.
    from datarax.pipeline.host import BatchPlan
    with pytest.raises(ValueError, match="not divisible by the 5 JAX processes"):
        BatchPlan(num_records=50, batch_size=GLOBAL_BATCH, process_index=0, process_count=5)
