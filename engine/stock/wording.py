"""Messages of the stock services in the app's language: zh-CN by default, English for `locale: en...`."""

from __future__ import annotations


def say(locale: str, zh: str, en: str) -> str:
    """The message for `locale`: Chinese unless the app is in English."""
    return en if locale.startswith("en") else zh


def both(zh: str, en: str) -> str:
    """A message for callers that do not know the app's language (errors raised deep in posting)."""
    return f"{zh} ({en})"
