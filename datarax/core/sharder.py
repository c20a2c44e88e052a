"""Sharders: split work across processes and devices (tier 2B)."""

from __future__ import annotations

from datarax.core.structural import StructuralModule


class SharderModule(StructuralModule):
    """Splits batches (or the stream) across devices or processes."""
