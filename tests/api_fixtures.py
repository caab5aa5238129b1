"""The `make_api` fixture: an app's REST API on `db_engine` (tests load it with pytest_plugins)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine

from dsl.model import App
from engine.context import Clock
from engine.records import Records
from engine.startup import Started
from tests.api_helpers import Api, api_app
from tests.service_fixtures import install_tables
from tests.service_helpers import NOW, schema_of


@pytest.fixture
def make_api(db_engine: Engine) -> Iterator[Callable[..., Api]]:
    made: list[Api] = []

    def make(app: App, *, clock: Clock | None = None) -> Api:
        records = Records(app, db_engine, schema=schema_of(app), clock=clock or Clock(app.timezone, fixed=NOW))
        install_tables(records)
        started = Started(app, db_engine, records, records.plugins, None)  # type: ignore[arg-type]
        api = Api(started, api_app(started))
        made.append(api)
        return api

    yield make
    for api in made:
        for client in api.clients:
            client.close()
