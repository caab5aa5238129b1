"""The home page: what the user may open, by group (the same as the navigation).

Handlers that read the database are plain functions: Starlette runs them in its thread pool."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.web.context import render, require_user


def home(request: Request) -> Response:
    require_user(request)
    return render(request, "home.html")


def routes() -> list[BaseRoute]:
    return [Route("/", home, methods=["GET"])]
