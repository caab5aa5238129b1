"""Messages the web layer can translate: English text as a value, the msgid kept beside it.

A `Message` is the English text itself (a `str`: equality, printing and JSON are unchanged), and remembers
the template it was formatted from and its parameters, so engine/web/i18n.py can look the template up in the
gettext catalog of the user's language and format the translation with the same parameters. The service
layer has no notion of a request's language; this keeps it that way. It lives in dsl/ so the formula
language's runtime errors (division by zero...) can be Messages too; engine/messages.py re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Message(str):
    """`Message("must be a date, like {example}", example="2026-01-31")` reads "must be a date, like 2026-01-31"."""

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Message:
        text = super().__new__(cls, template.format(**params) if params else template)
        text.template = template
        text.params = params
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # copy/pickle rebuild from the template, not the formatted text
        return _rebuild, (self.template, dict(self.params))


def _rebuild(template: str, params: dict[str, Any]) -> Message:
    return Message(template, **params)
