"""JAX's persistent compilation cache, on by default in a per-user folder.

The first compile of a pipeline's fused device function costs about a second on a small
CPU; with the cache warm, a new process loads the compiled program from disk instead.
`enable_compilation_cache()` points JAX at `$XDG_CACHE_HOME/datarax/jax` (default
`~/.cache/datarax/jax`) and caches every program, however quick to compile, since a data
pipeline's programs are small but sit on the path to the first batch.

Turn it off with the environment variable `DATARAX_COMPILATION_CACHE=0` (read when
`enable_compilation_cache()` runs, e.g. at `import datarax`), or call
`disable_compilation_cache()`. `DATARAX_COMPILATION_CACHE=/some/dir` uses that folder.
A cache folder the user already configured (`jax_compilation_cache_dir`, or the
`JAX_COMPILATION_CACHE_DIR` variable) is left alone.
"""

from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger("datarax")

ENV_VAR = "DATARAX_COMPILATION_CACHE"
_OFF = {"0", "false", "off", "no", ""}


def default_cache_dir() -> str:
    """`$XDG_CACHE_HOME/datarax/jax`, or `~/.cache/datarax/jax` without XDG_CACHE_HOME."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "datarax", "jax")


def enable_compilation_cache(path: str | os.PathLike | None = None) -> str | None:
    """Turns on JAX's persistent compilation cache; returns the folder, or None if off.

    Args:
      path: the cache folder; default: `$DATARAX_COMPILATION_CACHE` if it names a
        folder, else `default_cache_dir()`.

    Returns None without changing anything when `DATARAX_COMPILATION_CACHE` is `0`
    (or false/off/no), when the user already set a JAX cache folder, or when the folder
    cannot be created (a read-only home, say: compiling without the cache still works).

    Example:
      >>> import datarax.compilation_cache as cc
      >>> cc.enable_compilation_cache('/tmp/my-jax-cache')
      '/tmp/my-jax-cache'
    """
    setting = os.environ.get(ENV_VAR)
    if path is None and setting is not None and setting.strip().lower() in _OFF:
        return None
    if path is None and (jax.config.jax_compilation_cache_dir
                         or os.environ.get("JAX_COMPILATION_CACHE_DIR")):
        return None  # the user's own choice wins
    if path is None:
        path = setting if setting and setting.strip().lower() not in {"1", "true", "on", "yes"} \
            else default_cache_dir()
    path = os.fspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        log.warning("datarax: compilation cache off, cannot create %r: %s", path, error)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    # A pipeline's programs compile in well under JAX's default 1 s threshold, yet that
    # compile is most of the time to the first batch: cache them all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _reset_jax_cache()
    return path


def disable_compilation_cache() -> None:
    """Turns JAX's persistent compilation cache off for the rest of this process."""
    jax.config.update("jax_compilation_cache_dir", None)
    _reset_jax_cache()


def _reset_jax_cache() -> None:
    # JAX sets its cache up once, at the first compile; a change of folder after that
    # only takes effect once the cache object is reset.
    try:
        from jax._src import compilation_cache as jax_cache  # pylint: disable=import-outside-toplevel
        jax_cache.reset_cache()
    except (ImportError, AttributeError):
        pass


def compilation_cache_dir() -> str | None:
    """The folder JAX's persistent compilation cache uses now (None: off)."""
    return jax.config.jax_compilation_cache_dir or None
