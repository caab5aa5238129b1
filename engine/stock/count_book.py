"""Book quantities for stock counts: what the ledger says is on the shelf, per count line.

A count line is keyed by item, location and batch number (location and batch may be blank). Its book
quantity is read from the balances (item × warehouse × batch; the rows of a pair add up to its stock), or
from the ledger when the line names a location (balances are not kept per location). A line without a batch
counts every batch of the item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, select, tuple_
from sqlalchemy.engine import Connection

from engine.stock.tables import QTY

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, order=True)
class LineKey:
    item: int
    location: int | None
    batch_no: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> LineKey:
        return cls(int(row["item"]), row.get("location"), row.get("batch_no") or None)


@dataclass(frozen=True, slots=True)
class BookLine:
    key: LineKey
    qty: Decimal


def scope_lines(connection: Connection, stock: Mapping[str, Table], warehouse: int, *,
                location: int | None = None, items: Table | None = None, category_field: str | None = None,
                category: int | None = None) -> list[BookLine]:
    """Every item × batch with stock in the warehouse (in one location when given), in item then batch order:
    what a count of that scope starts from. `items`/`category_field` restrict it to one item category."""
    ledger, balance, batch = stock["ledger"], stock["balance"], stock["batch"]
    if location is not None:
        qty = func.sum(ledger.c.qty, type_=QTY)
        query = (select(ledger.c.item, batch.c.batch_no, qty.label("qty"))
                 .select_from(ledger.outerjoin(batch, batch.c.id == ledger.c.batch))
                 .where(ledger.c.warehouse == warehouse, ledger.c.location == location)
                 .group_by(ledger.c.item, batch.c.batch_no).having(qty != 0))
        item_column = ledger.c.item
    else:
        query = (select(balance.c.item, batch.c.batch_no, balance.c.on_hand.label("qty"))
                 .select_from(balance.outerjoin(batch, batch.c.id == balance.c.batch))
                 .where(balance.c.warehouse == warehouse, balance.c.on_hand != 0))
        item_column = balance.c.item
    if category is not None and items is not None and category_field is not None:
        query = query.where(item_column.in_(select(items.c.id).where(items.c[category_field] == category)))
    rows = connection.execute(query).all()
    lines = [BookLine(LineKey(row.item, location, row.batch_no), row.qty) for row in rows]
    return sorted(lines, key=lambda line: (line.key.item, line.key.batch_no or ""))


def book_quantities(connection: Connection, stock: Mapping[str, Table], warehouse: int, keys: Iterable[LineKey],
                    *, lock: bool = False) -> dict[LineKey, Decimal]:
    """The book quantity of each count line now (0 where nothing is on the books). With `lock`, the item ×
    warehouse balance rows are locked (PostgreSQL) in item order, the order postings lock them in, so that
    nothing moves between this reading and the count's adjustments."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    items = sorted({key.item for key in wanted})
    balance, batch, ledger = stock["balance"], stock["batch"], stock["ledger"]
    if lock and connection.dialect.name == "postgresql":
        connection.execute(select(balance.c.id).where(balance.c.warehouse == warehouse, balance.c.item.in_(items),
                                                      balance.c.batch_key == 0)
                           .order_by(balance.c.item).with_for_update()).all()
    by_batch: dict[tuple[int, str | None], Decimal] = {}
    rows = connection.execute(
        select(balance.c.item, batch.c.batch_no, balance.c.on_hand)
        .select_from(balance.outerjoin(batch, batch.c.id == balance.c.batch))
        .where(balance.c.warehouse == warehouse, balance.c.item.in_(items))).all()
    for row in rows:
        by_batch[(row.item, row.batch_no)] = by_batch.get((row.item, row.batch_no), ZERO) + row.on_hand
    at_location: dict[LineKey, Decimal] = {}
    located = [key for key in wanted if key.location is not None]
    if located:
        qty = func.sum(ledger.c.qty, type_=QTY)
        rows = connection.execute(
            select(ledger.c.item, ledger.c.location, batch.c.batch_no, qty.label("qty"))
            .select_from(ledger.outerjoin(batch, batch.c.id == ledger.c.batch))
            .where(ledger.c.warehouse == warehouse,
                   tuple_(ledger.c.item, ledger.c.location).in_({(key.item, key.location) for key in located}))
            .group_by(ledger.c.item, ledger.c.location, batch.c.batch_no)).all()
        for row in rows:
            keys = {LineKey(row.item, row.location, row.batch_no), LineKey(row.item, row.location, None)}
            for key in keys:  # the batch's line, and a line for the item without a batch
                at_location[key] = at_location.get(key, ZERO) + row.qty
    result: dict[LineKey, Decimal] = {}
    for key in wanted:
        if key.location is not None:
            result[key] = at_location.get(key, ZERO)
        elif key.batch_no is not None:
            result[key] = by_batch.get((key.item, key.batch_no), ZERO)
        else:
            result[key] = sum((qty for (item, _), qty in by_batch.items() if item == key.item), ZERO)
    return result


def rates(connection: Connection, stock: Mapping[str, Table], warehouse: int, items: Iterable[int]
          ) -> dict[int, Decimal]:
    """The unit value of each item in the warehouse (stock value / quantity), to value count differences."""
    balance = stock["balance"]
    wanted = sorted(set(items))
    if not wanted:
        return {}
    rows = connection.execute(
        select(balance.c.item, func.sum(balance.c.on_hand, type_=QTY).label("qty"),
               func.sum(balance.c.value, type_=balance.c.value.type).label("value"))
        .where(balance.c.warehouse == warehouse, balance.c.item.in_(wanted))
        .group_by(balance.c.item)).all()
    return {row.item: (row.value / row.qty if row.qty else ZERO) for row in rows}

