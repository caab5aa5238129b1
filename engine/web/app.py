"""The web application of a started app: `create_app(started)` → a Starlette ASGI app.

Everything is generated at run time from the app model; pages and the API act through the service layer in
the logged-in user's name, so permissions are the service layer's. Each module in WEB_MODULES exposes
`routes() -> list[BaseRoute]` (and may expose `navigation(request, user) -> list[NavGroup]` to add entries
to the navigation); handlers reach the app through `request.app.state.jxc` (engine.web.state.WebState).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from engine import plugins as plugin_support
from engine.startup import Started
from engine.web import api, errors, i18n
from engine.web.csrf import CSRFMiddleware
from engine.web.headers import SecurityHeadersMiddleware
from engine.web.state import STATIC, WebSettings, WebState, template_environment

WEB_MODULES: tuple[str, ...] = (
    "engine.web.auth",
    "engine.web.account",
    "engine.web.home",
    "engine.web.lists",
    "engine.web.dashboards",
    "engine.web.inbox",
    "engine.web.forms",
    "engine.web.documents",
    "engine.web.printing",
    "engine.web.mobile",
)
SESSION_COOKIE = "jxc_session"

log = logging.getLogger("jxc.web")


def create_app(started: Started, *, secret_key: str | None = None, https_only: bool = False,
               scheduler_seconds: float | None = None) -> Starlette:
    """The web app. Without `secret_key` a random one is used (sessions end when the process does).
    With `scheduler_seconds`, scheduled alerts and the outbox run in the background every so many seconds
    while the app runs (as `jxc serve` does)."""
    settings = WebSettings(secret_key=secret_key or secrets.token_urlsafe(32), https_only=https_only)
    state = WebState(
        started=started,
        templates=template_environment(plugin_support.template_folders(started.plugins, started.app)),
        i18n=i18n.load(started.app.locale),
        settings=settings,
    )
    state.extras["web_modules"] = WEB_MODULES
    routes: list[BaseRoute] = [Mount("/api", routes=api.routes(started))]  # the REST API (engine.web.api)
    for module_name in WEB_MODULES:
        routes.extend(importlib.import_module(module_name).routes())
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    routes.extend(plugin_support.web_routes(started.plugins, started.app))
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie=SESSION_COOKIE,
                   max_age=settings.session_max_age, same_site="lax", https_only=https_only),
        Middleware(CSRFMiddleware, max_body=settings.max_body, on_refusal=errors.refusal),
    ]
    web = Starlette(routes=routes, middleware=middleware, exception_handlers=errors.HANDLERS,
                    lifespan=_lifespan(started, scheduler_seconds))
    web.state.jxc = state
    return web


def _lifespan(started: Started, seconds: float | None):
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if not seconds:
            yield
            return
        stop = threading.Event()
        worker = threading.Thread(target=_run_worker, args=(started, stop, seconds), name="jxc-worker", daemon=True)
        worker.start()
        try:
            yield
        finally:  # let the current round finish: a job's transaction is never cut in the middle
            stop.set()
            await asyncio.to_thread(worker.join)

    return lifespan


def _run_worker(started: Started, stop: threading.Event, seconds: float) -> None:
    """Scheduled alerts and the outbox inside the server (what `jxc worker` does), in its own thread."""
    from engine.scheduler import Worker

    def report(result: Any) -> None:
        for line in result.lines():
            log.info("worker: %s", line)

    Worker(started.records).run(stop, poll_seconds=seconds, on_report=report)
