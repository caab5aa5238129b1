"""Tables built at run time from the checked app model (SQLAlchemy Core).

One table per entity, named like it; a table field's rows in their own table (`<entity>_<field>`, with
`parent_id` and `idx`); a many-link in a junction table (`<entity>__<field>`). jxc's own tables start with
`jxc_`. Constraint names follow one convention, so migration compares them reliably across databases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from dsl.model import App, Entity, EntityKind, Field, FieldType
from dsl.sqltypes import ExactDecimal

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}
MAX_NAME = 63  # PostgreSQL truncates longer identifiers
DOCSTATUS = ("draft", "submitted", "cancelled")
# SQLite only auto-numbers an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
USER_TABLE = "jxc_user"


def short_name(name: str) -> str:
    """`name` as a database identifier: as is when short enough, else cut and made unique with a hash."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def junction_name(entity: str, field_name: str) -> str:
    return short_name(f"{entity}__{field_name}")


def column_type(field_def: Field) -> TypeEngine:
    kind = field_def.type
    if kind is FieldType.STRING:
        return String(field_def.max_length or 140)
    if kind is FieldType.TEXT:
        return Text()
    if kind is FieldType.INT:
        return BigInteger()
    if kind in (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT):
        return ExactDecimal(field_def.precision or 18, field_def.scale if field_def.scale is not None else 2)
    if kind is FieldType.BOOL:
        return Boolean(create_constraint=False)
    if kind is FieldType.DATE:
        return Date()
    if kind is FieldType.DATETIME:
        return DateTime()
    if kind is FieldType.CHOICE:
        return String(max(64, *(len(choice.value) for choice in field_def.options)) if field_def.options else 64)
    if kind is FieldType.ATTACHMENT:
        return String(500)
    if kind is FieldType.LINK:
        return BigInteger()
    raise ValueError(f"{kind} has no column")


@dataclass
class Schema:
    """The tables of one app, and how entities and fields map onto them."""

    metadata: MetaData
    tables: dict[str, Table] = field(default_factory=dict)  # entity → table
    junctions: dict[tuple[str, str], Table] = field(default_factory=dict)  # (entity, many-link field) → table
    users: Table | None = None
    user_junctions: dict[str, Table] = field(default_factory=dict)
    audit: Table | None = None
    series: Table | None = None
    demo: Table | None = None
    stock: dict[str, Table] = field(default_factory=dict)  # the inventory engine's (engine.stock.tables)
    system_tables: dict[str, Table] = field(default_factory=dict)  # system entities formulas read

    def table(self, entity: str) -> Table:
        """The table of `entity` (the formula SQL compiler calls this; `user` is jxc's user table)."""
        if entity == "user" and self.users is not None:
            return self.users
        if entity in self.system_tables:
            return self.system_tables[entity]
        return self.tables[entity]

    def many_link(self, entity: str, field_name: str) -> Table | None:
        """The junction table of a many-link field (owner_id → target_id), for the SQL compiler."""
        if entity == "user":
            return self.user_junctions.get(field_name)
        return self.junctions.get((entity, field_name))


def build_schema(app: App, metadata: MetaData | None = None) -> Schema:
    schema = Schema(metadata or MetaData(naming_convention=NAMING_CONVENTION))
    schema.users = _user_table(app, schema)
    schema.audit = Table(
        "jxc_audit", schema.metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("at", DateTime, nullable=False),
        Column("user_id", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="SET NULL")),
        Column("entity", String(63), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("action", String(63), nullable=False),
        Column("changes", Text),
        Column("comment", Text),
        Index(None, "entity", "record_id"),
        sqlite_autoincrement=True,
    )
    schema.demo = Table(
        "jxc_demo", schema.metadata,
        Column("entity", String(63), primary_key=True),
        Column("position", Integer, primary_key=True),  # the record's place in the app's demo list
        Column("record_id", BigInteger, nullable=False),
    )
    schema.series = Table(
        "jxc_series", schema.metadata,
        Column("key", String(100), primary_key=True),  # the pattern with its date parts filled in
        Column("last", BigInteger, nullable=False),
    )
    for entity in _parents_first(app):
        schema.tables[entity.name] = _entity_table(app, entity, schema)
    from engine.stock.tables import add_stock_tables

    add_stock_tables(app, schema)
    from engine.notify.tables import add_notify_tables

    add_notify_tables(schema)
    from engine.web.api.tables import add_api_tables

    add_api_tables(schema)  # API tokens and batch idempotency keys
    for entity in app.entities.values():
        for field_def in entity.fields.values():
            if field_def.type is FieldType.LINK and field_def.many:
                schema.junctions[(entity.name, field_def.name)] = _junction(schema.metadata, entity.name,
                                                                            field_def, _target(field_def))
    return schema


def _parents_first(app: App) -> Iterable[Entity]:
    tops = [e for e in app.entities.values() if e.kind is not EntityKind.CHILD]
    children = [e for e in app.entities.values() if e.kind is EntityKind.CHILD]
    return [*tops, *children]


