"""Global batches over 4 and 8 simulated CPU devices, 1-D and 2-D meshes.

Each device count runs `run_devices.py` once in its own process (the device count is
fixed when JAX initialises); the tests read what it wrote.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

DEVICE_COUNTS = [4, 8]
LAYOUTS = ["1d", "2d_batch_over_both", "2d_image_rows_over_model"]


@pytest.fixture(scope="module", params=DEVICE_COUNTS, ids=lambda n: f"{n}dev")
def run(request, scripts, tmp_path_factory):
    n = request.param
    out = tmp_path_factory.mktemp(f"devices{n}") / "result.npz"
    proc = scripts.start("run_devices.py", out,
                         XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    scripts.finish([proc], timeout=240)
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files if k != "report"}
        return n, json.loads(str(z["report"])), arrays


def test_the_script_saw_the_simulated_devices(run):
    n, report, _ = run
    assert report["device_count"] == n


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sharded_values_equal_the_single_device_pipelines(run, layout):
    _, report, arrays = run
    assert report["layouts"][layout]["steps"] == report["reference_steps"]
    for field in ("image", "label", "_epoch", "_index"):
        np.testing.assert_array_equal(arrays[f"{layout}/{field}"], arrays[f"reference/{field}"],
                                      err_msg=f"{layout}: {field}")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_batch_has_the_global_shape_and_the_partial_one_is_marked(run, layout):
    _, report, _ = run
    seen = report["layouts"][layout]
    assert seen["shapes"] == [[16, 8, 8, 3]]
    assert seen["valid_per_step"] == [16, 16, 16, 2] * 2  # 50 records, batch 16, 2 epochs


def test_batches_arrive_split_as_the_sharder_says(run):
    _, report, _ = run
    specs = {name: report["layouts"][name]["specs"] for name in LAYOUTS}
    assert specs["1d"]["image"] == "P('data', None, None, None)"
    assert specs["2d_batch_over_both"]["label"] == "P(('data', 'fsdp'),)"
    assert specs["2d_image_rows_over_model"]["image"] == "P('data', 'model')"
    assert specs["2d_image_rows_over_model"]["_valid"] == "P('data',)"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_element_wise_stages_compile_without_gathering_the_batch(run, layout):
    _, report, _ = run
    seen = report["layouts"][layout]
    assert seen["collectives"]["all-gather"] == 0
    assert sum(seen["collectives"].values()) == 0, seen["collectives"]
    assert seen["control_all_reduce"] > 0  # the check does see a collective when one is there


def test_a_batch_the_mesh_cannot_split_is_a_clear_error(run):
    n, report, _ = run
    message = report["indivisible_error"]
    assert message is not None
    assert f"global batch of {n + 2} records" in message and f"multiple of {n}" in message
