"""Peer data loaders behind one small interface, so benchmarks compare like with like.

Every adapter module has:
  NAME: str                 the row label in tables and charts;
  REQUIRES: tuple[str]      the modules it imports (the runner imports them untimed);
  STREAMING: bool           False when it holds the whole dataset in memory;
  DESCRIPTION: str          one line: what exactly it runs;
  available() -> str | None None when it can run here, else why not (a missing peer);
  build(scenario, worker_count, seed=0) -> Loader
where a Loader is an iterable over ONE epoch of batches, each a dict of `jax.Array`
on the default device, with `close()`, and optionally `stats() -> dict` (e.g. how many
programs it compiled). The work per record (decode, augment) comes from the scenario
(`benchmarks.scenarios`); the adapter supplies only the loading machinery.

    for name in adapters.NAMES:
        adapter = adapters.load(name)
        if adapter.available() is None:
            with contextlib.closing(adapter.build(scenario, worker_count=0)) as loader:
                for batch in loader: ...
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator

# Registry: row name -> module. Peers are imported only when asked for.
_MODULES = {
    "numpy_bound": "adapters.numpy_bound",
    "datarax": "adapters.datarax_loader",
    "grain_default": "adapters.grain_default",
    "grain_tuned": "adapters.grain_tuned",
    "torch": "adapters.torch_loader",
    "tf_data": "adapters.tf_data",
}
NAMES = tuple(_MODULES)


def load(name: str) -> ModuleType:
    """The adapter module registered as `name` (one of `NAMES`)."""
    if name not in _MODULES:
        raise ValueError(f"unknown loader {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(_MODULES[name])


def missing_modules(*modules: str) -> str | None:
    """None if every module imports here, else a message naming the missing ones."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return (f"{', '.join(missing)} not installed (pip install -e '.[bench]' to "
                f"compare against it)")
    return None


def parse_absl_flags() -> None:
    """Grain's and ArrayRecord's readers read absl flags; a plain script never parsed them."""
    from absl import flags  # pylint: disable=import-outside-toplevel
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


class Loader:
    """One epoch of device batches from a host iterator; `close()` runs `cleanup`.

    Args:
      host_batches: iterable of dicts of NumPy (or array-like) host batches.
      to_host: optional per-batch conversion (e.g. torch tensors -> NumPy) first.
      cleanup: called once by `close()` (stop workers, threads).
    """

    def __init__(self, host_batches: Iterable[dict[str, Any]], *,
                 to_host: Callable[[dict], dict] | None = None,
                 cleanup: Callable[[], None] | None = None,
                 stats: Callable[[], dict] | None = None):
        self._host = host_batches
        self._to_host = to_host
        self._cleanup = cleanup
        self._stats = stats

    def __iter__(self) -> Iterator[dict]:
        import jax  # pylint: disable=import-outside-toplevel
        for batch in self._host:
            if self._to_host is not None:
                batch = self._to_host(batch)
            yield jax.device_put(batch)

    def stats(self) -> dict:
        return {} if self._stats is None else self._stats()

    def close(self) -> None:
        if self._cleanup is not None:
            cleanup, self._cleanup = self._cleanup, None
            cleanup()
