"""Package names imported on first use (PEP 562), so a process imports only what it uses.

Grain's worker processes start fresh (spawn) and unpickle a source and a batch reader;
with lazy packages they import those modules, not the whole library (measured: 2.1 s ->
~1.3 s of start-up per worker on a 2-core machine).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(`__getattr__`, `__dir__`) for `package`, whose names live in `exports`.

    Args:
      package: the package's `__name__`.
      exports: {public name: module defining it}; a name equal to the module's last
        component is the module itself (a subpackage).
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name])
        value = module if module.__name__.rsplit(".", 1)[-1] == name else getattr(module, name)
        importlib.import_module(package).__dict__[name] = value  # later lookups are plain
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
