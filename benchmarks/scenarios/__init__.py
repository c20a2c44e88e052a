"""Benchmark scenarios: cv_small, cv_large, text, tabular (see each module)."""

from __future__ import annotations

import importlib

_SCENARIOS = {
    "cv_small": ("benchmarks.scenarios.cv_small", "CvSmall"),
    "cv_large": ("benchmarks.scenarios.cv_large", "CvLarge"),
    "text": ("benchmarks.scenarios.text", "Text"),
    "tabular": ("benchmarks.scenarios.tabular", "Tabular"),
}
NAMES = tuple(_SCENARIOS)


def get(name: str, **overrides):
    """The scenario `name` with its defaults, fields in `overrides` replaced."""
    if name not in _SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(NAMES)}")
    module, cls = _SCENARIOS[name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return getattr(importlib.import_module(module), cls)(**overrides)
