"""Logging in and out, passwords (argon2) and the login rate limit; the language switch.

A successful login stores the user's name in the signed session cookie (HttpOnly, SameSite=Lax; see
engine.web.app) under a fresh CSRF token, so a token seen before login is worthless after it. Failed
logins are counted per user name and address: after `login_failures` within `login_window` seconds the
next attempts are refused with 429 until the window has passed, whatever the password.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from engine.users import stored_password
from engine.web.context import current_user, gettext, render, start_session, web_state
from engine.web.i18n import COOKIE, normalize

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("jxc: a password no one has")  # checked for unknown users so timing tells nothing


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class RateLimiter:
    """Failures per key within a sliding window (in memory: one server process)."""

    def __init__(self, limit: int, window: float, clock=time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures[key]
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def blocked(self, key: tuple[str, str]) -> int:
        """Seconds until the key may try again (0: it may now)."""
        with self._lock:
            times = self._recent(key)
            if len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - self.clock()))

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._recent(key).append(self.clock())

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


def limiter(request: Request) -> RateLimiter:
    state = web_state(request)
    found = state.extras.get("login_limiter")
    if not isinstance(found, RateLimiter):
        found = RateLimiter(state.settings.login_failures, state.settings.login_window)
        state.extras["login_limiter"] = found
    return found


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //other.example or https://other.example)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


async def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")), name="", error="")


async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    address = request.client.host if request.client else "-"
    key = (name.lower(), address)
    limits = limiter(request)
    wait = limits.blocked(key)
    if wait:
        message = gettext(request, "Too many failed logins. Try again in {seconds} seconds.").format(seconds=wait)
        return render(request, "login.html", status=429, next=target, name=name, error=message)
    stored = await run_in_threadpool(checked_hash, request, name, password) if name else None
    if stored is None:
        limits.fail(key)
        message = gettext(request, "Wrong user name or password.")
        return render(request, "login.html", status=401, next=target, name=name, error=message)
    limits.clear(key)
    start_session(request, name, stored)
    return RedirectResponse(target, status_code=303)


def checked_hash(request: Request, name: str, password: str) -> str | None:
    """The user's password hash when `password` is theirs, else None (slow on purpose: argon2; call it off
    the event loop)."""
    started = web_state(request).started
    stored = stored_password(started.engine, started.records.schema, name)
    return stored if stored is not None and verify_password(stored, password) else None


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def choose_language(request: Request) -> Response:
    """The language switch: remembered in a cookie for a year, for logged-in users and visitors alike."""
    form = await request.form()
    chosen = normalize(str(form.get("language", "")))
    response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
    if chosen:
        response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=web_state(request).settings.https_only)
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/language", choose_language, methods=["POST"]),
    ]
