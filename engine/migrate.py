"""Migration: bring a live database in line with the app model, safely and in one transaction.

`plan()` compares the tables `build_schema(app)` describes with the database (alembic's autogenerate comparison)
and turns the difference into `Change`s an admin can read, each with the SQL it will run. `apply()` runs them all in
one transaction and records each in `jxc_migration`; `migrate()` does both (at start-up and for `jxc migrate`).

- Safe, applied as is: new tables (entities, table fields, many-links, jxc's own tables), new fields, new indexes,
  wider types, dropped indexes.
- Checked first against every existing value, applied only when all fit: narrower types, text to number and back,
  a new unique rule (no duplicates), a new link (no dangling values), a value becoming required.
- Refused unless declared: a rename needs `renamed_from:` on the field (else it would be a drop and an add); a
  removed field or entity needs `allow_drop` (its data is first copied to a `jxc_backup_*` table). Nothing is lost
  without it. jxc's own tables (`jxc_*`) are created when missing and never dropped.

SQLite specifics:
- Python's sqlite3 module does not put DDL in a transaction by itself: `apply()` sends BEGIN IMMEDIATE itself, so
  DDL and data are committed or rolled back together (SQLite's DDL is transactional).
- SQLite cannot alter a column or a constraint: alembic's batch mode recreates the table ("move and copy": create
  `_alembic_tmp_<t>`, copy the rows, drop `<t>`, rename). Dropping a table that others reference would, with foreign
  keys on, delete or block their rows (ON DELETE CASCADE / RESTRICT), and `PRAGMA foreign_keys` cannot change
  inside a transaction; alembic leaves it to the caller. So `apply()` turns foreign keys off *before* BEGIN, runs
  `PRAGMA foreign_key_check` before COMMIT (refusing new violations), and turns them back on afterwards.
- A decimal is a BIGINT holding value x 10^scale, so the live column cannot tell its scale (nor a decimal from an
  int). jxc records each column's model type in `jxc_column_type`; a scale change rewrites the stored integers
  (`UPDATE t SET c = c * 10^k`), with no DDL at all.
- The plan's SQL for SQLite is produced by running the changes on an empty in-memory copy of the schema, so batch
  operations show the exact statements (and are tried out) before the real database is touched.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal
from typing import Any

import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator, TypeEngine

from dsl.formula.functions import builtin_registry
from dsl.formula.sqlsupport import install_sqlite_functions
from dsl.model import App, EntityKind
from dsl.sqltypes import ExactDecimal
from engine.db import prepare_database
from engine.schema import ID_TYPE, NAMING_CONVENTION, USER_TABLE, build_schema, short_name

MIGRATION_TABLE = "jxc_migration"
COLUMN_TYPES_TABLE = "jxc_column_type"
BACKUP_PREFIX = "jxc_backup_"
SYSTEM_COLUMNS = frozenset({
    "id", "parent_id", "idx", "made_from_line", "doc_no", "docstatus", "amended_from", "made_from_entity",
    "made_from_id", "created_at", "created_by", "modified_at", "modified_by", "version",
})
_CTX = Context(prec=80)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_SHOWN_CHARS = 12

Progress = Callable[[str], None]


class MigrationError(Exception):
    """A migration jxc could not do; the message says why in plain words. Nothing was changed."""


class MigrationRefused(MigrationError):
    """The plan has changes that could lose data; each carries its explanation."""

    def __init__(self, refusals: list[Change]) -> None:
        self.refusals = refusals
        count = len(refusals)
        lines = [f"the database was not changed: {count} change{'s' if count != 1 else ''} refused"]
        lines += [f"  - {change.refused}" for change in refusals]
        super().__init__("\n".join(lines))


# --- column types as jxc sees them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnType:
    """A column's type in the model's terms: string(140), text, int, decimal(18,2), bool, date, datetime."""

    kind: str
    length: int | None = None
    bits: int | None = None
    precision: int | None = None
    scale: int | None = None
    raw: str | None = None  # kind "other": the database's name for it

    def __str__(self) -> str:
        if self.kind == "string":
            return f"string({self.length})"
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "int":
            return "int" if self.bits == 64 else f"int ({self.bits}-bit)"
        if self.kind == "other":
            return str(self.raw)
        return self.kind

    @property
    def code(self) -> str:
        """How `jxc_column_type` stores it."""
        return f"int{self.bits}" if self.kind == "int" else str(self)

    @classmethod
    def parse(cls, code: str) -> ColumnType | None:
        if match := re.fullmatch(r"string\((\d+)\)", code):
            return cls("string", length=int(match[1]))
        if match := re.fullmatch(r"decimal\((\d+),(\d+)\)", code):
            return cls("decimal", precision=int(match[1]), scale=int(match[2]))
        if match := re.fullmatch(r"int(\d+)", code):
            return cls("int", bits=int(match[1]))
        if code in ("text", "bool", "date", "datetime"):
            return cls(code)
        return None

    @property
    def family(self) -> str:
        if self.kind in ("string", "text"):
            return "text"
        if self.kind in ("int", "decimal"):
            return "number"
        return self.kind

    @property
    def decimals(self) -> int:
        return self.scale or 0 if self.kind == "decimal" else 0

    def physical(self, dialect: str) -> ColumnType:
        """What the database itself shows: on SQLite a decimal is a (scaled) 64-bit integer."""
        if dialect == "sqlite" and self.kind == "decimal":
            return ColumnType("int", bits=64)
        return self


def column_type_of(type_: TypeEngine[Any], dialect: str) -> ColumnType:
    """The model's view of a SQLAlchemy type (one built by engine.schema or one reflected from the database)."""
    if isinstance(type_, ExactDecimal):
        return ColumnType("decimal", precision=type_.precision, scale=type_.scale)
    variants = getattr(type_, "_variant_mapping", None)
    if variants and dialect in variants:
        type_ = variants[dialect]
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    bits_of = (lambda bits: 64) if dialect == "sqlite" else (lambda bits: bits)
    if isinstance(type_, Text) or (isinstance(type_, String) and not type_.length):
        return ColumnType("text")
    if isinstance(type_, String):
        return ColumnType("string", length=type_.length)
    if isinstance(type_, BigInteger):
        return ColumnType("int", bits=64)
    if isinstance(type_, SmallInteger):
        return ColumnType("int", bits=bits_of(16))
    if isinstance(type_, Integer):
        return ColumnType("int", bits=bits_of(32))
    if isinstance(type_, Numeric) and not isinstance(type_, Float) and type_.precision is not None:
        return ColumnType("decimal", precision=type_.precision, scale=type_.scale or 0)
    if isinstance(type_, Boolean):
        return ColumnType("bool")
    if isinstance(type_, DateTime):
        return ColumnType("datetime")
    if isinstance(type_, Date):
        return ColumnType("date")
    return ColumnType("other", raw=type(type_).__name__.lower())


def _physical_type(type_: TypeEngine[Any], dialect: str) -> TypeEngine[Any]:
    """The type a batch copy on SQLite should declare (a decimal is a BIGINT there)."""
    if dialect == "sqlite" and isinstance(type_, ExactDecimal):
        return BigInteger()
    return type_


