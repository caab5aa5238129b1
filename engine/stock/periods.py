"""Closing stock periods (months): balances frozen at the end, and no posting dated inside a closed period.

    ensure_open(connection, schema.stock, posted_at)       # posting calls it: PeriodClosed when frozen
    close_period(connection, schema.stock, dt.date(2026, 10, 31), today=..., now=..., user_id=...)

A closing covers everything up to and including its `closed_until` day (the last day of a month) since the
previous closing; closings go forward only: a month already closed, or before the last closing, is refused,
as is a month that is not over yet. The balances at the end (item × warehouse × batch: qty, value, and the
item × warehouse moving-average rate) are stored in jxc_stock_period_balance, so as-of balances
(engine.stock.asof) and backdated postings start from them instead of the whole history.

On PostgreSQL a posting holds a SHARE lock on jxc_stock_period until it commits and a closing takes SHARE ROW
EXCLUSIVE: the closing waits for postings in flight, and postings that come after it see the new period. On
SQLite every write transaction is already exclusive (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection

from engine.errors import LifecycleError
from engine.stock.asof import Balance, ClosedPeriod, day_end, grouped_query, last_closed
from engine.stock.wording import both

RATE_QUANTUM = Decimal("0.000001")


class PeriodClosed(LifecycleError):
    """A stock movement dated inside a closed period; nothing was written."""


class PeriodRefused(LifecycleError):
    """A closing that cannot be done (already closed, out of order, month not over, not a month end)."""


@dataclass(frozen=True, slots=True)
class Closing:
    id: int
    closed_until: dt.date
    rows: int  # balance rows stored


def closed_until(connection: Connection, stock: Mapping[str, Table]) -> dt.date | None:
    """The last day of the last closed period (None: nothing closed)."""
    return connection.execute(_latest(stock["period"])).scalar()


@lru_cache(maxsize=64)
def _latest(period: Table) -> Any:
    """Built once per table: every posting asks, and SQLAlchemy then reuses its compiled form."""
    return select(func.max(period.c.closed_until))


def ensure_open(connection: Connection, stock: Mapping[str, Table], posted_at: dt.datetime | dt.date) -> None:
    """Refuse (PeriodClosed) a movement dated inside a closed period. Call it in the posting's transaction,
    before writing: on PostgreSQL it also keeps a closing from starting until the posting commits."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {stock['period'].name} IN SHARE MODE")
    until = closed_until(connection, stock)
    day = posted_at.date() if isinstance(posted_at, dt.datetime) else posted_at
    if until is not None and day <= until:
        after = until + dt.timedelta(days=1)
        raise PeriodClosed(both(
            f"库存已结账至 {until}，不能记入 {day} 的库存变动；请使用 {after} 或以后的日期",
            f"stock is closed until {until}: no movement can be dated {day}; use {after} or later"))


def close_period(connection: Connection, stock: Mapping[str, Table], until: dt.date, *, today: dt.date,
                 now: dt.datetime, user_id: int | None = None) -> Closing:
    """Close every day up to `until` (a month's last day, before `today`) and store the balances at its end.
    Runs in the caller's transaction: either everything is stored or nothing."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {stock['period'].name} IN SHARE ROW EXCLUSIVE MODE")
    _check(connection, stock, until, today)
    previous = last_closed(connection, stock)
    rows = _frozen_rows(connection, stock, until, previous)
    period = stock["period"]
    period_id = connection.execute(insert(period).values(closed_until=until, closed_at=now, closed_by=user_id)
                                   .returning(period.c.id)).scalar_one()
    if rows:
        connection.execute(insert(stock["period_balance"]),
                           [{"period": period_id, "item": b.item, "warehouse": b.warehouse, "batch_key": b.batch_key,
                             "qty": b.qty, "value": b.value, "rate": rate} for b, rate in rows])
    return Closing(period_id, until, len(rows))


def _check(connection: Connection, stock: Mapping[str, Table], until: dt.date, today: dt.date) -> None:
    last_day = calendar.monthrange(until.year, until.month)[1]
    if until.day != last_day:
        month_end = until.replace(day=last_day)
        raise PeriodRefused(both(f"结账日期必须是月末：{until} 不是（该月月末是 {month_end}）",
                                 f"a period closes at a month's end: {until} is not (that month ends {month_end})"))
    if until >= today:
        raise PeriodRefused(both(f"{until} 所在的月份还没有结束（今天是 {today}），不能结账",
                                 f"the month of {until} is not over yet (today is {today}); it cannot be closed"))
    last = closed_until(connection, stock)
    if last is not None and until == last:
        raise PeriodRefused(both(f"库存已结账至 {last}，不能重复结账", f"stock is already closed until {last}"))
    if last is not None and until < last:
        raise PeriodRefused(both(f"库存已结账至 {last}，不能再结更早的 {until}；结账只能向后",
                                 f"stock is already closed until {last}, later than {until}; periods close in "
                                 "order, forward only"))


def _frozen_rows(connection: Connection, stock: Mapping[str, Table], until: dt.date,
                 previous: ClosedPeriod | None) -> list[tuple[Balance, Decimal]]:
    """The balances at the end of `until`, each with its item × warehouse moving-average rate (value / qty;
    with nothing in stock, the previous closing's rate). Rows with nothing left are dropped, except one per
    item × warehouse that has no other row, to carry its rate forward."""
    query = grouped_query(stock, previous, day_end(until), None, None, True)
    every = [Balance(r.item, r.warehouse, r.batch_key, r.qty, r.value) for r in connection.execute(query)]
    totals: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for balance in every:
        total = totals[balance.item, balance.warehouse]
        total[0] += balance.qty
        total[1] += balance.value
    earlier = _rates(connection, stock, previous)
    rates = {key: (value / qty).quantize(RATE_QUANTUM) if qty else earlier.get(key, Decimal(0))
             for key, (qty, value) in totals.items()}
    live = {(b.item, b.warehouse) for b in every if b.qty or b.value}
    kept: list[tuple[Balance, Decimal]] = []
    for balance in every:
        key = (balance.item, balance.warehouse)
        if balance.qty or balance.value or (key not in live and rates[key]):
            kept.append((balance, rates[key]))
            live.add(key)  # one row is enough to carry the rate
    return kept


def _rates(connection: Connection, stock: Mapping[str, Table], period: ClosedPeriod | None
           ) -> dict[tuple[int, int], Decimal]:
    if period is None:
        return {}
    frozen = stock["period_balance"]
    rows = connection.execute(select(frozen.c.item, frozen.c.warehouse, func.max(frozen.c.rate))
                              .where(frozen.c.period == period.id).group_by(frozen.c.item, frozen.c.warehouse))
    return {(item, warehouse): rate for item, warehouse, rate in rows}
