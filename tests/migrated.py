"""`migrate_new(app, engine)`: what `engine.migrate.migrate(app, engine)` does to a new, empty database, faster.

- SQLite file: the app is migrated once per test process into a template file, and each new database is a byte
  copy of it (milliseconds instead of a migration's ~0.4 s).
- PostgreSQL: the app is migrated once per test process into a template schema; a new (empty) schema gets the
  very statements that migration ran, sent at once in one transaction, and the template's jxc_column_type and
  jxc_migration rows (no comparison, no plan, no statement-by-statement round trips).
- In-memory SQLite and databases that already hold a table are migrated for real.

Either way the database is the one migrate() would leave behind, down to jxc_migration and jxc_column_type (only
the log's `applied_at` is when the template was made). Tests of migration itself call migrate() directly.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

import sqlalchemy
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from dsl.model import App
from engine.db import create_engine, prepare_database
from engine.migrate import COLUMN_TYPES_TABLE, MIGRATION_TABLE, migrate

_templates: dict[int, tuple[App, Path]] = {}  # id(app) → (the app, kept alive so the id stays its own; file)
_pg_templates: dict[tuple[int, str], tuple[App, str, str, list[str]]] = {}
# (id(app), server) → (the app, template schema, its statements joined, the log tables' copy statements)
_folder: Path | None = None


def _template_folder() -> Path:
    global _folder
    if _folder is None:
        holder = tempfile.TemporaryDirectory(prefix="jxc-migrated-")
        atexit.register(holder.cleanup)
        _folder = Path(holder.name)
    return _folder


def _new_sqlite_file(engine: Engine) -> Path | None:
    """The database file of `engine` when it is SQLite and the file is missing or empty, else None."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    if path.exists() and path.stat().st_size > 0:
        return None
    for suffix in ("-wal", "-journal"):
        if Path(f"{path}{suffix}").exists():
            return None
    return path


def _template(app: App) -> Path:
    known = _templates.get(id(app))
    if known is not None and known[0] is app:
        return known[1]
    path = _template_folder() / f"app-{len(_templates)}.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    try:
        migrate(app, engine)
    finally:
        engine.dispose()
    # everything into the main file, so that this one file is the copy (closing the last connection did so too)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RuntimeError(f"the template {path} still has changes in {wal}")
    _templates[id(app)] = (app, path)
    return path


def _pg_template(app: App, engine: Engine) -> tuple[str, list[str]]:
    server = engine.url.render_as_string(hide_password=False)
    known = _pg_templates.get((id(app), server))
    if known is not None and known[0] is app:
        return known[2], known[3]
    schema = f"t_tmpl_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()

    atexit.register(drop)
    template = create_engine(server, connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(template)
        migration = migrate(app, template)
    finally:
        template.dispose()
    assert migration.applied is not None
    ddl = ";\n".join(statement for change in migration.applied.changes for statement in change.sql)
    copies = []
    for name in (COLUMN_TYPES_TABLE, MIGRATION_TABLE):  # the log's ids come from its own sequence, in order
        columns = ", ".join(column.name for column in migration.plan.metadata.tables[name].columns
                            if column.name != "id")
        order = "id" if name == MIGRATION_TABLE else "table_name, column_name"
        copies.append(f'INSERT INTO {name} ({columns}) SELECT {columns} FROM "{schema}".{name} ORDER BY {order}')
    _pg_templates[(id(app), server)] = (app, schema, ddl, copies)
    return ddl, copies


def _migrate_new_postgresql(app: App, engine: Engine) -> None:
    ddl, copies = _pg_template(app, engine)
    with engine.begin() as connection:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(ddl)  # no parameters: the statements go as they are, in one round trip
        finally:
            cursor.close()
        for copy in copies:
            connection.exec_driver_sql(copy)
    prepare_database(engine)  # as migrate() ends


def migrate_new(app: App, engine: Engine) -> None:
    """Migrate `app` onto the new database of `engine` (see the module docstring)."""
    if engine.dialect.name == "postgresql" and not inspect(engine).get_table_names():
        _migrate_new_postgresql(app, engine)
        return
    target = _new_sqlite_file(engine)
    if target is None:
        migrate(app, engine)
        return
    template = _template(app)
    engine.dispose()  # no pooled connection may hold the (empty) file while it is replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
