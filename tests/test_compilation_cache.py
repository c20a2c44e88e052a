"""JAX's persistent compilation cache: on at import in a chosen folder, or off."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp
    import datarax
    from datarax.compilation_cache import compilation_cache_dir
    print("DIR", compilation_cache_dir())
    jax.jit(lambda x: jnp.sin(x) * 3 + 1)(jnp.arange(7.0)).block_until_ready()
""")


def run(env_value, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["DATARAX_COMPILATION_CACHE"] = env_value
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split("DIR ", 1)[1].split()[0]


def test_a_folder_in_the_environment_receives_the_compiled_programs(tmp_path):
    folder = tmp_path / "cache"
    assert run(str(folder), tmp_path) == str(folder)
    assert any(folder.iterdir())  # the jitted function was written to the cache


def test_zero_turns_the_cache_off(tmp_path):
    assert run("0", tmp_path) == "None"
