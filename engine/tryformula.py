"""`jxc formula`: try a formula on a record before saving it, in Python and (with --db) in the database.

With --db, the record goes into temporary tables inside a transaction that is rolled back, so the database
is left exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, MetaData, Table, Text, select
from sqlalchemy.engine import Engine

from dsl.formula import ir
from dsl.formula.catalog import Catalog, EntityInfo
from dsl.formula.context import SimpleContext
from dsl.formula.sqlcompile import SqlCompiler
from dsl.formula.types import Kind, Type
from dsl.sqltypes import ExactDecimal


class RecordError(ValueError):
    """The --record JSON does not fit the entity; the message names the field."""


def parse_record(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise RecordError(f"--record is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") \
            from None
    if not isinstance(value, dict):
        raise RecordError("--record must be a JSON object, like {\"qty\": 2, \"price\": \"3.10\"}")
    return value


def coerce_record(catalog: Catalog, entity: str, values: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """JSON values as the field types want them (decimals exact, dates parsed); unknown fields are refused."""
    info = catalog.entity(entity)
    assert info is not None
    unknown = [key for key in values if key not in info.fields]
    if unknown:
        raise RecordError(f"--record: {entity} has no field '{path}{unknown[0]}'")
    record: dict[str, Any] = {name: None for name in info.fields if info.fields[name].type.kind is not Kind.ROWS}
    for name, value in values.items():
        record[name] = _coerce(catalog, info.fields[name].type, value, f"{path}{name}")
    return record


def _coerce(catalog: Catalog, type_: Type, value: Any, where: str) -> Any:
    if value is None:
        return None
    kind = type_.kind
    try:
        if kind is Kind.TEXT and isinstance(value, str):
            return value
        if kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is Kind.DECIMAL and isinstance(value, int | Decimal | str) and not isinstance(value, bool):
            return Decimal(str(value))
        if kind is Kind.BOOL and isinstance(value, bool):
            return value
        if kind is Kind.DATE and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if kind is Kind.DATETIME and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if kind is Kind.RECORD and type_.entity:
            if isinstance(value, dict):
                return coerce_record(catalog, type_.entity, value, f"{where}.")
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        if kind is Kind.ROWS and isinstance(value, list) and type_.entity:
            return [coerce_record(catalog, type_.entity, row, f"{where}[{i}].") if isinstance(row, dict)
                    else _bad(where, type_) for i, row in enumerate(value)]
        if kind is Kind.LIST and isinstance(value, list):
            return list(value)
    except (ValueError, InvalidOperation):
        pass
    return _bad(where, type_)


def _bad(where: str, type_: Type) -> Any:
    examples = {Kind.DATE: '"2026-01-31"', Kind.DATETIME: '"2026-01-31 08:00:00"', Kind.DECIMAL: '"12.50"',
                Kind.INT: "3", Kind.BOOL: "true", Kind.TEXT: '"text"', Kind.RECORD: "an object or an id",
                Kind.ROWS: "a list of objects"}
    raise RecordError(f"--record: {where} must be {type_} (e.g. {examples.get(type_.kind, '…')})")


# --- evaluation in a database -------------------------------------------------------------------------


class _TempTables:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.metadata = MetaData()

    def table(self, entity: str) -> Table:
        if entity in self.metadata.tables:
            return self.metadata.tables[entity]
        info = self.catalog.entity(entity)
        assert info is not None
        columns = [Column("id", BigInteger, primary_key=True)]
        if info.parent:
            columns.append(Column("parent_id", BigInteger))
        for name, field in info.fields.items():
            if name in ("id", "parent_id"):
                continue
            column_type = _column_type(field.type, field.scale)
            if column_type is not None:
                columns.append(Column(name, column_type))
        return Table(entity, self.metadata, *columns, prefixes=["TEMPORARY"])


def _column_type(type_: Type, scale: int | None) -> Any:
    return {
        Kind.TEXT: Text(), Kind.INT: BigInteger(), Kind.DECIMAL: ExactDecimal(18, scale if scale is not None else 6),
        Kind.BOOL: Boolean(), Kind.DATE: Date(), Kind.DATETIME: DateTime(), Kind.RECORD: BigInteger(),
    }.get(type_.kind)


def evaluate_in_database(engine: Engine, expr: ir.Expr, catalog: Catalog, entity: str | None,
                         record: Mapping[str, Any] | None, context: SimpleContext) -> Any:
    tables = _TempTables(catalog)
    compiler = SqlCompiler(tables, engine.dialect.name, context)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            if entity is None:
                return connection.execute(select(compiler.value(expr))).scalar()
            main = tables.table(entity)
            for table in _needed(catalog, entity, tables):
                table.create(connection)
            row_id = _insert(connection, tables, catalog, entity, record or {}, None, [1])
            return connection.execute(select(compiler.value(expr, main)).where(main.c.id == row_id)).scalar()
        finally:
            transaction.rollback()


def _needed(catalog: Catalog, entity: str, tables: _TempTables) -> list[Table]:
    seen: dict[str, Table] = {}
    stack = [entity]
    while stack:
        name = stack.pop()
        if name in seen or catalog.entity(name) is None:
            continue
        seen[name] = tables.table(name)
        info = catalog.entity(name)
        assert isinstance(info, EntityInfo)
        for field in info.fields.values():
            if field.type.kind in (Kind.RECORD, Kind.ROWS) and field.type.entity:
                stack.append(field.type.entity)
        if info.parent:
            stack.append(info.parent)
    return list(seen.values())


def _insert(connection: Any, tables: _TempTables, catalog: Catalog, entity: str, record: Mapping[str, Any],
            parent: int | None, ids: list[int]) -> int:
    info = catalog.entity(entity)
    assert info is not None
    table = tables.table(entity)
    row_id = ids[0]
    ids[0] += 1
    values: dict[str, Any] = {"id": row_id}
    if parent is not None and "parent_id" in table.c:
        values["parent_id"] = parent
    children: list[tuple[str, list[Any]]] = []
    for name, value in record.items():
        field = info.fields.get(name)
        if field is None or name in ("id", "parent_id"):
            continue
        if field.type.kind is Kind.ROWS and field.type.entity:
            children.append((field.type.entity, value or []))
        elif field.type.kind is Kind.RECORD and isinstance(value, Mapping) and field.type.entity:
            values[name] = _insert(connection, tables, catalog, field.type.entity, value, None, ids)
        elif name in table.c:
            values[name] = value
    connection.execute(table.insert().values(**values))
    for child, rows in children:
        for row in rows:
            _insert(connection, tables, catalog, child, row, row_id, ids)
    return row_id
