"""The user's own account: changing one's password (the current one is asked for, and failed attempts count
towards the login rate limit, so a borrowed session cannot be used to guess it). A change ends every other
session of the user (engine.web.context.current_user compares the session's password stamp)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from engine.users import set_password
from engine.web.auth import checked_hash, hash_password, limiter
from engine.web.context import gettext, render, require_user, start_session, web_state

MIN_LENGTH = 8


def password_page(request: Request) -> Response:
    require_user(request)
    done = request.query_params.get("done") == "1"
    return render(request, "password.html", error="", done=done)


async def change_password(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    current = str(form.get("current", ""))
    new = str(form.get("new", ""))
    again = str(form.get("again", ""))
    key = (user.name.lower(), request.client.host if request.client else "-")
    limits = limiter(request)
    error = ""
    status = 422
    if wait := limits.blocked(key):
        error = gettext(request, "Too many failed logins. Try again in {seconds} seconds.").format(seconds=wait)
        status = 429
    elif await run_in_threadpool(checked_hash, request, user.name, current) is None:
        limits.fail(key)
        error = gettext(request, "The current password is not right.")
    elif len(new) < MIN_LENGTH:
        error = gettext(request, "A password has at least {count} characters.").format(count=MIN_LENGTH)
    elif new != again:
        error = gettext(request, "The two new passwords differ.")
    if error:
        return render(request, "password.html", status=status, error=error, done=False)
    started = web_state(request).started
    hashed = await run_in_threadpool(hash_password, new)
    await run_in_threadpool(set_password, started.engine, started.records.schema, user.name, hashed)
    start_session(request, user.name, hashed)  # this session goes on; the others end
    return RedirectResponse("/account/password?done=1", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/account/password", password_page, methods=["GET"]),
        Route("/account/password", change_password, methods=["POST"]),
    ]
