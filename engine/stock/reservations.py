"""Reservations: stock held for a document's lines (a sales order, a picking list) until documents made from
it take the stock out, or it is cancelled. Held on the item × warehouse's batch_key 0 balance row
(reservations are not per batch): available = on hand − reserved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.engine import Connection

from dsl.formula.errors import FormulaRuntimeError
from dsl.model import App, Entity
from engine.context import EngineContext
from engine.errors import FieldProblem

ZERO = Decimal(0)


@dataclass(slots=True)
class Hold:
    """A change to one reservation: `qty` more held (negative: released)."""

    path: str
    item: int
    warehouse: int
    qty: Decimal
    line_id: int | None = None
    reservation_id: int | None = None  # an existing reservation whose `released` changes


def wanted(entity: Entity, record: dict[str, Any], context: EngineContext,
           problems: list[FieldProblem]) -> list[Hold]:
    """What a document's reservations hold, line by line (lines its own stock effects issue at once are not
    held: the stock leaves in the same submit)."""
    issued_here = {effect.table for effect in entity.stock if effect.direction in ("out", "transfer")}
    holds = []
    for spec in entity.reservations:
        if spec.table in issued_here:
            continue
        for index, row in enumerate(record.get(spec.table) or ()):
            path = f"{spec.table}[{index}]"
            try:
                item, qty, warehouse = (spec.item.python(row, context), spec.qty.python(row, context),
                                        spec.warehouse.python(row, context))
            except FormulaRuntimeError as error:
                problems.append(FieldProblem(path, error.message))
                continue
            if item is None or warehouse is None or not qty or qty <= 0:
                continue
            holds.append(Hold(f"{path}.qty", item, warehouse, Decimal(qty), row.get("id")))
    return holds


def insert_holds(connection: Connection, stock: Mapping[str, Table], entity: str, document_id: int,
                 holds: list[Hold], now: dt.datetime) -> None:
    if holds:
        connection.execute(stock["reservation"].insert(), [
            {"item": hold.item, "warehouse": hold.warehouse, "qty": hold.qty, "released": ZERO,
             "source_entity": entity, "source_id": document_id, "source_line": hold.line_id, "active": True,
             "created_at": now} for hold in holds])


def open_holds(connection: Connection, stock: Mapping[str, Table], entity: str, document_id: int) -> list[Hold]:
    """A cancelled document's reservations, to release what is still held."""
    table = stock["reservation"]
    rows = connection.execute(select(table).where(
        table.c.source_entity == entity, table.c.source_id == document_id, table.c.active.is_(True)))
    return [Hold("", row.item, row.warehouse, -(row.qty - row.released), row.source_line) for row in rows]


def close_holds(connection: Connection, stock: Mapping[str, Table], entity: str, document_id: int) -> None:
    table = stock["reservation"]
    connection.execute(update(table).where(table.c.source_entity == entity, table.c.source_id == document_id)
                       .values(active=False))


def follower_holds(connection: Connection, stock: Mapping[str, Table], app: App, entity: Entity,
                   record: dict[str, Any], sign: int) -> list[Hold]:
    """A document made from a reserving one takes over the reserved quantity of the lines it fulfils
    (sign +1, submit) or gives it back (sign -1, cancel)."""
    source = record.get("made_from_entity")
    link = entity.make_from.get(source or "")
    if link is None or link.lines is None or not app.entities[source].reservations:
        return []
    lines, fulfilled = link.lines, {}
    for index, row in enumerate(record.get(lines.target_table) or ()):
        line = row.get("made_from_line")
        qty = row.get(lines.qty) if lines.qty else None
        if line is not None and qty:
            fulfilled.setdefault(line, [f"{lines.target_table}[{index}]", ZERO])[1] += Decimal(qty)
    if not fulfilled:
        return []
    table = stock["reservation"]
    rows = connection.execute(select(table).where(
        table.c.source_entity == source, table.c.source_id == record.get("made_from_id"),
        table.c.source_line.in_(sorted(fulfilled)), table.c.active.is_(True)).order_by(table.c.id))
    holds = []
    for row in rows:
        path, qty = fulfilled[row.source_line]
        change = min(qty, row.qty - row.released) if sign > 0 else min(qty, row.released)
        if change > 0:
            fulfilled[row.source_line][1] -= change
            holds.append(Hold(path, row.item, row.warehouse, -change * sign, row.source_line, row.id))
    return holds


def record_releases(connection: Connection, stock: Mapping[str, Table], holds: list[Hold]) -> None:
    """Existing reservations taken over (released grows) or given back (released shrinks)."""
    changed = [hold for hold in holds if hold.reservation_id is not None]
    if changed:
        table = stock["reservation"]
        connection.execute(
            update(table).where(table.c.id == bindparam("reservation_id"))
            .values(released=table.c.released + bindparam("more", type_=table.c.released.type)),
            [{"reservation_id": hold.reservation_id, "more": -hold.qty} for hold in changed])
