"""The examples run and show what they claim: parameters move, losses fall."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_example(name):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_learned_augmentation_moves_the_parameter_and_lowers_the_loss():
    out = run_example("learned_augmentation.py")
    m = re.search(r"loss ([0-9.]+) -> ([0-9.]+); Normalize mean ([-0-9.]+) -> ([-0-9.]+), "
                  r"std ([0-9.]+) -> ([0-9.]+)", out)
    first_loss, last_loss, mean0, mean1, std0, std1 = map(float, m.groups())
    assert last_loss < 0.5 * first_loss
    assert abs(mean1 - mean0) > 0.05 and abs(std1 - std0) > 0.05


def test_two_views_differ_and_the_contrastive_loss_falls():
    out = run_example("two_views.py")
    assert "view1 = Sequential(source)" in out and "view2 = Sequential(source)" in out
    difference = float(re.search(r"mean \|view1 - view2\| on the first batch: ([0-9.]+)", out).group(1))
    assert difference > 0.05
    first, last = map(float, re.search(r"loss fell from ([0-9.]+) to ([0-9.]+)", out).groups())
    assert last < first - 0.3
