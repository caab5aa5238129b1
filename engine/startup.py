"""Starting an app: plugins, the checked model, its database brought up to date, and the service layer.

`jxc demo`, `jxc user` and (next) `jxc serve` start the same way, so an app never runs on a database that
does not match it: safe changes are applied at start, unsafe ones stop the start with their reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pluggy
from sqlalchemy.engine import Engine

from dsl.loader import load_app
from dsl.model import App
from engine import plugins as plugin_support
from engine.db import create_engine, resolve_url
from engine.migrate import Migration, migrate
from engine.records import Records


@dataclass
class Started:
    app: App
    engine: Engine
    records: Records
    plugins: pluggy.PluginManager
    migration: Migration

    def close(self) -> None:
        self.engine.dispose()


def load(folder: str | Path, manager: pluggy.PluginManager | None = None) -> tuple[App, pluggy.PluginManager]:
    """The checked app with every installed plugin's functions, channels and settings schemas."""
    manager = manager or plugin_support.plugin_manager()
    app = load_app(folder, registry=plugin_support.formula_registry(manager),
                   channels=plugin_support.channels(manager), plugins=plugin_support.settings_schemas(manager),
                   always_on=plugin_support.always_on(manager))
    return app, manager


def start(folder: str | Path, url: str | None = None, *, manager: pluggy.PluginManager | None = None,
          progress: Callable[[str], None] | None = None) -> Started:
    """Load the app, open its database (--db, $JXC_DB, else APP/data/jxc.sqlite) and migrate it.

    Raises dsl.problems.CheckFailed (the app has problems), engine.db.DatabaseUrlError, or
    engine.migrate.MigrationError (the database cannot safely be brought up to date)."""
    app, manager = load(folder, manager)
    engine = create_engine(resolve_url(url, Path(folder) / "data"), registry=app.registry)
    try:
        migration = migrate(app, engine, progress=progress)
    except BaseException:
        engine.dispose()
        raise
    return Started(app, engine, Records(app, engine, plugins=manager), manager, migration)
