"""Database connections: one code path for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from dsl.formula.functions import Registry, builtin_registry
from dsl.formula.sqlsupport import install_postgres_support, install_sqlite_functions


class DatabaseUrlError(ValueError):
    """A database URL jxc cannot use; the message says why and what works."""


SUPPORTED = "sqlite:///path/to/file.sqlite or postgresql+psycopg://user@host:5432/dbname"


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'jxc.sqlite'}"


def resolve_url(url: str | None, data_dir: Path | None = None) -> str:
    """--db, else $JXC_DB, else a SQLite file in the app's data folder."""
    chosen = url or os.environ.get("JXC_DB")
    if chosen:
        return chosen
    if data_dir is None:
        raise DatabaseUrlError(f"no database given: use --db URL or set JXC_DB (for example {SUPPORTED})")
    data_dir.mkdir(parents=True, exist_ok=True)
    return default_url(data_dir)


def create_engine(url: str, *, registry: Registry | None = None, **options: Any) -> Engine:
    """An engine with jxc's settings: SQLite in WAL mode with foreign keys on and jxc's SQL functions."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"cannot read the database URL {url!r}; use {SUPPORTED}") from None
    backend = parsed.get_backend_name()
    functions = registry or builtin_registry()
    if backend == "sqlite":
        engine = sqlalchemy.create_engine(parsed, **options)

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # jxc begins transactions itself (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
            install_sqlite_functions(dbapi_connection, functions)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # Take the write lock at the start: two transactions that read and then write would otherwise
            # deadlock when both try to upgrade their read lock (SQLite then fails one at once).
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise DatabaseUrlError(f"jxc talks to PostgreSQL through psycopg 3; write the URL as {SUPPORTED}")
        return sqlalchemy.create_engine(parsed, **options)
    raise DatabaseUrlError(f"jxc runs on SQLite or PostgreSQL, not {backend}; use {SUPPORTED}")


def prepare_database(engine: Engine) -> None:
    """Install what compiled formulas need in the database (PostgreSQL's jxc_raise)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            install_postgres_support(connection)