# --- the plan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One step of a migration: what it does in plain words, whether it is safe, and the SQL it runs."""

    kind: str  # create_table, add_column, add_index, add_unique, add_fk, widen_type, narrow_type, change_type, ...
    table: str
    column: str | None
    description: str
    safe: bool  # no data can be lost (a checked change is safe once every existing value fits)
    refused: str | None = None  # why it will not be applied; None: it will
    sql: tuple[str, ...] = ()
    run: Callable[[_Do], None] | None = field(default=None, repr=False, compare=False)
    check: Callable[[Connection], str | None] | None = field(default=None, repr=False, compare=False)
    checking: str = field(default="", repr=False, compare=False)  # "narrowing customer.code from ...": refusals

    @property
    def allowed(self) -> bool:
        return self.refused is None


@dataclass
class Plan:
    app_name: str
    app_version: str
    dialect: str
    changes: list[Change]
    allow_drop: bool
    stamp: str  # UTC time the plan was made, in backup table names
    metadata: MetaData = field(repr=False)
    column_types: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)  # what jxc_column_type gets
    record_types: bool = False  # jxc_column_type differs from the model even if no table changes

    @property
    def refusals(self) -> list[Change]:
        return [change for change in self.changes if change.refused]

    @property
    def empty(self) -> bool:
        return not self.changes

    def text(self) -> str:
        """The plan as numbered lines with the SQL indented below each."""
        if not self.changes:
            return "nothing to change: the database matches the app"
        lines: list[str] = []
        for number, change in enumerate(self.changes, 1):
            marker = "REFUSED: " if change.refused else ""
            lines.append(f"{number:>3}. {marker}{change.description}")
            if change.refused:
                lines.append(f"       {change.refused}")
                continue  # its SQL will not run
            if not change.sql and change.kind in ("widen_type", "narrow_type") and self.dialect == "sqlite":
                lines.append("       -- no SQL: SQLite stores this number as is; only jxc's record of the type changes")
            for statement in change.sql:
                body = statement.splitlines()
                for index, line in enumerate(body):
                    lines.append("       " + line + (";" if index == len(body) - 1 else ""))
        return "\n".join(lines)


@dataclass(frozen=True)
class AppliedChange:
    kind: str
    table: str
    column: str | None
    description: str
    sql: tuple[str, ...]


@dataclass(frozen=True)
class AppliedMigration:
    app_name: str
    app_version: str
    applied_at: dt.datetime
    changes: tuple[AppliedChange, ...]

    @property
    def count(self) -> int:
        return len(self.changes)


@dataclass(frozen=True)
class Migration:
    """What `migrate()` did: the plan, and what was applied (None for a dry run)."""

    plan: Plan
    applied: AppliedMigration | None


def target_metadata(app: App) -> MetaData:
    """The app's tables plus migration's own (`jxc_migration`, `jxc_column_type`)."""
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    build_schema(app, metadata)
    if MIGRATION_TABLE not in metadata.tables:
        Table(MIGRATION_TABLE, metadata,
              Column("id", ID_TYPE, primary_key=True, autoincrement=True),
              Column("applied_at", DateTime, nullable=False),
              Column("app_name", String(63), nullable=False),
              Column("app_version", String(40)),
              Column("kind", String(32), nullable=False),
              Column("description", Text, nullable=False),
              Column("ddl", Text))
    if COLUMN_TYPES_TABLE not in metadata.tables:
        Table(COLUMN_TYPES_TABLE, metadata,
              Column("table_name", String(63), primary_key=True),
              Column("column_name", String(63), primary_key=True),
              Column("type", String(40), nullable=False))
    return metadata


def plan(app: App, engine: Engine, *, allow_drop: bool = False, progress: Progress | None = None) -> Plan:
    """Compare the app with the live database; nothing is changed."""
    say = progress or (lambda _message: None)
    metadata = target_metadata(app)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    say("comparing the app with the database")
    with engine.connect() as connection:
        planner = _Planner(app, metadata, connection, allow_drop, stamp, say)
        changes = planner.changes()
        column_types = {(table.name, column.name): column_type_of(column.type, engine.dialect.name).code
                        for table in metadata.tables.values() for column in table.columns}
        record_types = planner.stored_codes != column_types
        changes = _render(changes, connection, metadata)
    return Plan(app.name, app.version, engine.dialect.name, changes, allow_drop, stamp, metadata, column_types,
                record_types)


def apply(plan: Plan, engine: Engine, *, app_version: str | None = None,
          progress: Progress | None = None) -> AppliedMigration:
    """Run every change of `plan` in one transaction and record them; on any error nothing is changed."""
    say = progress or (lambda _message: None)
    if plan.refusals:
        raise MigrationRefused(plan.refusals)
    if engine.dialect.name != plan.dialect:
        raise MigrationError(f"this plan was made for {plan.dialect}, not {engine.dialect.name}; plan again")
    version = app_version if app_version is not None else plan.app_version
    applied_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    applied: list[AppliedChange] = []
    if plan.changes or plan.record_types:
        with _transaction(engine) as connection:
            sqlite = engine.dialect.name == "sqlite"
            do = _Do(_operations(connection, plan.metadata), sqlite, engine.dialect)
            watched = _foreign_key_tables(connection, {change.table for change in plan.changes}) if sqlite else set()
            violations_before = _foreign_key_violations(connection, watched)
            _recheck(plan, connection, say)
            total = len(plan.changes)
            for number, change in enumerate(plan.changes, 1):
                say(f"applying {number}/{total}: {change.description}")
                statements: list[str] = []
                try:
                    with _capture(connection, statements):
                        assert change.run is not None
                        change.run(do)
                except Exception as error:
                    raise MigrationError(
                        f"change {number} of {total} ({change.description}) failed: {_first_line(error)}; "
                        "the database was not changed (everything was rolled back)") from error
                applied.append(AppliedChange(change.kind, change.table, change.column, change.description,
                                             tuple(statements)))
            if sqlite:
                new = _foreign_key_violations(connection, watched) - violations_before
                if new:
                    table, rowid, parent = sorted(new)[0]
                    raise MigrationError(f"the migration would leave record {rowid} of {table} pointing to a "
                                         f"missing {parent}; the database was not changed")
            _write_log(connection, plan, version, applied_at, applied)
    prepare_database(engine)
    return AppliedMigration(plan.app_name, version, applied_at, tuple(applied))


def migrate(app: App, engine: Engine, *, dry_run: bool = False, allow_drop: bool = False,
            progress: Progress | None = None) -> Migration:
    """Plan, and unless `dry_run` apply: what start-up and `jxc migrate` call. Refusals raise MigrationRefused."""
    the_plan = plan(app, engine, allow_drop=allow_drop, progress=progress)
    if dry_run:
        return Migration(the_plan, None)
    if the_plan.refusals:
        raise MigrationRefused(the_plan.refusals)
    return Migration(the_plan, apply(the_plan, engine, app_version=app.version, progress=progress))


# --- comparing -----------------------------------------------------------------------------------------------


@dataclass
class _Diff:
    add_tables: list[Table] = field(default_factory=list)
    remove_tables: list[Table] = field(default_factory=list)
    add_columns: dict[str, dict[str, Column]] = field(default_factory=dict)
    remove_columns: dict[str, dict[str, Column]] = field(default_factory=dict)
    add_indexes: list[Index] = field(default_factory=list)
    remove_indexes: list[Index] = field(default_factory=list)
    add_uniques: list[UniqueConstraint] = field(default_factory=list)
    remove_uniques: list[UniqueConstraint] = field(default_factory=list)
    add_fks: list[ForeignKeyConstraint] = field(default_factory=list)
    remove_fks: list[ForeignKeyConstraint] = field(default_factory=list)
    types: list[tuple[str, str, TypeEngine[Any], TypeEngine[Any]]] = field(default_factory=list)
    nullables: list[tuple[str, str, TypeEngine[Any], bool]] = field(default_factory=list)


