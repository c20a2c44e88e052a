"""Resumption from real Orbax checkpoints on disk, in fresh processes."""

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

JOB = pathlib.Path(__file__).with_name("resume_job.py")


def run_job(tmp_path, data, name, *flags, timeout=180):
    out = tmp_path / f"{name}.npz"
    result = subprocess.run(
        [sys.executable, str(JOB), data, str(tmp_path / "ckpt"), str(out), *map(str, flags)],
        capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return load_batches(out)


def load_batches(path):
    archive = np.load(path)
    batches = {}
    for key in archive.files:
        if "/" in key:
            i, field = key.split("/")
            batches.setdefault(int(i), {})[field] = archive[key]
    return [batches[i] for i in sorted(batches)], float(archive["gain"])


def assert_same_batches(expected, actual):
    assert len(expected) == len(actual)
    for a, b in zip(expected, actual):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture
def data(image_records):
    return image_records[0]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """An uninterrupted run, and a run stopped (and checkpointed) mid-epoch at step 4.

    Both use 2 Grain worker processes; 100 records in batches of 16 make 7 steps an
    epoch, so the resumed part crosses into the second epoch.
    """
    from sample_data import IMAGE_LAYOUT, make_images, write_array_record

    tmp_path = tmp_path_factory.mktemp("interrupted")
    images = make_images(100)
    records = [IMAGE_LAYOUT.encode({k: v[i] for k, v in images.items()}) for i in range(100)]
    data = write_array_record(tmp_path / "images.array_record", records)
    full = run_job(tmp_path / "full", data, "full", "--workers", 2)
    first, _ = run_job(tmp_path, data, "first", "--workers", 2, "--stop-after", 4)
    return tmp_path, data, full, first


def test_mid_epoch_resume_in_a_fresh_process_is_bit_exact_across_the_epoch_boundary(interrupted):
    tmp_path, data, (full, full_gain), first = interrupted
    rest, gain = run_job(tmp_path, data, "rest", "--workers", 2, "--resume")
    assert_same_batches(full[:4], first)
    assert_same_batches(full[4:], rest)
    assert {int(b["_epoch"][0]) for b in rest} == {0, 1}
    assert gain == full_gain  # the learnable parameter resumed too


@pytest.mark.parametrize("resume_workers", [0, 1, 3])
def test_checkpoint_from_two_workers_resumes_with_another_worker_count(interrupted, resume_workers):
    tmp_path, data, (full, _), _ = interrupted
    rest, _ = run_job(tmp_path, data, f"rest{resume_workers}", "--workers", resume_workers, "--resume")
    assert_same_batches(full[4:], rest)


def test_restore_into_a_pipeline_with_another_seed_names_the_difference(tmp_path, data):
    run_job(tmp_path, data, "first", "--stop-after", 2)
    out = tmp_path / "x.npz"
    result = subprocess.run(
        [sys.executable, str(JOB), data, str(tmp_path / "ckpt"), str(out), "--resume",
         "--seed", "12", "--batch-size", "20"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "batch_size: saved 16, this pipeline 20" in result.stderr
    assert "seed: saved 11, this pipeline 12" in result.stderr


def read_log(path):
    """Entries per run: a run starts at a 'restored' line (or the top of the file)."""
    runs, current = [], {"restored": 0, "steps": {}}
    for line in pathlib.Path(path).read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by SIGKILL
        if "restored" in entry:
            runs.append(current)
            current = {"restored": entry["restored"], "steps": {}}
        else:
            current["steps"][entry["step"]] = entry["index"]
    runs.append(current)
    return runs


def test_sigkill_at_random_points_then_resume_delivers_every_record_exactly_once(tmp_path, data):
    log = tmp_path / "log.jsonl"
    flags = ["--workers", 2, "--save-every", 2, "--log", log, "--sleep", 0.1, "--epochs", 3]
    rng = random.Random(1234)
    for attempt in range(3):
        lines_before = len(log.read_text().splitlines()) if log.exists() else 0
        command = [sys.executable, str(JOB), data, str(tmp_path / "ckpt"), str(tmp_path / "o.npz"),
                   *map(str, flags)] + (["--resume"] if attempt else [])
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
        # wait until it is delivering batches, then kill it at a random moment
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not log.exists() or
                                               len(log.read_text().splitlines()) < lines_before + 3):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.8))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    run_job(tmp_path, data, "final", *flags, "--resume")  # the run that finishes

    runs = read_log(log)
    assert len(runs) == 4
    stream = {}
    for run in runs:
        # a restore rewinds to the checkpoint: what came after it before the kill is replayed
        for step in [s for s in stream if s >= run["restored"]]:
            del stream[step]
        for step, indices in run["steps"].items():
            stream[step] = indices
    steps_per_epoch = 7  # ceil(100 / 16)
    assert sorted(stream) == list(range(3 * steps_per_epoch))
    for epoch in range(3):
        records = [i for s in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch)
                   for i in stream[s]]
        assert sorted(records) == list(range(100)), f"epoch {epoch}"
    # and every run that delivered a step delivered the same records for it
    for run in runs:
        for step, indices in run["steps"].items():
            assert indices == stream[step] or step < run["restored"]
