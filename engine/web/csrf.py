"""CSRF protection: every request that changes something (not GET/HEAD/OPTIONS) carries the session's token.

The token lives in the signed session cookie; forms send it as the field `csrf_token` (`{{ csrf_field() }}`),
scripts as the header `X-CSRF-Token`. API requests authenticated by a token (`Authorization: Bearer ...`)
carry no cookie a foreign site could ride on, so they are exempt. A refused request gets 403 and changes
nothing: the check happens before any handler runs.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token(request: Request) -> str:
    """The session's CSRF token, created with the session."""
    if "session" not in request.scope:
        return ""
    value = request.session.get(SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = value
    return value


class Refused(Exception):
    pass


class CSRFMiddleware:
    """Checks the token of unsafe requests before the app sees them; replays the body it had to read."""

    def __init__(self, app: ASGIApp, *, max_body: int, on_refusal: Any) -> None:
        self.app = app
        self.max_body = max_body
        self.on_refusal = on_refusal  # async (scope, receive, send, status, reason) -> None: the error page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or _bearer(scope):
            await self.app(scope, receive, send)
            return
        expected = scope.get("session", {}).get(SESSION_KEY)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        sent = headers.get(HEADER)
        body: bytes | None = None
        if sent is None:
            try:
                body = await _read_body(receive, self.max_body)
            except Refused:
                await self.on_refusal(scope, receive, send, 413, "The form is too large.")
                return
            sent = _form_token(headers.get("content-type", ""), body)
        if not (isinstance(expected, str) and expected and sent and hmac.compare_digest(expected, sent)):
            await self.on_refusal(scope, receive, send, 403,
                                  "The form has expired or did not come from this site. Reload the page and try again.")
            return
        await self.app(scope, receive if body is None else _replay(body, receive), send)


def _bearer(scope: Scope) -> bool:
    return any(key.lower() == b"authorization" and value[:7].lower() == b"bearer "
               for key, value in scope["headers"])


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _form_token(content_type: str, body: bytes) -> str | None:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(FIELD)
        return values[0] if values else None
    if kind == "multipart/form-data":
        return _multipart_token(content_type, body)
    return None


def _multipart_token(content_type: str, body: bytes) -> str | None:
    """The token field of a multipart body (file uploads), found with python-multipart's parser."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        return None
    found: dict[str, Any] = {"name": None, "value": b"", "token": None}

    def on_header_value(data: bytes, start: int, end: int) -> None:
        text = data[start:end].decode("latin-1")
        if f'name="{FIELD}"' in text:
            found["name"] = FIELD

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if found["name"] == FIELD:
            found["value"] += data[start:end]

    def on_part_end() -> None:
        if found["name"] == FIELD and found["token"] is None:
            found["token"] = found["value"].decode("utf-8", "replace")
        found["name"], found["value"] = None, b""

    parser = MultipartParser(boundary, {"on_header_value": on_header_value, "on_part_data": on_part_data,
                                        "on_part_end": on_part_end})
    parser.write(body)
    parser.finalize()
    return found["token"]


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
