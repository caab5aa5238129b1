"""Helpers for the tests that run the industry apps (apps/food, apps/discrete_mfg) end to end through the service
layer: the apps, a fixed "today", the stock numbers a user sees, and the integrity check after each step."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from dsl.loader import load_app
from dsl.model import App
from engine.context import Clock
from engine.records import Records
from tests.service_helpers import APPS

TODAY = dt.datetime(2026, 11, 25, 9, 30)  # the demo data's today too
ZERO = Decimal(0)


@functools.cache
def food_app() -> App:
    return load_app(APPS / "food")


@functools.cache
def mfg_app() -> App:
    return load_app(APPS / "discrete_mfg")


def clock(app: App, at: dt.datetime = TODAY) -> Clock:
    return Clock(app.timezone, fixed=at)


def stock_of(records: Records, item: int, warehouse: int, batch_no: str | None = None) -> dict[str, Decimal]:
    """On hand, reserved, available and value of an item in a warehouse (one batch, or all of them), as the
    stock balance shows them."""
    balance, batch = records.schema.stock["balance"], records.schema.stock["batch"]
    columns = [func.coalesce(func.sum(balance.c[name], type_=balance.c[name].type), 0).label(name)
               for name in ("on_hand", "reserved", "available", "value")]
    query = select(*columns).where(balance.c.item == item, balance.c.warehouse == warehouse)
    if batch_no is not None:
        query = query.join(batch, batch.c.id == balance.c.batch).where(batch.c.batch_no == batch_no)
    with records.engine.connect() as connection:
        row = connection.execute(query).mappings().one()
    return {name: Decimal(row[name]) for name in row}


def batches_taken(records: Records, entity: str, record_id: int) -> dict[str, Decimal]:
    """Batch number → quantity that a document moved (negative: out), from the stock ledger."""
    ledger, batch = records.schema.stock["ledger"], records.schema.stock["batch"]
    query = (select(batch.c.batch_no, func.sum(ledger.c.qty, type_=ledger.c.qty.type))
             .join(batch, batch.c.id == ledger.c.batch)
             .where(ledger.c.source_entity == entity, ledger.c.source_id == record_id)
             .group_by(batch.c.batch_no))
    with records.engine.connect() as connection:
        return {number: Decimal(qty) for number, qty in connection.execute(query)}


def ledger_costs(records: Records, entity: str, record_id: int) -> list[tuple[Decimal, Decimal | None, Decimal]]:
    """(qty, unit cost, value change) of each ledger entry a document wrote, in the order written."""
    ledger = records.schema.stock["ledger"]
    query = (select(ledger.c.qty, ledger.c.unit_cost, ledger.c.value_change)
             .where(ledger.c.source_entity == entity, ledger.c.source_id == record_id).order_by(ledger.c.id))
    with records.engine.connect() as connection:
        return [(Decimal(row.qty), row.unit_cost, Decimal(row.value_change)) for row in connection.execute(query)]


def assert_books_consistent(records: Records) -> None:
    """The inventory's integrity check (`jxc stock verify`) finds nothing wrong."""
    from engine.stock.verify import verify

    with records.engine.connect() as connection:
        result = verify(connection, records.app, records.schema)
    assert result.consistent, "\n".join(result.lines())


def lines_of(record: dict[str, Any], name: str) -> list[Any]:
    return [line[name] for line in record["lines"]]
