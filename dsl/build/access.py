"""Roles (being written)."""
from __future__ import annotations


def build_roles(ctx, entities):
    return {}
