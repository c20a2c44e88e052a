"""A plain script with worker processes: no absl error, clean exit, quiet stderr."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np
    from datarax import Pipeline
    from datarax.sources import MemorySource

    if __name__ == "__main__":
        source = MemorySource({"x": np.arange(4000, dtype=np.float32).reshape(1000, 4)})
        pipeline = Pipeline(source, batch_size=50, shuffle=True, worker_count=2, num_epochs=None)
        it = iter(pipeline)
        total = sum(float(next(it)["x"].sum()) for _ in range(30))
        print("sum", total)
        # left open on purpose: interpreter exit must shut the workers down quietly
""")


def test_plain_script_with_workers_runs_and_exits_cleanly(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sum ")
    assert float(result.stdout.split()[1]) > 0
    for bad in ("UnparsedFlagAccessError", "Traceback", "leaked shared_memory", "resource_tracker"):
        assert bad not in result.stderr, result.stderr
