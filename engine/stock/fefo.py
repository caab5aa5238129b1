"""First expired, first out: which batches an issue takes when the line names none.

    suggest_batches(connection, item, warehouse, qty, on_date)   # for forms: [Suggestion(...), ...]

Batches are taken earliest expiry first (batches without an expiry last, then oldest first); expired ones
never, nor, for shipments to customers, those expiring within the app's minimum remaining shelf life.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Date, Integer, column, select, table
from sqlalchemy.engine import Connection

from engine.stock.tables import QTY

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Candidate:
    batch: int
    batch_no: str
    expiry: dt.date | None
    available: Decimal


@dataclass(frozen=True, slots=True)
class Suggestion:
    batch: int
    batch_no: str
    expiry: dt.date | None
    qty: Decimal


@dataclass(frozen=True, slots=True)
class Plan:
    legs: tuple[Suggestion, ...]
    usable: Decimal  # what the usable batches hold
    blocked: Decimal  # what expired or near-expiry batches hold

    @property
    def short(self) -> bool:
        return sum((leg.qty for leg in self.legs), ZERO) < self.wanted

    wanted: Decimal = ZERO


def fefo_order(candidate: Candidate) -> tuple:
    return (candidate.expiry is None, candidate.expiry or dt.date.max, candidate.batch)


def plan(candidates: Iterable[Candidate], qty: Decimal, on_date: dt.date, min_remaining_days: int = 0) -> Plan:
    """Take `qty` from the candidates, earliest expiry first, skipping those that may not leave on `on_date`."""
    limit = on_date + dt.timedelta(days=min_remaining_days)
    legs, usable, blocked, left = [], ZERO, ZERO, qty
    for candidate in sorted(candidates, key=fefo_order):
        if candidate.available <= 0:
            continue
        if candidate.expiry is not None and (candidate.expiry < on_date or candidate.expiry < limit):
            blocked += candidate.available
            continue
        usable += candidate.available
        if left > 0:
            taken = min(left, candidate.available)
            legs.append(Suggestion(candidate.batch, candidate.batch_no, candidate.expiry, taken))
            left -= taken
    return Plan(tuple(legs), usable, blocked, qty)


_BALANCE = table("jxc_stock_balance", column("item", Integer), column("warehouse", Integer),
                 column("batch_key", Integer), column("on_hand", QTY), column("reserved", QTY))
_BATCH = table("jxc_stock_batch", column("id", Integer), column("batch_no"), column("expiry", Date))


def suggest_batches(connection: Connection, item: int, warehouse: int, qty: Decimal, on_date: dt.date, *,
                    min_remaining_days: int = 0) -> list[Suggestion]:
    """The batches an issue of `qty` on `on_date` would take (fewer than `qty` in all when stock is short)."""
    rows = connection.execute(
        select(_BATCH.c.id, _BATCH.c.batch_no, _BATCH.c.expiry, _BALANCE.c.on_hand)
        .join(_BATCH, _BATCH.c.id == _BALANCE.c.batch_key)
        .where(_BALANCE.c.item == item, _BALANCE.c.warehouse == warehouse, _BALANCE.c.on_hand > ZERO))
    candidates = [Candidate(row.id, row.batch_no, row.expiry, row.on_hand) for row in rows]
    return list(plan(candidates, Decimal(qty), on_date, min_remaining_days).legs)
