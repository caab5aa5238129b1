"""Backdated movements under moving average: valued at the item × warehouse's state at their own time, and the
later issues of that item × warehouse revalued in the same transaction.

The state at a time is the last closed period's balance plus the entries after it (engine.stock.asof): the
work grows with the entries of the open period, never with the whole history. Revaluation starts at the first
later issue (receipts keep their own cost; what the entries before that issue add up to is the balance less the
rest), so a backdated receipt with only receipts after it costs a few indexed queries however many there are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.engine import Connection

from engine.stock.asof import balances_as_of
from engine.stock.moves import Move
from engine.stock.positions import Positions
from engine.stock.valuation import ZERO, PairState

Pair = tuple[int, int]


def later_pairs(connection: Connection, stock: Mapping[str, Table], moves: list[Move],
                now: dt.datetime) -> dict[Pair, dt.datetime]:
    """Item × warehouse pairs with entries after this document's (earlier-dated) movements: pair → its time."""
    earliest: dict[Pair, dt.datetime] = {}
    for move in moves:
        if move.posted_at.date() < now.date():
            earliest[move.key] = min(earliest.get(move.key, move.posted_at), move.posted_at)
    if not earliest:
        return {}
    query = _any_after(stock["ledger"])
    return {pair: at for pair, at in sorted(earliest.items()) if connection.execute(
        query, {"item": pair[0], "warehouse": pair[1], "after": at}).first() is not None}


@lru_cache(maxsize=64)
def _any_after(ledger: Table) -> Any:
    """One entry of a pair after a time: one step down the (item, warehouse, posted_at) index, however long the
    pair's history (a max() over the pair reads every entry on SQLite). Built once per table."""
    return select(ledger.c.id).where(ledger.c.item == bindparam("item"), ledger.c.warehouse == bindparam("warehouse"),
                                     ledger.c.posted_at > bindparam("after")).limit(1)


def last_rate(connection: Connection, stock: Mapping[str, Table], pair: Pair, at: dt.datetime) -> Decimal:
    """The unit cost of the pair's latest entry up to `at` (the rate to use while nothing is in stock)."""
    ledger = stock["ledger"]
    found = connection.execute(
        select(ledger.c.unit_cost).where(ledger.c.item == pair[0], ledger.c.warehouse == pair[1],
                                         ledger.c.posted_at <= at, ledger.c.unit_cost.is_not(None))
        .order_by(ledger.c.posted_at.desc(), ledger.c.id.desc()).limit(1)).scalar()
    return found or ZERO


def later_transfer(connection: Connection, stock: Mapping[str, Table], pair: Pair, at: dt.datetime,
                   transfers: list[str]) -> str | None:
    """The document number of a transfer (one of the entities `transfers`) that took the pair's stock to another
    warehouse after `at` and stands (not cancelled), if any. Revaluing its out-leg would leave its in-leg, in the
    other warehouse, at the old cost: a backdated posting before it is refused instead."""
    if not transfers:
        return None
    ledger = stock["ledger"]
    undone = ledger.alias("undone")
    found = connection.execute(
        select(ledger.c.doc_no, ledger.c.source_id).where(
            ledger.c.item == pair[0], ledger.c.warehouse == pair[1], ledger.c.posted_at > at,
            ledger.c.qty < literal_column("0"),  # the issues' partial index: transfers out are issues
            ledger.c.reverses.is_(None), ledger.c.source_entity.in_(transfers),
            ~select(undone.c.id).where(undone.c.reverses == ledger.c.id).exists())
        .order_by(ledger.c.posted_at, ledger.c.id).limit(1)).first()
    if found is None:
        return None
    return found.doc_no or str(found.source_id)


def lowest_after(connection: Connection, stock: Mapping[str, Table], pair: Pair, at: dt.datetime) -> Decimal:
    """How far the pair's entries after `at` take its quantity down at their lowest point (0 or less): a
    backdated issue may take at most the quantity at its time plus this, so that stock never goes negative
    later on either."""
    ledger = stock["ledger"]
    running = (select(func.sum(ledger.c.qty).over(order_by=(ledger.c.posted_at, ledger.c.id)).label("running"))
               .where(ledger.c.item == pair[0], ledger.c.warehouse == pair[1], ledger.c.posted_at > at)
               .subquery("running"))
    lowest = connection.execute(select(func.min(running.c.running))).scalar()
    return min(ZERO, Decimal(lowest)) if lowest is not None else ZERO


