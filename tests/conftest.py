"""Shared fixtures. `db_engine` gives each test its own database: a fresh SQLite file, or a fresh schema on
the PostgreSQL server at $JXC_TEST_PG_URL (default: the local server). Tests marked `both_dbs` run on both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import Engine

from engine.db import create_engine, prepare_database

PG_URL = os.environ.get("JXC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_dbs") is not None
        metafunc.parametrize("db_kind", ["sqlite", "postgresql"] if both else ["sqlite"])


@pytest.fixture
def db_engine(db_kind: str, tmp_path) -> Iterator[Engine]:
    if db_kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'test.sqlite'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (set JXC_TEST_PG_URL): {error.orig}")
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


from tests.apptree import shop  # noqa: E402,F401  (fixture for tests that write an app)
