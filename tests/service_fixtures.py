"""Fixtures for tests of the service layer (engine.records): an app's records on `db_engine`, and its users.

Test modules load them with `pytest_plugins = ["tests.service_fixtures"]`; helpers to assert with are in
tests/service_helpers.py. Tables are created in ONE place, `install_tables` (used by the `make_records`
fixture): when migration (engine.migrate) takes over creating tables, only that function changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from dsl.model import App
from engine.context import Clock, CurrentUser
from engine.records import Records
from tests.service_helpers import NOW, make_user, no_stock_app, schema_of, toy_app


def install_tables(records: Records) -> None:
    """Create the app's tables (and what compiled formulas need) on a fresh database, the way jxc does:
    through migration. The one place tables are made for service-layer tests. On SQLite the new database is a
    copy of the app migrated once per test process (tests/migrated.py)."""
    from tests.migrated import migrate_new

    migrate_new(records.app, records.engine)


@pytest.fixture
def make_records(db_engine: Engine) -> Callable[..., Records]:
    """make_records(app=None, plugins=None, clock=None) → Records on a fresh database (no_stock by default)."""

    def make(app: App | None = None, *, plugins: Any = None, clock: Clock | None = None) -> Records:
        chosen = app or no_stock_app()
        records = Records(chosen, db_engine, schema=schema_of(chosen), plugins=plugins,
                          clock=clock or Clock(chosen.timezone, fixed=NOW))
        install_tables(records)
        return records

    return make


@pytest.fixture
def records(make_records: Callable[..., Records]) -> Records:
    """apps/no_stock on a fresh database, time fixed at NOW."""
    return make_records()


@pytest.fixture
def toy(make_records: Callable[..., Records]) -> Records:
    """The small TOY app on a fresh database, time fixed at NOW."""
    return make_records(toy_app())


@pytest.fixture
def user(records: Records) -> Callable[..., CurrentUser]:
    """user(name, *roles, full_name=None) → a CurrentUser of no_stock."""
    return functools.partial(make_user, records)