def state_at(connection: Connection, stock: Mapping[str, Table], pair: Pair, at: dt.datetime) -> PairState:
    """Quantity and value of the pair at the end of `at`'s day (a backdated movement's time is its day's end)."""
    rows = balances_as_of(connection, stock, at.date(), item=pair[0], warehouse=pair[1], by_batch=False)
    qty = sum((row.qty for row in rows), ZERO)
    value = sum((row.value for row in rows), ZERO)
    state = PairState(qty, value)
    if qty <= 0:
        state.last_rate = last_rate(connection, stock, pair, at)
    return state


def revalue(connection: Connection, stock: Mapping[str, Table], positions: Positions, pair: Pair,
            at: dt.datetime, state: PairState, fixed: frozenset[str] = frozenset()) -> None:
    """Revalue the pair's issues after `at`, starting from `state` (the pair just after the backdated entries);
    the changes go into the ledger rows and the pair's balance value. Issues of the entities `fixed` (whose
    effects declare their cost: purchase returns) keep their unit cost."""
    ledger = stock["ledger"]
    mine = and_(ledger.c.item == pair[0], ledger.c.warehouse == pair[1], ledger.c.posted_at > at)
    first = connection.execute(select(ledger.c.posted_at, ledger.c.id).where(
        mine, ledger.c.qty < literal_column("0"), ledger.c.reverses.is_(None))  # ix_jxc_stock_ledger_issues
        .order_by(ledger.c.posted_at, ledger.c.id)
        .limit(1)).first()
    if first is None:
        return  # only receipts (and reversals) after it: their values stand
    # from the first later issue on, as one index range (a negated "before it", or a second lower bound on the
    # time, made SQLite read every later entry of the pair)
    from_first = (ledger.c.item == pair[0], ledger.c.warehouse == pair[1], ledger.c.posted_at >= first.posted_at,
                  or_(ledger.c.posted_at > first.posted_at, ledger.c.id >= first.id))
    rows = connection.execute(
        select(ledger.c.id, ledger.c.qty, ledger.c.value_change, ledger.c.unit_cost, ledger.c.reverses, ledger.c.batch,
               ledger.c.source_entity).where(*from_first).order_by(ledger.c.posted_at, ledger.c.id)).all()
    # What moved between the backdated time and the first later issue (receipts only, however many) is the
    # balance now less the state then less the rows from that issue on: the balance is the sum of the ledger,
    # so this is exact and reads no more rows than the revaluation needs.
    qty_from_first = sum((row.qty for row in rows), ZERO)
    value_from_first = sum((row.value_change for row in rows), ZERO)
    between_qty = positions.on_hand(*pair) - state.qty - qty_from_first
    between_value = positions.value(*pair) - state.value - value_from_first
    if between_qty or between_value:
        state.apply(between_qty, between_value)
    new_values: dict[int, Decimal] = {}
    changes, deltas = [], defaultdict(lambda: ZERO)
    for row in rows:
        value, rate = row.value_change, row.unit_cost
        if row.reverses is not None and row.reverses in new_values:
            value = -new_values[row.reverses]
        elif row.qty < 0 and row.reverses is None and row.source_entity in fixed and row.unit_cost is not None:
            value, rate = state.issue_at(-row.qty, row.unit_cost)
        elif row.qty < 0 and row.reverses is None:
            value, rate = state.issue(-row.qty)
        if value != row.value_change:
            new_values[row.id] = value
            changes.append({"entry": row.id, "value": value, "rate": rate})
            deltas[row.batch or 0] += value - row.value_change
        state.apply(row.qty, value)
    if changes:
        connection.execute(update(ledger).where(ledger.c.id == bindparam("entry"))
                           .values(value_change=bindparam("value"), unit_cost=bindparam("rate")), changes)
        for batch, delta in deltas.items():
            positions.change(pair[0], pair[1], batch, value=delta)
        positions.write()
