"""The numbers behind a dashboard: each widget is one SQL query compiled from its formulas, run as the user.

A widget (dsl.model.Widget) reads like a small report: `filter` keeps records, `group_by` names the groups,
`values` aggregates each group's records, `sort`/`limit` pick the top ones. Here that becomes

    SELECT <group formulas>, <value aggregates> FROM <entity> WHERE <filter> AND <user's row rules>
    GROUP BY 1, 2 ...            -- by position: a group formula with parameters (TODAY()) is not repeated

wrapped in an outer SELECT that sorts and limits, so the database does the work however many records there
are. The user's permissions apply as everywhere else: a widget over an entity they may not read, or whose
formulas use a field hidden from them, is shown as not permitted instead of its numbers; their row rules
limit what is counted. A widget over the rows of a document's table (`sales_order_lines`) counts the rows of
the documents the user may see: the document's row rules apply to its rows. Balances and batches
(`stock_balance`, `stock_batch`) are read from the inventory tables; the dashboard's roles decide who sees them,
and a user's row rules on warehouses limit the balances they count to those of their warehouses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, literal_column, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import True_

from dsl.formula import ir
from dsl.formula.sqlcompile import NoSqlForm
from dsl.formula.sqlsupport import translate_database_error
from dsl.formula.types import Kind
from dsl.model import App, Dashboard, Entity, EntityKind, FieldType, Widget
from dsl.sqltypes import DecimalText
from engine.context import CurrentUser
from engine.errors import PermissionDenied
from engine.messages import Message
from engine.query import compiler_for

MAX_ROWS = 1000  # a widget without a limit shows at most this many groups (a chart of more is unreadable)
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30})$")  # what may reach a style attribute


@dataclass(frozen=True)
class Row:
    keys: tuple[Any, ...]  # the groups' values as computed (a linked record's id)
    labels: tuple[str, ...]  # the groups as shown (the linked record's title, a choice's label)
    values: tuple[Any, ...]  # exact: Decimal or int (None when nothing was aggregated, e.g. MAX of no rows)
    colours: tuple[str | None, ...]  # per value, from the widget's thresholds


@dataclass
class WidgetData:
    widget: Widget
    title: str
    groups: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)  # groups then values, as shown (a field's label)
    rows: list[Row] = field(default_factory=list)
    problem: str | None = None  # why no numbers are shown (not permitted, a formula failed)
    denied: bool = False
    truncated: bool = False  # more than MAX_ROWS groups: the first MAX_ROWS are shown


# --- who sees which dashboard ------------------------------------------------------------------------------


def may_see(dashboard: Dashboard, user: CurrentUser) -> bool:
    """A dashboard without roles is for everyone; otherwise for the roles it names (and admins)."""
    return user.is_admin or not dashboard.roles or bool(set(dashboard.roles) & user.roles)


def visible_dashboards(app: App, user: CurrentUser) -> list[Dashboard]:
    return [board for board in app.dashboards.values() if may_see(board, user)]


# --- computing -----------------------------------------------------------------------------------------------


def dashboard_data(session: Any, dashboard: Dashboard, locale: str = "zh-CN") -> list[WidgetData]:
    """Every widget's numbers as `session.user` may see them. Raises PermissionDenied for a dashboard that is
    not for the user's roles."""
    if not may_see(dashboard, session.user):
        label = dashboard.label.get(locale)
        raise PermissionDenied(Message("{user} may not see the dashboard {label} ({name})", user=session.user.name,
                                       label=label, name=dashboard.name))
    return [widget_data(session, widget, locale) for widget in dashboard.widgets]


def widget_data(session: Any, widget: Widget, locale: str = "zh-CN") -> WidgetData:
    data = WidgetData(widget, widget.title.get(locale), list(widget.group_by), list(widget.values))
    data.headings = [heading(session.app, name, formula, locale)
                     for name, formula in (*widget.group_by.items(), *widget.values.items())]
    refusal = _refusal(session, widget)
    if refusal is not None:
        data.problem, data.denied = refusal, True
        return data
    try:
        with session.transaction() as (connection, _):  # one transaction per widget: a failure spoils no other
            raw = _query(session, connection, widget)
            if len(raw) > MAX_ROWS:
                raw, data.truncated = raw[:MAX_ROWS], True
            data.rows = _rows(session, connection, widget, raw, locale)
    except NoSqlForm as error:
        data.problem = Message("this widget cannot be computed in the database: {reason}", reason=str(error))
    except DBAPIError as error:
        formula_error = translate_database_error(error)
        if formula_error is None:
            raise
        data.problem = Message("a formula of this widget failed: {reason}", reason=formula_error.message)
    return data


