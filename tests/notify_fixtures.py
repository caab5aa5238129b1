"""Fixtures of the notification tests (`pytest_plugins = ["tests.notify_fixtures"]`): a webhook server and
an SMTP server on loopback, and a PostgreSQL schema with connections for several workers. The servers and the
app they serve are in tests/notify_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.notify_helpers import SmtpRecorder, WebhookServer, free_port


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpRecorder, int]]:
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture
def pg_engine() -> Iterator[Any]:
    """A fresh schema on the PostgreSQL server, with a pooled connection for each of several workers."""
    import uuid

    import sqlalchemy

    from engine.db import create_engine, prepare_database
    from tests.conftest import PG_URL

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine(PG_URL, pool_size=8, connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
