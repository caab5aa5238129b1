"""Helpers for the REST API tests: an app's API on `db_engine`, users with tokens, a client per user.

    api = make_api(toy_app())                   # fixture: the toy app on a fresh database, time fixed
    clerk = api.client("clerk")                 # a user with that role, an API token, a TestClient
    clerk.post("/api/item", json={...})
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():  # starlette suggests httpx2, which is not packaged yet; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from engine.records import Records
from engine.startup import Started
from engine.web.api import routes
from engine.web.tokens import create_token
from tests.service_helpers import make_user


@dataclass
class Api:
    started: Started
    web: Starlette
    clients: list[TestClient] = field(default_factory=list)

    @property
    def records(self) -> Records:
        return self.started.records

    def token(self, name: str, role: str, **options: Any) -> str:
        """A user `name` holding `role` (created on first use) and a new API token for them."""
        from engine.errors import NotFound
        from engine.users import load_user

        try:
            load_user(self.records.engine, self.records.app, self.records.schema, name)
        except NotFound:
            make_user(self.records, name, role)
        return create_token(self.records.engine, self.records.app, self.records.schema, name, role,
                            clock=self.records.clock, **options).token

    def client(self, name: str, role: str | None = None, *, token: str | None = None) -> TestClient:
        """A client sending `name`'s token (role defaults to the name)."""
        token = token or self.token(name, role or name)
        client = TestClient(self.web, raise_server_exceptions=False,
                            headers={"Authorization": f"Bearer {token}"})
        self.clients.append(client)
        return client

    def anonymous(self) -> TestClient:
        client = TestClient(self.web, raise_server_exceptions=False)
        self.clients.append(client)
        return client


def api_app(started: Started) -> Starlette:
    """The API mounted as create_app mounts it, without the rest of the web UI."""
    return Starlette(routes=[Mount("/api", routes=routes(started))])


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """The problem+json body of a refused request, checked to be one."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"], body
    assert "Traceback" not in response.text
    return body


def errors_of(response: Any) -> dict[str, str]:
    """field → message of a 422 problem."""
    body = problem_of(response, 422)
    return {error["field"]: error["message"] for error in body["errors"]}