def _target(field_def: Field) -> str:
    return USER_TABLE if field_def.link == "user" else str(field_def.link)


def _user_table(app: App, schema: Schema) -> Table:
    columns = [
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("name", String(100), nullable=False, unique=True),
        Column("full_name", String(140)),
        Column("email", String(254)),
        Column("password_hash", String(255)),
        Column("active", Boolean(create_constraint=False), nullable=False, default=True),
        Column("created_at", DateTime, nullable=False),
    ]
    for name, field_def in app.user_fields.items():
        if field_def.type is FieldType.LINK and field_def.many:
            continue
        columns.append(_field_column(name, field_def))
    table = Table(USER_TABLE, schema.metadata, *columns, sqlite_autoincrement=True)
    Table("jxc_user_role", schema.metadata,
          Column("user_id", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), primary_key=True),
          Column("role", String(63), primary_key=True))
    for name, field_def in app.user_fields.items():
        if field_def.type is FieldType.LINK and field_def.many:
            schema.user_junctions[name] = _junction(schema.metadata, USER_TABLE, field_def, _target(field_def),
                                                    owner_table=USER_TABLE)
    return table


def _field_column(name: str, field_def: Field) -> Column:
    kind = column_type(field_def)
    if field_def.type is FieldType.LINK:
        # RESTRICT: a record others point to cannot be deleted (the service layer names the referrers first).
        return Column(name, kind, ForeignKey(f"{_target(field_def)}.id", ondelete="RESTRICT"), index=True)
    return Column(name, kind, unique=field_def.unique or None, index=field_def.index or None)


def _entity_table(app: App, entity: Entity, schema: Schema) -> Table:
    columns: list[Column] = [Column("id", ID_TYPE, primary_key=True, autoincrement=True)]
    constraints: list[object] = []
    if entity.kind is EntityKind.CHILD:
        columns += [
            Column("parent_id", ID_TYPE, ForeignKey(f"{entity.parent}.id", ondelete="CASCADE"), nullable=False,
                   index=True),
            Column("idx", Integer, nullable=False),
        ]
        if _made_from_anything(app, entity):
            columns.append(Column("made_from_line", BigInteger))
    else:
        if entity.kind is EntityKind.DOCUMENT:
            columns += [
                Column("doc_no", String(64), unique=True),  # given at submit: drafts have none
                Column("docstatus", String(16), nullable=False, default="draft"),
                Column("amended_from", ID_TYPE, ForeignKey(f"{entity.name}.id", ondelete="RESTRICT"), index=True),
            ]
            constraints.append(CheckConstraint("docstatus IN ('draft', 'submitted', 'cancelled')",
                                               name="docstatus"))
            if entity.make_from:
                columns += [Column("made_from_entity", String(63)), Column("made_from_id", BigInteger)]
        state_field = _workflow_field(app, entity.name)
        if state_field and state_field not in entity.fields:
            columns.append(Column(state_field, String(64), index=True))
        columns += [
            Column("created_at", DateTime, nullable=False),
            Column("created_by", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="RESTRICT")),
            Column("modified_at", DateTime, nullable=False),
            Column("modified_by", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="RESTRICT")),
            Column("version", Integer, nullable=False, default=1),
        ]
    for name, field_def in entity.fields.items():
        if field_def.type is FieldType.TABLE or (field_def.type is FieldType.LINK and field_def.many):
            continue
        columns.append(_field_column(name, field_def))
    for group in entity.unique:
        constraints.append(UniqueConstraint(*group))
    # AUTOINCREMENT: SQLite would otherwise give a deleted record's id to the next one, mixing audit histories.
    table = Table(short_name(entity.name), schema.metadata, *columns, *constraints,  # type: ignore[arg-type]
                  sqlite_autoincrement=True)
    for group in entity.indexes:
        Index(None, *(table.c[name] for name in group))
    if entity.kind is EntityKind.DOCUMENT:
        Index(None, table.c.docstatus, table.c.id)
    return table


def _made_from_anything(app: App, child: Entity) -> bool:
    parent = app.entities.get(child.parent or "")
    return bool(parent and parent.make_from)


def _workflow_field(app: App, entity: str) -> str | None:
    for workflow in app.workflows.values():
        if workflow.entity == entity:
            return workflow.state_field
    return None


def _junction(metadata: MetaData, owner: str, field_def: Field, target: str, owner_table: str | None = None) -> Table:
    return Table(
        junction_name(owner, field_def.name), metadata,
        Column("owner_id", ID_TYPE, ForeignKey(f"{owner_table or owner}.id", ondelete="CASCADE"), primary_key=True),
        Column("target_id", ID_TYPE, ForeignKey(f"{target}.id", ondelete="RESTRICT"), primary_key=True, index=True),
        Column("idx", Integer, nullable=False, default=0),
    )
