"""Lists of records: a filter in the formula language (run as SQL), search, sort and keyset pagination.

Pages are cut by the sort values of the last row (a cursor), not by OFFSET: page 500 costs what page 1
costs, and records added meanwhile do not shift what the next page shows.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.engine import Connection

from dsl.formula import ir
from dsl.formula.checker import Checker
from dsl.formula.errors import FormulaError
from dsl.formula.parser import parse
from dsl.formula.sqlcompile import NoSqlForm, SqlCompiler
from dsl.formula.types import Kind
from dsl.model import Entity, FieldType
from engine.context import CurrentUser, EngineContext
from engine.errors import InvalidQuery
from engine.messages import Message
from engine.schema import Schema

MAX_PAGE = 500


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next: str | None  # the cursor for the following page, None on the last one
    sort: list[str] = field(default_factory=list)


class _UserContext:
    """The evaluation context the SQL compiler binds: the clock and the user."""

    def __init__(self, clock: Any, user: CurrentUser) -> None:
        self._clock = clock
        self._user = user

    def today(self) -> dt.date:
        return self._clock.today()

    def now(self) -> dt.datetime:
        return self._clock.now()

    def current_user(self) -> Any:
        return self._user.record

    def fetch(self, entity: str, key: Any) -> Any:  # pragma: no cover - SQL never fetches
        return None


def compiler_for(connection: Connection, schema: Schema, user: CurrentUser, clock: Any = None) -> SqlCompiler:
    from engine.context import Clock

    return SqlCompiler(schema, connection.dialect.name, _UserContext(clock or Clock(), user))


def list_records(session: Any, connection: Connection, context: EngineContext, entity: Entity, *,
                 filter: str | None = None, search: str | None = None, sort: list[str] | str | None = None,
                 after: str | None = None, limit: int = 50) -> Page:
    records = session.records
    table = records.schema.tables[entity.name]
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(Message("a page holds 1 to {most} records, not {limit}", most=MAX_PAGE, limit=limit))
    compiler = compiler_for(connection, records.schema, session.user, records.clock)
    conditions = [session.access.row_condition(entity, table, connection)]
    if filter:
        conditions.append(_filter(records.app, compiler, entity, table, filter, session.access))
    if search:
        conditions.append(_search(entity, table, search, session.access))
    keys = _sort_keys(entity, table, sort, session.access)
    if after:
        conditions.append(_after(keys, _decode(after, keys)))
    order = []
    for column, descending in keys:
        order.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
    query = select(table).where(and_(*conditions)).order_by(*order).limit(limit + 1)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = _encode([rows[-1][column.name] for column, _ in keys]) if more and rows else None
    shown = [session.access.shown(entity, row) for row in rows]
    return Page(shown, cursor, [("-" if d else "") + c.name for c, d in keys])


def _filter(app: Any, compiler: SqlCompiler, entity: Entity, table: Any, text: str, access: Any) -> Any:
    try:
        expr = Checker(app.catalog, app.registry, entity.name).check(parse(text))
    except FormulaError as error:
        problem = Message("{problem} ({hint})", problem=error.message, hint=error.hint) if error.hint \
            else error.message
        raise InvalidQuery(Message("filter, column {column}: {problem}", column=error.position + 1,
                                   problem=problem)) from None
    for node in ir.walk(expr):  # a hidden field cannot be seen through a filter either
        if isinstance(node, ir.FieldRef | ir.Follow) and node.entity in app.entities \
                and access.field_access(node.entity, node.field) == "hidden":
            raise InvalidQuery(Message("filter, column {column}: {problem}", column=node.start + 1,
                                       problem=Message("{entity} has no field '{name}'", entity=node.entity,
                                                       name=node.field)))
    if expr.type.kind not in (Kind.BOOL, Kind.NULL):
        raise InvalidQuery(Message("the filter must be a condition (TRUE/FALSE), but it gives {type}",
                                   type=expr.type.describe()))
    try:
        return compiler.condition(expr, table)
    except NoSqlForm as error:
        raise InvalidQuery(Message("this filter cannot run in the database: {error}", error=str(error))) from None


def _search(entity: Entity, table: Any, text: str, access: Any) -> Any:
    names = list(entity.search) or [n for n in (entity.key, entity.title, "doc_no") if n and n in table.c]
    names = [n for n in names if n in table.c and (n == "doc_no" or entity.fields[n].type in (
        FieldType.STRING, FieldType.TEXT, FieldType.CHOICE)) and access.field_access(entity.name, n) != "hidden"]
    if not names:
        return true()
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(*(table.c[name].ilike(pattern, escape="\\") for name in names))


def _sort_keys(entity: Entity, table: Any, sort: list[str] | str | None, access: Any) -> list[tuple[Any, bool]]:
    items = sort.split(",") if isinstance(sort, str) else list(sort or ())
    keys = []
    for item in items:
        item = item.strip()
        descending = item.startswith("-")
        name = item.lstrip("-+")
        if name not in table.c or name in ("parent_id",) or (
                name in entity.fields and access.field_access(entity.name, name) == "hidden"):
            raise InvalidQuery(Message("cannot sort by '{name}': {entity} has no such column", name=name,
                                       entity=entity.name))
        keys.append((table.c[name], descending))
    if not any(column.name == "id" for column, _ in keys):
        keys.append((table.c.id, bool(keys and keys[0][1])))  # newest first by default for documents
    if len(keys) == 1 and not items:
        keys = [(table.c.id, entity.is_document)]
    return keys


def _after(keys: list[tuple[Any, bool]], values: list[Any]) -> Any:
    """Rows strictly after the cursor in the (sort..., id) order, blanks last."""
    clauses = []
    for index, (column, descending) in enumerate(keys):
        value = values[index]
        equal = [keys[i][0].is_(None) if values[i] is None else keys[i][0] == values[i] for i in range(index)]
        if value is None:
            continue  # nothing sorts after a blank in this column (blanks are last): go to the next column
        beyond = column < value if descending else column > value
        clauses.append(and_(*equal, or_(beyond, column.is_(None))))
    return or_(*clauses) if clauses else false()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"d": format(value, "f")}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"D": value.isoformat()}
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if "d" in value:
            return Decimal(value["d"])
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        if "D" in value:
            return dt.date.fromisoformat(value["D"])
    return value


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([_plain(v) for v in values]).encode()).decode().rstrip("=")


def _decode(cursor: str, keys: list[tuple[Any, bool]]) -> list[Any]:
    invalid = InvalidQuery(Message("the page cursor is not valid; start again from the first page"))
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list):
            values = [_unplain(v) for v in values]
    except (ValueError, UnicodeDecodeError, ArithmeticError):  # bad base64, JSON, number or date
        raise invalid from None
    if not isinstance(values, list) or len(values) != len(keys):
        raise InvalidQuery(Message("the page cursor does not fit this sort order; start again from the first page"))
    for value, (column, _) in zip(values, keys, strict=True):  # a value of another type would fail in SQL
        if value is not None and not isinstance(value, _python_type(column)):
            raise invalid
    return values


def _python_type(column: Any) -> type | tuple[type, ...]:
    try:
        kind = column.type.python_type
    except NotImplementedError:  # pragma: no cover - every column type of jxc has one
        return object
    return (int, Decimal) if kind is Decimal else kind
