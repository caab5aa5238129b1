"""Alerts (being written)."""
from __future__ import annotations


def build_alerts(ctx, entities):
    return {}
