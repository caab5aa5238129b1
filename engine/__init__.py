"""jxc's run-time engine. Plugin authors: `from engine import hookimpl`."""

from engine.hookspecs import hookimpl

__all__ = ["hookimpl"]
