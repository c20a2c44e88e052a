"""`make demo` runs examples/quickstart.py: it must train to >= 90% test accuracy."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quickstart_trains_a_classifier_to_at_least_90_percent():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.90, result.stdout
    assert re.search(r"throughput: [0-9,]+ records/s", result.stdout)
    assert "Traceback" not in result.stderr and "leaked" not in result.stderr
