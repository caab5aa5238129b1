"""jxc's REST API: JSON over the service layer for every entity of the app, generated from the model.

`routes(started)` gives the Starlette routes mounted at /api by engine.web.app.create_app. See docs/api.md.
"""

from __future__ import annotations

from typing import Any


def routes(started: Any) -> list[Any]:
    from engine.web.api.router import api_routes

    return api_routes(started)
