"""Demo data (being written)."""
from __future__ import annotations


def build_demo(ctx, entities):
    return {}
