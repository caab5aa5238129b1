"""As-of-date balances: the last closed period's frozen balances plus the ledger entries after it.

    rows = balances_as_of(connection, schema.stock, dt.date(2026, 10, 15))            # every item
    rows = balances_as_of(connection, schema.stock, day, item=7, by_batch=False)       # one item

One grouped query over `period balances UNION ALL ledger entries after the period, up to the day`: the work
depends on the entries since the last closing, never on the whole history (close months to keep it short).
A day means the whole day: entries up to 23:59:59 of `on_date` count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, literal, select, union_all
from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class Balance:
    item: int
    warehouse: int
    batch_key: int  # the batch id, 0 for stock without a batch (and for every row when by_batch=False)
    qty: Decimal
    value: Decimal


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    id: int
    closed_until: dt.date

    @property
    def end(self) -> dt.datetime:
        """The first moment after the period: entries at or after it are not frozen."""
        return day_end(self.closed_until)


def day_end(day: dt.date) -> dt.datetime:
    """Midnight after `day`: entries before it belong to the day or earlier."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def last_closed(connection: Connection, stock: Mapping[str, Table], on_or_before: dt.date | None = None
                ) -> ClosedPeriod | None:
    """The latest closed period ending on or before the day (None: no closing yet)."""
    period = stock["period"]
    query = select(period.c.id, period.c.closed_until).order_by(period.c.closed_until.desc()).limit(1)
    if on_or_before is not None:
        query = query.where(period.c.closed_until <= on_or_before)
    row = connection.execute(query).first()
    return ClosedPeriod(row.id, row.closed_until) if row else None


def balances_as_of(connection: Connection, stock: Mapping[str, Table], on_date: dt.date, *,
                   item: int | None = None, warehouse: int | None = None, by_batch: bool = True,
                   since: ClosedPeriod | None = None) -> list[Balance]:
    """Quantity and value per item × warehouse (× batch) at the end of `on_date`; rows that are all zero are
    left out. `since` starts from that closed period instead of the latest one before the day."""
    start = since if since is not None else last_closed(connection, stock, on_date)
    query = grouped_query(stock, start, day_end(on_date), item, warehouse, by_batch)
    return [Balance(row.item, row.warehouse, row.batch_key, row.qty, row.value)
            for row in connection.execute(query) if row.qty or row.value]


def grouped_query(stock: Mapping[str, Table], start: ClosedPeriod | None, end: dt.datetime, item: int | None,
                  warehouse: int | None, by_batch: bool) -> Any:
    """SELECT item, warehouse, batch_key, qty, value: `start`'s frozen balances plus the entries after it,
    before `end`, grouped (zero rows included). The entries are grouped by the ledger's own columns (item,
    warehouse[, batch]) so that a database can aggregate them in index order; the frozen rows (one per key at
    most) are added to those sums in an outer grouping."""
    ledger, frozen = stock["ledger"], stock["period_balance"]
    keys = [ledger.c.item, ledger.c.warehouse, *([ledger.c.batch] if by_batch else [])]
    batch_key = (func.coalesce(ledger.c.batch, 0) if by_batch else literal(0)).label("batch_key")
    entries = (select(ledger.c.item, ledger.c.warehouse, batch_key, func.sum(ledger.c.qty).label("qty"),
                      func.sum(ledger.c.value_change).label("value"))
               .where(ledger.c.posted_at < end).group_by(*keys))
    if start is not None:
        entries = entries.where(ledger.c.posted_at >= start.end)
    if item is not None:
        entries = entries.where(ledger.c.item == item)
    if warehouse is not None:
        entries = entries.where(ledger.c.warehouse == warehouse)
    if start is None:
        return entries.order_by(ledger.c.item, ledger.c.warehouse, batch_key)
    frozen_key = frozen.c.batch_key if by_batch else literal(0).label("batch_key")
    opening = (select(frozen.c.item, frozen.c.warehouse, frozen_key, frozen.c.qty, frozen.c.value)
               .where(frozen.c.period == start.id))
    if item is not None:
        opening = opening.where(frozen.c.item == item)
    if warehouse is not None:
        opening = opening.where(frozen.c.warehouse == warehouse)
    rows = union_all(opening, entries).subquery("movements")
    outer = (rows.c.item, rows.c.warehouse, rows.c.batch_key)
    return (select(*outer, func.sum(rows.c.qty).label("qty"), func.sum(rows.c.value).label("value"))
            .group_by(*outer).order_by(*outer))
