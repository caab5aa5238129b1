"""`migrate_new(app, engine)`: what `engine.migrate.migrate(app, engine)` does to a new, empty database, faster
on SQLite files: the app is migrated once per test process into a template file, and each new database is a
byte copy of it (milliseconds instead of a migration's ~0.4 s). PostgreSQL, in-memory SQLite and databases that
already hold something are migrated for real.

The copy is the database migrate() would leave behind, down to jxc_migration and jxc_column_type (only the
`applied_at` of the log is when the template was made). Tests of migration itself call migrate() directly.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine

from dsl.model import App
from engine.db import create_engine
from engine.migrate import migrate

_templates: dict[int, tuple[App, Path]] = {}  # id(app) → (the app, kept alive so the id stays its own; file)
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


def migrate_new(app: App, engine: Engine) -> None:
    """Migrate `app` onto the new database of `engine` (see the module docstring)."""
    target = _new_sqlite_file(engine)
    if target is None:
        migrate(app, engine)
        return
    template = _template(app)
    engine.dispose()  # no pooled connection may hold the (empty) file while it is replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
