"""Error pages and problem+json: whatever goes wrong, the browser gets a page in the user's language (and the
API an RFC 9457 problem document), never a stack trace. Unexpected errors are logged with their trace.
The handlers that draw a page are plain functions (Starlette runs them in its thread pool: they read the
user from the database)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from engine.errors import ServiceError, ValidationFailed
from engine.web.context import LoginRequired, gettext, refusal_text, render, translate

log = logging.getLogger("jxc.web")

TITLES = {
    400: "The request cannot be used",
    401: "Please log in",
    403: "You may not open this page",
    404: "Page not found",
    405: "This action is not allowed here",
    409: "The record has changed or its state does not allow this",
    413: "The form is too large",
    422: "Please correct the highlighted problems",
    429: "Too many attempts",
    500: "Something went wrong on the server",
}


def is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def error_response(request: Request, status: int, detail: str = "", **extra: Any) -> Response:
    """The error page (or problem+json under /api) for `status`, with a message for the user."""
    if is_api(request):
        return problem(status, detail, **extra)
    try:
        title = gettext(request, TITLES.get(status, "Error"))
        return render(request, "error.html", status=status, status_code=status, title=title,
                      detail=translate(request, detail))
    except Exception:  # the error page itself failed (a broken template): still no trace for the browser
        log.exception("the error page could not be drawn")
        return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{status}</h1>", status_code=status)


async def login_required(request: Request, _: Exception) -> Response:
    if is_api(request):
        return problem(401, "log in or send an API token")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    generic = {TITLES.get(error.status_code)}
    if not is_api(request):  # a page says Starlette's default detail (the status phrase) in its title already
        generic.add(_phrase(error.status_code))
    detail = error.detail if error.detail and error.detail not in generic else ""
    response = error_response(request, error.status_code, gettext(request, detail) if detail else "")
    if error.headers:
        response.headers.update(error.headers)
    return response


def service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationFailed) and is_api(request):
        extra["errors"] = [{"field": p.field, "message": p.message} for p in error.problems]
    if is_api(request):
        return error_response(request, error.status, error.message, **extra)  # the API's detail stays English
    return error_response(request, error.status, refusal_text(request, error))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def server_error(request: Request, error: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return error_response(request, 500, gettext(request, "The error was logged; please try again or tell the "
                                                         "administrator what you were doing."))


HANDLERS: dict[Any, Any] = {
    LoginRequired: login_required,
    HTTPException: http_error,
    ServiceError: service_error,
    Exception: server_error,
}


async def refusal(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    """For middleware that refuses a request before routing (CSRF, body size)."""
    request = Request(scope, receive)
    response = await run_in_threadpool(lambda: error_response(request, status, gettext(request, reason)))
    await response(scope, receive, send)