def _columns_of(item: Index | UniqueConstraint | ForeignKeyConstraint) -> list[str]:
    if isinstance(item, ForeignKeyConstraint):
        return list(item.column_keys)
    return [column.name for column in item.columns]


def _target_of(fk: ForeignKeyConstraint) -> tuple[str, list[str]]:
    targets = [element.target_fullname.rsplit(".", 1) for element in fk.elements]
    return targets[0][0], [name for _table, name in targets]


class _Planner:
    def __init__(self, app: App, metadata: MetaData, connection: Connection, allow_drop: bool, stamp: str,
                 say: Progress) -> None:
        self.app = app
        self.metadata = metadata
        self.conn = connection
        self.allow_drop = allow_drop
        self.stamp = stamp
        self.say = say
        self.dialect = connection.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.inspector = inspect(connection)
        self.existing = set(self.inspector.get_table_names())
        self.stored_codes = self._stored_codes()
        self.stored = {key: ColumnType.parse(code) for key, code in self.stored_codes.items()}
        self.fields, self.renames = self._fields_and_renames()
        self.backups: set[str] = set()
        self.renamed: dict[str, dict[str, str]] = {}  # table → {new name: name now}, renames in this plan
        self.out: list[tuple[int, Change]] = []

    # what the app says

    def _fields_and_renames(self) -> tuple[set[tuple[str, str]], dict[str, dict[str, str]]]:
        fields: set[tuple[str, str]] = set()
        renames: dict[str, dict[str, str]] = {}
        owners = [(short_name(entity.name), entity.fields) for entity in self.app.entities.values()]
        owners.append((USER_TABLE, self.app.user_fields))
        for table, entity_fields in owners:
            for name, field_def in entity_fields.items():
                fields.add((table, name))
                if field_def.renamed_from:
                    renames.setdefault(table, {})[name] = field_def.renamed_from
        return fields, renames

    def _stored_codes(self) -> dict[tuple[str, str], str]:
        if COLUMN_TYPES_TABLE not in self.existing:
            return {}
        rows = self.conn.exec_driver_sql(f"SELECT table_name, column_name, type FROM {COLUMN_TYPES_TABLE}")
        return {(table, column): code for table, column, code in rows}

    def live_type(self, table: str, column: str, reflected: TypeEngine[Any],
                  model: TypeEngine[Any] | None = None) -> ColumnType:
        """The column's type now: what the database shows, made precise by jxc's record of it."""
        live = column_type_of(reflected, self.dialect.name)
        stored = self.stored.get((table, column))
        if stored is not None and stored.physical(self.dialect.name) == live:
            return stored
        if stored is None and model is not None:
            wanted = column_type_of(model, self.dialect.name)
            if wanted.physical(self.dialect.name) == live:
                return wanted  # SQLite cannot tell a decimal's scale, and nothing recorded it: assume it matches
        return live

    def _compare_type(self, _context: Any, _inspected: Column, metadata_column: Column,
                      inspected_type: TypeEngine[Any], metadata_type: TypeEngine[Any]) -> bool:
        table = metadata_column.table.name
        old = self.live_type(table, metadata_column.name, inspected_type, metadata_type)
        return old != column_type_of(metadata_type, self.dialect.name)

    def _include_name(self, name: str | None, type_: str, _parents: Any) -> bool:
        if type_ != "table" or name is None:
            return True
        if name in self.metadata.tables:
            return True
        return not name.startswith(("jxc_", "sqlite_", "_alembic_tmp_"))

    def diff(self) -> _Diff:
        if not any(self._include_name(name, "table", None) for name in self.existing):
            # A new database (none of the app's tables, nothing to drop): every table is new, and alembic's
            # comparison would only say so, slowly (it copies each table and index into its ops and back).
            # Indexes, unique constraints and links come with their CREATE TABLE.
            return _Diff(add_tables=list(self.metadata.sorted_tables))
        context = MigrationContext.configure(self.conn, opts={
            "compare_type": self._compare_type, "include_name": self._include_name,
            "target_metadata": self.metadata})
        result = _Diff()
        for entry in compare_metadata(context, self.metadata):
            for item in entry if isinstance(entry, list) else [entry]:
                self._sort(result, item)
        return result

    @staticmethod
    def _sort(result: _Diff, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "add_table":
            result.add_tables.append(item[1])
        elif kind == "remove_table":
            result.remove_tables.append(item[1])
        elif kind == "add_column":
            result.add_columns.setdefault(item[2], {})[item[3].name] = item[3]
        elif kind == "remove_column":
            result.remove_columns.setdefault(item[2], {})[item[3].name] = item[3]
        elif kind == "add_index":
            result.add_indexes.append(item[1])
        elif kind == "remove_index":
            result.remove_indexes.append(item[1])
        elif kind == "add_constraint" and isinstance(item[1], UniqueConstraint):
            result.add_uniques.append(item[1])
        elif kind == "remove_constraint" and isinstance(item[1], UniqueConstraint):
            result.remove_uniques.append(item[1])
        elif kind == "add_fk":
            result.add_fks.append(item[1])
        elif kind == "remove_fk":
            result.remove_fks.append(item[1])
        elif kind == "modify_type":
            result.types.append((item[2], item[3], item[5], item[6]))
        elif kind == "modify_nullable":
            result.nullables.append((item[2], item[3], item[4].get("existing_type"), item[6]))
        # server defaults and comments are not jxc's business: the model has neither

    # turning the difference into changes

    def changes(self) -> list[Change]:
        diff = self.diff()
        new_tables = {table.name for table in diff.add_tables}
        gone_tables = {table.name for table in diff.remove_tables}
        order = {table.name: index for index, table in enumerate(self.metadata.sorted_tables)}
        for table in sorted(diff.add_tables, key=lambda table: order.get(table.name, len(order))):
            self._create_table(self.metadata.tables[table.name])
        diff.add_indexes = [index for index in diff.add_indexes if index.table.name not in new_tables]
        diff.remove_indexes = [index for index in diff.remove_indexes if index.table.name not in gone_tables]
        diff.remove_uniques = [item for item in diff.remove_uniques if item.table.name not in gone_tables]
        diff.remove_fks = [item for item in diff.remove_fks if item.table.name not in gone_tables]
        self._renames(diff)
        for table, columns in diff.add_columns.items():
            for column in columns.values():
                self._add_column(diff, table, self.metadata.tables[table].c[column.name])
        for table, columns in diff.remove_columns.items():
            for column in columns.values():
                self._drop_column(diff, table, column, added=list(diff.add_columns.get(table, {})))
        for index in diff.remove_indexes:
            self._drop_index(index)
        for unique in diff.remove_uniques:
            self._drop_unique(unique)
        for fk in diff.remove_fks:
            self._drop_fk(fk)
        for table, column, existing, wanted in diff.types:
            self._type_change(table, column, column, existing, wanted)
        for table, column, existing, nullable in diff.nullables:
            self._nullable(table, column, existing, nullable)
        for index in diff.add_indexes:
            self._add_index(index)
        for unique in diff.add_uniques:
            self._add_unique(unique)
        for fk in diff.add_fks:
            self._add_fk(fk)
        for table in self._dependents_first(diff.remove_tables):
            self._drop_table(table)
        self.out.sort(key=lambda item: item[0])
        return [change for _phase, change in self.out]

    def _emit(self, phase: int, change: Change) -> None:
        if change.check is not None and change.refused is None:
            problem = change.check(self.conn)
            if problem:
                change = replace(change, refused=f"{change.checking}: {problem}", safe=False)
        self.out.append((phase, change))

    def _name(self, table: str, column: str | None = None) -> str:
        return f"{table}.{column}" if column else table

    def _what(self, table: str, column: str) -> str:
        return "field" if (table, column) in self.fields or column not in SYSTEM_COLUMNS else "column"

    # phase 0: new tables

    def _create_table(self, table: Table) -> None:
        entity = next((e for e in self.app.entities.values() if short_name(e.name) == table.name), None)
        if entity is not None and entity.kind is EntityKind.CHILD:
            about = f"for the rows of {entity.parent}.{entity.parent_field}"
        elif entity is not None:
            about = f"for the new entity {entity.name}"
        elif table.name.startswith("jxc_"):
            about = "(jxc's own)"
        elif "__" in table.name:
            about = "for a many-link field"
        else:
            about = ""

        def run(do: _Do) -> None:
            do.ops.impl.create_table(table)

        self._emit(0, Change("create_table", table.name, None, f"create table {table.name} {about}".strip(),
                             True, run=run))

    # phase 1: renames

    def _renames(self, diff: _Diff) -> None:
        for table, renamed in self.renames.items():
            added, removed = diff.add_columns.get(table, {}), diff.remove_columns.get(table, {})
            for new, old in renamed.items():
                if new in added and old in removed:
                    old_column = removed.pop(old)
                    del added[new]
                    self.renamed.setdefault(table, {})[new] = old
                    self._rename(diff, table, old, new, old_column)

    def _rename(self, diff: _Diff, table: str, old: str, new: str, old_column: Column) -> None:
        def mapped(names: list[str]) -> list[str]:
            return [new if name == old else name for name in names]

        index_pairs = _pairs(diff.remove_indexes, diff.add_indexes, table, old, mapped,
                             lambda r, a: bool(r.unique) == bool(a.unique))
        unique_pairs = _pairs(diff.remove_uniques, diff.add_uniques, table, old, mapped, lambda r, a: True)
        fk_pairs = _pairs(diff.remove_fks, diff.add_fks, table, old, mapped,
                          lambda r, a: _target_of(r) == _target_of(a))

        def run(do: _Do) -> None:
            do.ops.alter_column(table, old, new_column_name=new, existing_type=old_column.type)
            for removed, added in index_pairs:
                if do.sqlite:
                    do.ops.drop_index(removed.name, table_name=table)
                    do.ops.create_index(added.name, table, _columns_of(added), unique=bool(added.unique))
                else:
                    do.sql(f"ALTER INDEX {do.q(removed.name)} RENAME TO {do.q(added.name)}")
            if do.sqlite and unique_pairs:
                with do.batch(table) as batch:
                    for removed, added in unique_pairs:
                        batch.drop_constraint(removed.name, type_="unique")
                        batch.create_unique_constraint(added.name, _columns_of(added))
            elif not do.sqlite:
                for removed, added in unique_pairs + [(r, a) for r, a in fk_pairs if r.name and r.name != a.name]:
                    do.sql(f"ALTER TABLE {do.q(table)} RENAME CONSTRAINT {do.q(removed.name)} TO {do.q(added.name)}")

        self._emit(1, Change("rename_column", table, new,
                             f"rename {self._what(table, new)} '{old}' of {table} to '{new}' (renamed_from)",
                             True, run=run))
        model_column = self.metadata.tables[table].c[new]
        old_type = self.live_type(table, old, old_column.type, model_column.type)
        if old_type != column_type_of(model_column.type, self.dialect.name):
            self._type_change(table, new, old, old_column.type, model_column.type)

    # phase 2: things that get looser (dropping an index, a unique rule, a link check)

    def _drop_index(self, index: Index) -> None:
        table, columns = index.table.name, _columns_of(index)

        def run(do: _Do) -> None:
            do.ops.drop_index(index.name, table_name=table)

        kind = "unique index" if index.unique else "index"
        self._emit(2, Change("drop_index", table, None,
                             f"remove the {kind} {index.name} on {table} ({', '.join(columns)})", True, run=run))

    def _drop_unique(self, unique: UniqueConstraint) -> None:
        table, columns = unique.table.name, _columns_of(unique)

        def run(do: _Do) -> None:
            if do.sqlite:
                with do.batch(table) as batch:
                    batch.drop_constraint(unique.name, type_="unique")
            else:
                do.ops.drop_constraint(unique.name, table, type_="unique")

        refused = None if unique.name else "jxc cannot remove an unnamed unique constraint; remove it by hand"
        self._emit(2, Change("drop_unique", table, None,
                             f"stop requiring unique values of ({', '.join(columns)}) in {table}", True,
                             refused=refused, run=run))

    def _drop_fk(self, fk: ForeignKeyConstraint) -> None:
        table, columns = fk.table.name, _columns_of(fk)
        target, _ = _target_of(fk)

        def run(do: _Do) -> None:
            if do.sqlite:
                with do.batch(table) as batch:
                    batch.drop_constraint(fk.name, type_="foreignkey")
            else:
                do.ops.drop_constraint(fk.name, table, type_="foreignkey")

        refused = None if fk.name else "jxc cannot remove an unnamed foreign key; remove it by hand"
        self._emit(2, Change("drop_fk", table, columns[0],
                             f"stop checking that {table}.{', '.join(columns)} points to a record of {target}", True,
                             refused=refused, run=run))

    # phase 3: types and required values

    def _type_change(self, table: str, column: str, check_column: str, existing: TypeEngine[Any],
                     wanted: TypeEngine[Any]) -> None:
        """`column` is the name when the change runs; `check_column` its name now (they differ after a rename)."""
        old = self.live_type(table, check_column, existing, wanted)
        new = column_type_of(wanted, self.dialect.name)
        if old == new:
            return
        kind, guaranteed, value_check = _conversion(old, new)
        name = self._name(table, column)
        if kind is None:
            self._emit(3, Change("change_type", table, column, f"change {name} from {old} to {new}", False,
                                 refused=f"changing {name} from {old} to {new} is not something jxc can do safely; "
                                         f"add a new field, copy the values over, then remove '{column}'"))
            return
        if old.kind == "string" and new.kind == "string":
            span = f"from {old.length} to {new.length} characters"
        elif old.kind == "text" and new.kind == "string":
            span = f"from text of any length to {new.length} characters"
        else:
            span = f"from {old} to {new}"
        verb, gerund = {"widen_type": ("widen", "widening"), "narrow_type": ("narrow", "narrowing"),
                        "change_type": ("change", "changing")}[kind]
        description = f"{verb} {name} {span}"
        keys = self._keys(table)
        check = None
        if not guaranteed:
            check = _value_checker(self.dialect.name, table, check_column, keys, old, new, value_check, self.say)
            counted = self._count(f"SELECT count({_quote(self.dialect, check_column)}) "
                                  f"FROM {_quote(self.dialect, table)}")
            if counted:
                description += f" (checked: every existing value fits, {counted} in all)"

        def run(do: _Do) -> None:
            _convert(do, table, column, old, new, existing, wanted)

        self._emit(3, Change(kind, table, column, description, True, run=run, check=check,
                             checking=f"{gerund} {name} {span}"))

    def _nullable(self, table: str, column: str, existing: TypeEngine[Any], nullable: bool) -> None:
        name = self._name(table, column)

        def run(do: _Do) -> None:
            if do.sqlite:
                with do.batch(table) as batch:
                    batch.alter_column(column, nullable=nullable, existing_type=existing)
            else:
                do.ops.alter_column(table, column, nullable=nullable, existing_type=existing)

        if nullable:
            self._emit(3, Change("drop_not_null", table, column, f"allow {name} to be blank", True, run=run))
            return
        keys = self._keys(table)
        dialect = self.dialect

        def check(connection: Connection) -> str | None:
            q = _quote
            rows = connection.exec_driver_sql(
                f"SELECT {', '.join(q(dialect, k) for k in keys)} FROM {q(dialect, table)} "
                f"WHERE {q(dialect, column)} IS NULL ORDER BY {', '.join(q(dialect, k) for k in keys)}").all()
            if not rows:
                return None
            if len(rows) == 1:
                return f"{_record(keys, rows[0])} has no value"
            return f"{len(rows)} existing records have no value (first: {_record(keys, rows[0])})"

        self._emit(3, Change("set_not_null", table, column, f"require a value in {name}", True, run=run,
                             check=check, checking=f"requiring a value in {name}"))

    # phase 4: new columns

    def _add_column(self, diff: _Diff, table: str, model_column: Column) -> None:
        name = model_column.name
        fks = [fk for fk in diff.add_fks if fk.table.name == table and _columns_of(fk) == [name]]
        uniques = [u for u in diff.add_uniques if u.table.name == table and _columns_of(u) == [name]]
        indexes = [i for i in diff.add_indexes if i.table.name == table and _columns_of(i) == [name]]
        for item in fks:
            diff.add_fks.remove(item)
        for item in uniques:
            diff.add_uniques.remove(item)
        for item in indexes:
            diff.add_indexes.remove(item)
        notes = []
        if fks:
            notes.append(f"a link to {_target_of(fks[0])[0]}")
        if uniques or any(index.unique for index in indexes):
            notes.append("unique")
        elif indexes:
            notes.append("indexed")
        if not model_column.nullable:
            notes.append("required")
        description = f"add {self._what(table, name)} '{name}' to {table}" + (f" ({', '.join(notes)})" if notes else "")

        def run(do: _Do) -> None:
            column = Column(name, model_column.type, nullable=model_column.nullable)
            if do.sqlite and (fks or uniques or not model_column.nullable):
                with do.batch(table) as batch:
                    batch.add_column(column)
                    for fk in fks:
                        target, target_columns = _target_of(fk)
                        batch.create_foreign_key(fk.name, target, [name], target_columns, ondelete=fk.ondelete,
                                                 onupdate=fk.onupdate)
                    for unique in uniques:
                        batch.create_unique_constraint(unique.name, [name])
            else:
                do.ops.add_column(table, column)
                for fk in fks:
                    target, target_columns = _target_of(fk)
                    do.ops.create_foreign_key(fk.name, table, target, [name], target_columns, ondelete=fk.ondelete,
                                              onupdate=fk.onupdate)
                for unique in uniques:
                    do.ops.create_unique_constraint(unique.name, table, [name])
            for index in indexes:
                do.ops.create_index(index.name, table, [name], unique=bool(index.unique))

        check = None
        if not model_column.nullable:
            dialect = self.dialect

            def check(connection: Connection) -> str | None:
                rows = connection.exec_driver_sql(f"SELECT count(*) FROM {_quote(dialect, table)}").scalar_one()
                return f"its {rows} existing records would have no value" if rows else None

        self._emit(4, Change("add_column", table, name, description, True, run=run, check=check,
                             checking=f"adding required {self._what(table, name)} '{name}' to {table}"))

    # phase 5: new indexes, unique rules and links

    def _add_index(self, index: Index) -> None:
        table, columns = index.table.name, _columns_of(index)

        def run(do: _Do) -> None:
            do.ops.create_index(index.name, table, columns, unique=bool(index.unique))

        now = self._columns_now(table, columns)
        check = _duplicates_checker(self.dialect, table, now, self._keys(table)) if index.unique and now else None
        kind = "a unique index" if index.unique else "an index"
        self._emit(5, Change("add_index", table, None, f"add {kind} on {table} ({', '.join(columns)})", True,
                             run=run, check=check, checking=f"adding a unique index on {table} ({', '.join(columns)})"))

    def _add_unique(self, unique: UniqueConstraint) -> None:
        table, columns = unique.table.name, _columns_of(unique)

        def run(do: _Do) -> None:
            if do.sqlite:
                with do.batch(table) as batch:
                    batch.create_unique_constraint(unique.name, columns)
            else:
                do.ops.create_unique_constraint(unique.name, table, columns)

        shown = ", ".join(columns)
        now = self._columns_now(table, columns)
        check = _duplicates_checker(self.dialect, table, now, self._keys(table)) if now else None
        self._emit(5, Change("add_unique", table, None, f"require unique values of ({shown}) in {table}", True,
                             run=run, check=check,
                             checking=f"making ({shown}) unique in {table}"))

    def _add_fk(self, fk: ForeignKeyConstraint) -> None:
        table, columns = fk.table.name, _columns_of(fk)
        target, target_columns = _target_of(fk)

        def run(do: _Do) -> None:
            if do.sqlite:
                with do.batch(table) as batch:
                    batch.create_foreign_key(fk.name, target, columns, target_columns, ondelete=fk.ondelete,
                                             onupdate=fk.onupdate)
            else:
                do.ops.create_foreign_key(fk.name, table, target, columns, target_columns, ondelete=fk.ondelete,
                                          onupdate=fk.onupdate)

        name = self._name(table, ", ".join(columns))
        now = self._columns_now(table, columns)
        check = _orphans_checker(self.dialect, table, now, target, target_columns, self._keys(table),
                                 target in self.existing) if now else None
        self._emit(5, Change("add_fk", table, columns[0], f"check that every {name} points to a record of {target}",
                             True, run=run, check=check, checking=f"linking {name} to {target}"))

    # phases 6 and 7: drops (only with allow_drop, after a backup)

    def _drop_column(self, diff: _Diff, table: str, column: Column, added: list[str]) -> None:
        name = column.name
        indexes = [i for i in diff.remove_indexes if i.table.name == table and name in _columns_of(i)]
        uniques = [u for u in diff.remove_uniques if u.table.name == table and name in _columns_of(u)]
        fks = [fk for fk in diff.remove_fks if fk.table.name == table and name in _columns_of(fk)]
        for item in indexes:
            diff.remove_indexes.remove(item)
        for item in uniques:
            diff.remove_uniques.remove(item)
        for item in fks:
            diff.remove_fks.remove(item)
        keys = [key for key in self._keys(table) if key != name]
        backup = self._backup_name(f"{table}_{name}")
        values = self._count(f"SELECT count({_quote(self.dialect, name)}) FROM {_quote(self.dialect, table)}")
        what = self._what(table, name)

        def run(do: _Do) -> None:
            shown = ", ".join(do.q(key) for key in [*keys, name])
            do.sql(f"CREATE TABLE {do.q(backup)} AS SELECT {shown} FROM {do.q(table)}")
            for index in indexes:
                do.ops.drop_index(index.name, table_name=table)
            if do.sqlite:
                with do.batch(table) as batch:
                    for unique in uniques:
                        if unique.name:
                            batch.drop_constraint(unique.name, type_="unique")
                    for fk in fks:
                        if fk.name:
                            batch.drop_constraint(fk.name, type_="foreignkey")
                    batch.drop_column(name)
            else:
                for unique in uniques:
                    do.ops.drop_constraint(unique.name, table, type_="unique")
                for fk in fks:
                    do.ops.drop_constraint(fk.name, table, type_="foreignkey")
                do.ops.drop_column(table, name)

        data = f"would lose the data in {values} row{'s' if values != 1 else ''}" if values else "(it holds no values)"
        refused = None
        if not self.allow_drop:
            refused = (f"dropping {what} '{name}' from {table} {data}; run with --allow-drop to keep a backup table "
                       f"{backup} and drop it")
            if len(added) == 1:
                refused += (f" (if '{name}' was renamed to '{added[0]}', write 'renamed_from: {name}' under field "
                            f"'{added[0]}' instead)")
        held = f"{values} value{'s' if values != 1 else ''}" if values else "no values"
        self._emit(6, Change("drop_column", table, name,
                             f"drop {what} '{name}' from {table} ({held}; kept in backup table {backup})", False,
                             refused=refused, run=run))

    def _drop_table(self, table: Table) -> None:
        name = table.name
        rows = self._count(f"SELECT count(*) FROM {_quote(self.dialect, name)}")
        backup = self._backup_name(name)

        def run(do: _Do) -> None:
            do.sql(f"CREATE TABLE {do.q(backup)} AS SELECT * FROM {do.q(name)}")
            do.ops.drop_table(name)

        entity = f"entity '{name}'" if "__" not in name else f"many-link table '{name}'"
        refused = None
        if not self.allow_drop:
            refused = (f"removing {entity} would drop table {name} and lose its {rows} row{'s' if rows != 1 else ''}; "
                       f"run with --allow-drop to keep a backup table {backup} and drop it")
        self._emit(7, Change("drop_table", name, None,
                             f"drop table {name} ({rows} row{'s' if rows != 1 else ''}; kept in backup table {backup})",
                             False, refused=refused, run=run))

    def _dependents_first(self, tables: list[Table]) -> list[Table]:
        names = {table.name for table in tables}
        refers = {table.name: {fk["referred_table"] for fk in self.inspector.get_foreign_keys(table.name)} & names
                  for table in tables}
        ordered: list[Table] = []
        remaining = sorted(tables, key=lambda table: table.name)
        while remaining:
            # a table goes when no remaining table (other than itself) still refers to it
            pick = next((t for t in remaining
                         if not any(t.name in refers[o.name] for o in remaining if o is not t)), remaining[0])
            ordered.append(pick)
            remaining.remove(pick)
        return ordered

    # helpers

    def _keys(self, table: str) -> list[str]:
        if table not in self.existing:
            return ["id"]
        columns = [column["name"] for column in self.inspector.get_columns(table)]
        if "id" in columns:
            return ["id"]
        primary = self.inspector.get_pk_constraint(table).get("constrained_columns") or []
        return list(primary) or columns[:1]

    def _columns_now(self, table: str, columns: list[str]) -> list[str] | None:
        """The columns' names before this plan runs (its checks run then); None if one is new (all blank)."""
        if table not in self.existing:
            return None
        present = {column["name"] for column in self.inspector.get_columns(table)}
        now = [self.renamed.get(table, {}).get(column, column) for column in columns]
        return now if all(column in present for column in now) else None

    def _count(self, sql: str) -> int:
        return int(self.conn.exec_driver_sql(sql).scalar_one())

    def _backup_name(self, what: str) -> str:
        base = short_name(f"{BACKUP_PREFIX}{what}_{self.stamp}")
        name, number = base, 1
        while name in self.existing or name in self.backups:
            number += 1
            name = short_name(f"{BACKUP_PREFIX}{what}_{self.stamp}_{number}")
        self.backups.add(name)
        return name


def _pairs(removed: list[Any], added: list[Any], table: str, old: str, mapped: Callable[[list[str]], list[str]],
           same: Callable[[Any, Any], bool]) -> list[tuple[Any, Any]]:
    """Removed/added items that a column rename turns into each other (taken out of both lists)."""
    pairs = []
    for gone in [item for item in removed if item.table.name == table and old in _columns_of(item)]:
        match = next((item for item in added if item.table.name == table
                      and _columns_of(item) == mapped(_columns_of(gone)) and same(gone, item)), None)
        if match is not None:
            pairs.append((gone, match))
            removed.remove(gone)
            added.remove(match)
    return pairs


# --- checking existing values --------------------------------------------------------------------------------


_PHRASES = {
    "longer": ("is longer", "are longer"),
    "not_number": ("is not a number", "are not numbers"),
    "decimals": ("has more than {scale} decimal places", "have more than {scale} decimal places"),
    "too_large": ("has more than {digits} digits before the decimal point",
                  "have more than {digits} digits before the decimal point"),
    "not_whole": ("is not a whole number", "are not whole numbers"),
    "out_of_range": ("is too large for a {bits}-bit whole number", "are too large for a {bits}-bit whole number"),
}


def _conversion(old: ColumnType, new: ColumnType) -> tuple[str | None, bool, Callable[[Any], str | None] | None]:
    """(kind, guaranteed to keep every value, check of one existing value) for a type change; kind None: unsupported."""
    if old.family == "text" and new.family == "text":
        if new.kind == "text" or (old.kind == "string" and (old.length or 0) <= (new.length or 0)):
            return "widen_type", True, None
        limit = new.length or 0
        return "narrow_type", False, lambda value: "longer" if len(value) > limit else None
    if old.family == "number" and new.family == "number":
        check = _number_check(new)
        if old.kind == "int":
            digits = {16: 5, 32: 10, 64: 19}.get(old.bits or 64, 19)
            if new.kind == "int":
                return ("widen_type", True, None) if (new.bits or 64) >= (old.bits or 64) else ("narrow_type", False,
                                                                                                  check)
            return "widen_type", (new.precision or 0) - (new.scale or 0) >= digits, check
        if new.kind == "decimal":
            keeps = (new.scale or 0) >= (old.scale or 0) and \
                (new.precision or 0) - (new.scale or 0) >= (old.precision or 0) - (old.scale or 0)
            return ("widen_type", True, None) if keeps else ("narrow_type", False, check)
        return "narrow_type", False, check
    if old.family == "text" and new.family == "number":
        number_check = _number_check(new)

        def parse_check(value: str) -> str | None:
            text = value.strip(" ")
            if not text:
                return None
            if not _NUMBER.fullmatch(text):
                return "not_number"
            return number_check(Decimal(text))

        return "change_type", False, parse_check
    if old.family == "number" and new.family == "text":
        if new.kind == "text":
            return "change_type", True, None
        limit = new.length or 0
        return "change_type", False, lambda value: "longer" if len(_number_text(value)) > limit else None
    return None, False, None


def _number_check(new: ColumnType) -> Callable[[Decimal], str | None]:
    if new.kind == "int":
        limit = 2 ** ((new.bits or 64) - 1)

        def int_check(value: Decimal) -> str | None:
            if value != value.to_integral_value(context=_CTX):
                return "not_whole"
            return "out_of_range" if abs(value) >= limit else None

        return int_check
    quantum = Decimal(1).scaleb(-(new.scale or 0))
    bound = Decimal(10) ** ((new.precision or 0) - (new.scale or 0))

    def decimal_check(value: Decimal) -> str | None:
        if value != value.quantize(quantum, context=_CTX):
            return "decimals"
        return "too_large" if abs(value) >= bound else None

    return decimal_check


def _number_text(value: Decimal) -> str:
    return format(value, "f")


def _logical(raw: Any, old: ColumnType, dialect: str) -> Any:
    """A stored value as the model sees it: Decimal for numbers (SQLite stores decimals scaled), str for text."""
    if old.family == "number":
        number = Decimal(raw) if isinstance(raw, int | Decimal) else Decimal(str(raw))
        if dialect == "sqlite" and old.kind == "decimal":
            return number.scaleb(-(old.scale or 0), context=_CTX)
        return number
    return raw if isinstance(raw, str) else str(raw)


def _value_checker(dialect_name: str, table: str, column: str, keys: list[str], old: ColumnType, new: ColumnType,
                   check: Callable[[Any], str | None] | None, say: Progress) -> Callable[[Connection], str | None]:
    details = {"scale": new.scale, "digits": (new.precision or 0) - (new.scale or 0), "bits": new.bits}

    def run(connection: Connection) -> str | None:
        dialect = connection.dialect
        shown_keys = ", ".join(_quote(dialect, key) for key in keys)
        sql = (f"SELECT {shown_keys}, {_quote(dialect, column)} FROM {_quote(dialect, table)} "
               f"WHERE {_quote(dialect, column)} IS NOT NULL ORDER BY {shown_keys}")
        found: dict[str, list[Any]] = {}  # problem → [count, first value, first keys]
        rows = connection.exec_driver_sql(sql, execution_options={"stream_results": True, "yield_per": 5000})
        for seen, row in enumerate(rows, 1):
            if seen % 100_000 == 0:
                say(f"checking {table}.{column}: {seen} values so far")
            value = _logical(row[-1], old, dialect_name)
            problem = check(value) if check is not None else None
            if problem:
                entry = found.setdefault(problem, [0, value, row[:-1]])
                entry[0] += 1
        return "; ".join(_describe(problem, *entry, keys, details) for problem, entry in found.items()) or None

    return run


def _describe(problem: str, count: int, value: Any, key_values: Any, keys: list[str], details: dict[str, Any]) -> str:
    singular, plural = (phrase.format(**details) for phrase in _PHRASES[problem])
    return (f"value {_show(value)} in {_record(keys, key_values)} {singular}" if count == 1
            else f"{count} existing values {plural} (first: {_show(value)} in {_record(keys, key_values)})")


def _duplicates_checker(dialect: Dialect, table: str, columns: list[str],
                        keys: list[str]) -> Callable[[Connection], str | None]:
    def run(connection: Connection) -> str | None:
        q = connection.dialect.identifier_preparer.quote
        shown = ", ".join(q(column) for column in columns)
        not_null = " AND ".join(f"{q(column)} IS NOT NULL" for column in columns)
        groups = connection.exec_driver_sql(
            f"SELECT {shown}, count(*) FROM {q(table)} WHERE {not_null} GROUP BY {shown} HAVING count(*) > 1 "
            f"ORDER BY min({q(keys[0])})").all()
        if not groups:
            return None
        first = groups[0][:-1]
        where = " AND ".join(f"{q(column)} = :v{index}" for index, column in enumerate(columns))
        records = connection.execute(
            sqlalchemy.text(f"SELECT {q(keys[0])} FROM {q(table)} WHERE {where} ORDER BY {q(keys[0])}"),
            {f"v{index}": value for index, value in enumerate(first)}).scalars().all()
        shown_value = ", ".join(_show(value) for value in first)
        shown_records = ", ".join(str(record) for record in records[:5]) + (", …" if len(records) > 5 else "")
        if len(groups) == 1:
            return f"value {shown_value} appears in {len(records)} records ({shown_records})"
        return f"{len(groups)} values appear more than once (first: {shown_value} in records {shown_records})"

    return run


def _orphans_checker(dialect: Dialect, table: str, columns: list[str], target: str, target_columns: list[str],
                     keys: list[str], target_exists: bool) -> Callable[[Connection], str | None]:
    def run(connection: Connection) -> str | None:
        q = connection.dialect.identifier_preparer.quote
        shown_keys = ", ".join(f"t.{q(key)}" for key in keys)
        values = ", ".join(f"t.{q(column)}" for column in columns)
        not_null = " AND ".join(f"t.{q(column)} IS NOT NULL" for column in columns)
        if target_exists and target in inspect(connection).get_table_names():
            join = " AND ".join(f"p.{q(tc)} = t.{q(c)}" for c, tc in zip(columns, target_columns, strict=True))
            sql = (f"SELECT {shown_keys}, {values} FROM {q(table)} t LEFT JOIN {q(target)} p ON {join} "
                   f"WHERE {not_null} AND p.{q(target_columns[0])} IS NULL ORDER BY {shown_keys}")
        else:
            sql = f"SELECT {shown_keys}, {values} FROM {q(table)} t WHERE {not_null} ORDER BY {shown_keys}"
        rows = connection.exec_driver_sql(sql).all()
        if not rows:
            return None
        first = rows[0]
        pointed = ", ".join(str(value) for value in first[len(keys):])
        if len(rows) == 1:
            return f"{_record(keys, first[:len(keys)])} points to {target} {pointed}, which does not exist"
        return (f"{len(rows)} records point to a missing {target} (first: {_record(keys, first[:len(keys)])} "
                f"points to {pointed})")

    return run


def _show(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
        return f"'{shown}'"
    if isinstance(value, Decimal):
        return _number_text(value)
    return str(value)


def _record(keys: list[str], values: Any) -> str:
    values = list(values)
    if keys == ["id"]:
        return f"record {values[0]}"
    return "record " + ", ".join(f"{key}={_show(value)}" for key, value in zip(keys, values, strict=False))


def _quote(dialect: Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


# --- running changes -----------------------------------------------------------------------------------------


@dataclass
class _Do:
    """What a change's `run` works with: alembic operations on a live connection, or rendering SQL only."""

    ops: Operations
    sqlite: bool
    dialect: Dialect

    def q(self, name: str) -> str:
        return _quote(self.dialect, name)

    def sql(self, statement: str) -> None:
        self.ops.execute(statement)

    @contextmanager
    def batch(self, table: str) -> Iterator[Any]:
        """SQLite: recreate the table ("move and copy"); see the module docstring about foreign keys. The
        table's triggers go with the old table: they are created again on the new one."""
        bind = self.ops.get_bind()
        triggers = [sql for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND sql IS NOT NULL ORDER BY rowid",
            (table,))]
        created = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                       (table,)).scalar() or ""
        # AUTOINCREMENT (ids never reused) is not reflected: say it again, and keep the counter
        counter = "AUTOINCREMENT" in created.upper()
        options = {"sqlite_autoincrement": True} if counter else {}
        last = bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar() \
            if counter else None
        with self.ops.batch_alter_table(table, recreate="always", table_kwargs=options) as batch:
            yield batch
        if last is not None:
            self.sql(f"UPDATE sqlite_sequence SET seq = max(seq, {int(last)}) WHERE name = '{table}'")
        for sql in triggers:
            self.sql(sql)


def _convert(do: _Do, table: str, column: str, old: ColumnType, new: ColumnType, existing: TypeEngine[Any],
             wanted: TypeEngine[Any]) -> None:
    t, c = do.q(table), do.q(column)
    if do.sqlite:
        if old.family == "number" and new.family == "number":
            shift = new.decimals - old.decimals  # both are stored as BIGINT holding value x 10^scale
            if shift > 0:
                do.sql(f"UPDATE {t} SET {c} = {c} * {10 ** shift} WHERE {c} IS NOT NULL")
            elif shift < 0:
                do.sql(f"UPDATE {t} SET {c} = {c} / {10 ** -shift} WHERE {c} IS NOT NULL")
            return
        if old.family == "text" and new.family == "number":
            # first the exact scaled integer, still as text; the copy's CAST(... AS BIGINT) then keeps it exactly
            do.sql(f"UPDATE {t} SET {c} = jxc_migrate_number({c}, {new.decimals}) WHERE {c} IS NOT NULL")
        with do.batch(table) as batch:
            batch.alter_column(column, type_=_physical_type(wanted, "sqlite"), existing_type=existing)
        if old.family == "number" and new.family == "text" and old.decimals:
            do.sql(f"UPDATE {t} SET {c} = jxc_migrate_text({c}, {old.decimals}) WHERE {c} IS NOT NULL")
        return
    using = None
    target = wanted.compile(dialect=do.dialect)
    if old.family == "text" and new.family == "number":
        using = f"CAST(NULLIF(btrim({c}), '') AS {target})"
    elif old.family == "number" and new.family == "text":
        using = f"CAST({c} AS {target})"
    do.ops.alter_column(table, column, type_=wanted, existing_type=existing, postgresql_using=using)


def _migrate_number(value: Any, scale: int) -> int | None:
    if value is None:
        return None
    text = str(value).strip(" ")
    if not text:
        return None
    return int(Decimal(text).scaleb(scale, context=_CTX).to_integral_value(context=_CTX))


def _migrate_text(value: Any, scale: int) -> str | None:
    if value is None:
        return None
    return _number_text(Decimal(int(value)).scaleb(-scale, context=_CTX))


def _sqlite_functions(dbapi_connection: Any) -> None:
    dbapi_connection.create_function("jxc_migrate_number", 2, _migrate_number, deterministic=True)
    dbapi_connection.create_function("jxc_migrate_text", 2, _migrate_text, deterministic=True)


def _operations(connection: Connection, metadata: MetaData) -> Operations:
    return Operations(MigrationContext.configure(connection, opts={"target_metadata": metadata}))


@contextmanager
def _capture(connection: Connection, statements: list[str]) -> Iterator[None]:
    """Collect the statements a change runs (not the reflection queries batch mode makes)."""

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip()[:6].upper()
        if not head.startswith(("SELECT", "PRAGMA")):
            statements.append(_tidy(statement))

    event.listen(connection, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(connection, "before_cursor_execute", hook)


def _tidy(statement: str) -> str:
    lines = [line.rstrip() for line in statement.replace("\t", "    ").strip().rstrip(";").splitlines()]
    return "\n".join(line for line in lines if line.strip())


class _Output:
    """alembic's offline ("as_sql") output, one statement per write."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def write(self, text: str) -> None:
        if text.strip():
            self.statements.append(_tidy(text))

    def flush(self) -> None:
        pass


def _render(changes: list[Change], connection: Connection, metadata: MetaData) -> list[Change]:
    """Fill in each change's SQL. PostgreSQL: alembic's offline mode. SQLite: run on an empty copy of the schema
    (batch mode needs the table as it is at that point of the plan)."""
    if not changes:
        return changes
    rendered: list[Change] = []
    if connection.dialect.name != "sqlite":
        output = _Output()
        context = MigrationContext.configure(dialect=connection.dialect, opts={
            "as_sql": True, "output_buffer": output, "target_metadata": metadata})
        do = _Do(Operations(context), False, connection.dialect)
        for change in changes:
            output.statements = []
            if change.run is None:
                rendered.append(change)
                continue
            try:
                change.run(do)
            except Exception as error:
                change = _cannot(change, error)
            rendered.append(replace(change, sql=tuple(output.statements)))
        return rendered
    scratch = sqlalchemy.create_engine("sqlite://", poolclass=StaticPool)
    try:
        with scratch.connect() as copy:
            for (sql,) in connection.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                    "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"):
                copy.exec_driver_sql(sql)
            _sqlite_functions(copy.connection.dbapi_connection)
            install_sqlite_functions(copy.connection.dbapi_connection, builtin_registry())  # views may use them
            do = _Do(_operations(copy, metadata), True, copy.dialect)
            for change in changes:
                statements: list[str] = []
                if change.run is None:
                    rendered.append(change)
                    continue
                try:
                    with _capture(copy, statements):
                        change.run(do)
                except Exception as error:
                    change = _cannot(change, error)
                rendered.append(replace(change, sql=tuple(statements)))
    finally:
        scratch.dispose()
    return rendered


def _cannot(change: Change, error: Exception) -> Change:
    if change.refused:
        return change
    return replace(change, safe=False,
                   refused=f"jxc cannot make this change automatically ({change.description}): {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction around everything. SQLite: foreign keys off before BEGIN (they cannot change inside one)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")  # on the DB-API connection: SQLAlchemy would BEGIN first
        try:
            with connection.begin():
                if not raw.in_transaction:  # an engine without jxc's "begin" hook
                    raw.execute("BEGIN IMMEDIATE")
                _sqlite_functions(raw)
                yield connection
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def _foreign_key_tables(connection: Connection, changed: set[str]) -> set[str]:
    """The changed tables and those whose links point into them: where a change could break a foreign key."""
    inspector = inspect(connection)
    watched = set(changed)
    for table in inspector.get_table_names():
        if any(fk["referred_table"] in changed for fk in inspector.get_foreign_keys(table)):
            watched.add(table)
    return watched


def _foreign_key_violations(connection: Connection, tables: set[str]) -> set[tuple[str, Any, str]]:
    """SQLite's foreign_key_check for `tables` (those that exist now)."""
    found: set[tuple[str, Any, str]] = set()
    if not tables:
        return found
    existing = set(inspect(connection).get_table_names())
    for table in sorted(tables & existing):
        rows = connection.exec_driver_sql(f"PRAGMA foreign_key_check({_quote(connection.dialect, table)})")
        found |= {(str(row[0]), row[1], str(row[2])) for row in rows}
    return found


def _recheck(plan: Plan, connection: Connection, say: Progress) -> None:
    """The checks again, inside the transaction (data may have changed since the plan was made)."""
    checked = [change for change in plan.changes if change.check is not None]
    if not checked:
        return
    if connection.dialect.name == "postgresql":
        tables = sorted({change.table for change in checked}
                        & set(inspect(connection).get_table_names()))
        for table in tables:  # no writes from others between the check and the change
            connection.exec_driver_sql(f"LOCK TABLE {_quote(connection.dialect, table)} IN SHARE MODE")
    refused = []
    for change in checked:
        say(f"checking: {change.description}")
        assert change.check is not None
        problem = change.check(connection)
        if problem:
            refused.append(replace(change, refused=f"{change.checking}: {problem}", safe=False))
    if refused:
        raise MigrationRefused(refused)


def _write_log(connection: Connection, plan: Plan, version: str, applied_at: dt.datetime,
            applied: list[AppliedChange]) -> None:
    types = plan.metadata.tables[COLUMN_TYPES_TABLE]
    connection.execute(types.delete())
    connection.execute(types.insert(), [{"table_name": table, "column_name": column, "type": code}
                                        for (table, column), code in sorted(plan.column_types.items())])
    if applied:
        log = plan.metadata.tables[MIGRATION_TABLE]
        connection.execute(log.insert(), [
            {"applied_at": applied_at, "app_name": plan.app_name, "app_version": version, "kind": change.kind,
             "description": change.description, "ddl": ";\n".join(change.sql) + (";" if change.sql else "")}
            for change in applied])
