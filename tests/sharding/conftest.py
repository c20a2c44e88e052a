"""Helpers for the sharding tests: the shared scenario, and launching the scripts that
need their own JAX (simulated devices, `jax.distributed` processes) as subprocesses."""

from __future__ import annotations

import importlib.util
import os
import types
import pathlib
import signal
import socket
import subprocess
import sys

import pytest

import datarax

HERE = pathlib.Path(__file__).resolve().parent
REPO = pathlib.Path(datarax.__file__).resolve().parents[1]


def load_scenario():
    """tests/sharding/scenario.py as a module (the test folder is not a package)."""
    if "sharding_scenario" not in sys.modules:
        spec = importlib.util.spec_from_file_location("sharding_scenario", HERE / "scenario.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["sharding_scenario"] = module
        spec.loader.exec_module(module)
    return sys.modules["sharding_scenario"]


@pytest.fixture(scope="session")
def scenario():
    return load_scenario()


def script_env(**extra: str) -> dict[str, str]:
    """The environment for a script: this repo first on the path, JAX on the CPU."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)  # a script states the devices it simulates
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return env


def start_script(name: str, *args, own_group: bool = False, **env) -> subprocess.Popen:
    """Starts tests/sharding/<name> with the venv's Python; output to pipes.

    own_group: start it in a process group of its own, so that `kill_group` can SIGKILL
    it together with its Grain worker processes.
    """
    return subprocess.Popen(
        [sys.executable, str(HERE / name), *map(str, args)], cwd=str(HERE),
        env=script_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=own_group)


def kill_group(proc: subprocess.Popen) -> str:
    """SIGKILLs a script started with own_group=True and its workers; returns its output."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()[0]


def finish(processes: list[subprocess.Popen], timeout: float) -> None:
    """Waits for every process; on a failure or a timeout, kills the rest and fails
    with each process's output."""
    outputs, failed = [], False
    for proc in processes:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            out, _ = proc.communicate()
            out = f"(timed out after {timeout}s)\n{out}"
            failed = True
        failed |= proc.returncode != 0
        outputs.append(out)
    if failed:
        report = "\n".join(f"--- process {i} (rc={p.returncode}) ---\n{o[-4000:]}"
                           for i, (p, o) in enumerate(zip(processes, outputs)))
        pytest.fail(f"a script process failed:\n{report}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def scripts():
    """start(name, *args, own_group=False, **env) -> Popen; finish(procs, timeout);
    kill_group(proc) -> output; free_port()."""
    return types.SimpleNamespace(start=start_script, finish=finish, free_port=free_port,
                                 kill_group=kill_group)
