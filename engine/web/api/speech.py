"""The language of the API's refusals: the page's language for a signed-in browser (the phone pages send their
scans through the API with the session cookie, and show what comes back to the warehouse worker), English for
API tokens (integrations log and match the English text).

Service-layer messages are `Message`s (dsl/messages.py) until they are serialised, so a problem document is
translated by walking it just before it is written (and, for /api/batch, before it is stored for replays).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from dsl.messages import Message

Speak = Callable[[Any], Any]


def translator(request: Request) -> Speak | None:
    """Translate a JSON-ready value's Messages into the caller's page language; None for token callers."""
    if request.headers.get("authorization") is not None or "session" not in request.scope \
            or not hasattr(request.app.state, "jxc"):
        return None
    from engine.web.context import language, web_state

    i18n, chosen = web_state(request).i18n, language(request)

    def speak(value: Any) -> Any:
        if isinstance(value, Message):
            return i18n.message(chosen, value)
        if isinstance(value, dict):
            return {key: speak(item) for key, item in value.items()}
        if isinstance(value, list):
            return [speak(item) for item in value]
        return value

    return speak
