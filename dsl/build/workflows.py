"""Workflows (being written)."""
from __future__ import annotations


def build_workflows(ctx, entities):
    return {}