def _refusal(session: Any, widget: Widget) -> str | None:
    """Why the user may not see this widget's numbers, or None."""
    access = session.access
    app = session.app
    entity = app.entities.get(widget.entity)
    if entity is not None and not access.allowed(entity, "read"):
        return f"{session.user.name} may not read {entity.label.get(app.locale)} ({entity.name})"
    for formula in _formulas(widget):
        for node in ir.walk(formula.expr):
            if isinstance(node, ir.FieldRef | ir.Follow) and node.entity in app.entities \
                    and access.field_access(node.entity, node.field) == "hidden":
                return f"{session.user.name} may not see {node.entity}.{node.field}, which this widget uses"
    return None


def _formulas(widget: Widget) -> Iterable[Any]:
    if widget.filter is not None:
        yield widget.filter
    yield from widget.group_by.values()
    yield from widget.values.values()


def _query(session: Any, connection: Connection, widget: Widget) -> list[tuple[Any, ...]]:
    records = session.records
    table = records.schema.table(widget.entity)
    compiler = compiler_for(connection, records.schema, session.user, records.clock)
    conditions = [_seen(session, widget.entity, table, connection)]
    if widget.filter is not None:
        conditions.append(compiler.condition(widget.filter.expr, table))
    groups = [compiler.value(formula.expr, table).label(f"g{i}") for i, formula in enumerate(widget.group_by.values())]
    values = [compiler.value(formula.expr, table).label(f"v{i}") for i, formula in enumerate(widget.values.values())]
    inner = select(*groups, *values).select_from(table).where(and_(*conditions))
    if groups:
        inner = inner.group_by(*(literal_column(str(position)) for position in range(1, len(groups) + 1)))
    grouped = inner.subquery("w")
    names = [*widget.group_by, *widget.values]
    columns = [grouped.c[f"g{i}"] for i in range(len(groups))] + [grouped.c[f"v{i}"] for i in range(len(values))]
    sort_key = _sort_key(widget, names)
    order = [sort_key] if sort_key is not None else []  # then the groups: the same order every time
    order += [(i, False) for i in range(len(groups)) if sort_key is None or i != sort_key[0]]
    # SQLite keeps computed decimals as text, which it would sort as text: jxc sorts those itself
    in_python = any(isinstance(columns[i].type, DecimalText) for i, _ in order)
    query = select(*columns)
    if not in_python:
        query = query.order_by(*(_ordered(columns[i], descending, connection) for i, descending in order))
        query = query.limit(_limit(widget))
    rows = [tuple(row) for row in connection.execute(query)]
    if in_python:
        rows = _sorted(rows, order)[:_limit(widget)]
    return rows


def _seen(session: Any, name: str, table: Any, connection: Connection) -> Any:
    """The rows the user may count: their row rules; for the rows of a table, those of its documents; for
    stock balances, those of the warehouses they hold."""
    app = session.app
    entity = app.entities.get(name)
    if entity is not None and entity.kind is EntityKind.CHILD and entity.parent:
        return _through(session, app.entities[entity.parent], table.c.parent_id, connection)
    if entity is not None:
        return session.access.row_condition(entity, table, connection)
    warehouse = app.entities.get(app.stock.warehouse) if app.stock is not None else None
    if name == "stock_balance" and warehouse is not None and session.access.allowed(warehouse, "read"):
        # a keeper limited to their warehouses (id IN CURRENT_USER().warehouses) counts only their stock; a
        # user who may not read warehouses at all is limited by the dashboard's roles alone, as before
        return _through(session, warehouse, table.c.warehouse, connection)
    return true()


def _through(session: Any, owner: Entity, column: Any, connection: Connection) -> Any:
    """`column` (a link to `owner`) names a record of `owner` the user may see."""
    owners = session.records.schema.table(owner.name)
    condition = session.access.row_condition(owner, owners, connection)
    if isinstance(condition, True_):
        return condition
    return column.in_(select(owners.c.id).where(condition))


def _limit(widget: Widget) -> int:
    """The widget's own limit, else one more than is shown (to tell that there were more)."""
    return widget.limit if widget.limit is not None else MAX_ROWS + 1


def _sort_key(widget: Widget, names: list[str]) -> tuple[int, bool] | None:
    if not widget.sort:
        return None
    name = widget.sort.removeprefix("-")
    return names.index(name), widget.sort.startswith("-")


