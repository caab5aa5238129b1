"""Service-layer messages that the web layer can translate (the class lives in dsl/messages.py, so the formula
language's runtime errors can be Messages too without dsl/ importing engine/)."""

from __future__ import annotations

from dsl.messages import Message, _rebuild  # _rebuild: what a Message pickled before the move names

__all__ = ["Message", "_rebuild"]