def _ordered(column: Any, descending: bool, connection: Connection) -> Any:
    """Blanks last; text by code point on both databases (PostgreSQL's locale would order it otherwise)."""
    if connection.dialect.name == "postgresql" and column.type.python_type is str:
        column = column.collate("C")
    return (column.desc() if descending else column.asc()).nulls_last()


def _sorted(rows: list[tuple[Any, ...]], order: list[tuple[int, bool]]) -> list[tuple[Any, ...]]:
    """The order the database gives everywhere else: by each column in turn, blanks last."""
    for index, descending in reversed(order):  # stable sorts, least significant first
        filled = sorted((row for row in rows if row[index] is not None), key=lambda row: row[index],
                        reverse=descending)
        rows = filled + [row for row in rows if row[index] is None]
    return rows


# --- presenting --------------------------------------------------------------------------------------------


def _rows(session: Any, connection: Connection, widget: Widget, raw: list[tuple[Any, ...]],
          locale: str) -> list[Row]:
    group_count = len(widget.group_by)
    labellers = [_labeller(session, connection, formula, [row[i] for row in raw], locale)
                 for i, formula in enumerate(widget.group_by.values())]
    result = []
    for row in raw:
        keys, values = row[:group_count], row[group_count:]
        labels = tuple(labeller(key) for labeller, key in zip(labellers, keys, strict=True))
        colours = tuple(threshold_colour(widget.thresholds, value) for value in values)
        result.append(Row(tuple(keys), labels, tuple(values), colours))
    return result


def _labeller(session: Any, connection: Connection, formula: Any, keys: list[Any], locale: str) -> Any:
    """How a group's values are shown: a linked record by its title, a choice by its label."""
    kind = formula.type
    if kind.kind is Kind.RECORD and kind.entity:
        titles = _titles(session, connection, kind.entity, {key for key in keys if key is not None})
        return lambda key: "—" if key is None else titles.get(key, f"#{key}")
    expr = formula.expr
    if isinstance(expr, ir.FieldRef | ir.Follow):
        entity = session.app.entities.get(expr.entity)
        choice = entity.fields.get(expr.field) if entity is not None else None
        if choice is not None and choice.type is FieldType.CHOICE:
            options = {option.value: option.label.get(locale) for option in choice.options}
            return lambda key: "—" if key is None else options.get(key, str(key))
    return lambda key: display(key)


def _titles(session: Any, connection: Connection, entity_name: str, ids: set[Any]) -> dict[Any, str]:
    """The titles of linked records the user may read (others show as #id)."""
    entity = session.app.entities.get(entity_name)
    if not ids or entity is None or not session.access.allowed(entity, "read"):
        return {}
    table = session.records.schema.table(entity_name)
    names = [name for name in (entity.title, entity.key, "doc_no")
             if name and name in table.c and session.access.field_access(entity_name, name) != "hidden"]
    titles: dict[Any, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        query = select(table.c.id, *(table.c[name] for name in names)).where(table.c.id.in_(ordered[start:start + 500]))
        for row in connection.execute(query).mappings():
            titles[row["id"]] = next((str(row[name]) for name in names if row[name]), f"#{row['id']}")
    return titles


def heading(app: App, name: str, formula: Any, locale: str) -> str:
    """A column's heading: the label of the field it shows (`customer`, `SUM(total)`: a sum is still the
    amount; an average or a maximum is not), else its name."""
    expr = formula.expr
    if isinstance(expr, ir.Aggregate) and expr.table is None and expr.function == "SUM" and expr.where is None:
        expr = expr.value
    if isinstance(expr, ir.FieldRef | ir.Follow):
        entity = app.entities.get(expr.entity)
        found = entity.fields.get(expr.field) if entity is not None else None
        if found is not None and found.label.zh is not None:  # its own label (one made from its name has no zh)
            return found.label.get(locale)
    return name


def display(value: Any) -> str:
    """A value as text for a label or a table cell (exact: a decimal keeps its digits)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def threshold_colour(thresholds: Iterable[Mapping[str, Any]], value: Any) -> str | None:
    """The colour of `value`: a threshold covers from `above` (included) up to `below` (excluded); when
    several cover it, the last one written wins ({above: 100000, color: orange}, {above: 300000, color: red})."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    chosen = None
    for threshold in thresholds:
        above, below = threshold.get("above"), threshold.get("below")
        if above is not None and value < Decimal(str(above)):
            continue
        if below is not None and value >= Decimal(str(below)):
            continue
        colour = str(threshold.get("color", ""))
        if _COLOUR.match(colour):
            chosen = colour
    return chosen


__all__ = ["Row", "WidgetData", "dashboard_data", "display", "heading", "may_see", "threshold_colour",
           "visible_dashboards", "widget_data"]
