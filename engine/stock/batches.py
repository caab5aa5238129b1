"""Batches named on document lines: found by item and number, created on first receipt (expiry entered, or
the production date plus the item's shelf life), and their quantities kept in step with the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.engine import Connection

from engine.stock.moves import Move
from engine.stock.positions import dialect_insert


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    item: int
    batch_no: str
    expiry: dt.date | None
    production_date: dt.date | None


class Batches:
    def __init__(self, connection: Connection, stock: Mapping[str, Table]) -> None:
        self.connection = connection
        self.table = stock["batch"]
        self.by_id: dict[int, Batch] = {}
        self.by_number: dict[tuple[int, str], Batch] = {}

    def _keep(self, rows: Iterable[object]) -> None:
        for row in rows:
            batch = Batch(row.id, row.item, row.batch_no, row.expiry, row.production_date)  # type: ignore[attr-defined]
            self.by_id[batch.id] = batch
            self.by_number[(batch.item, batch.batch_no)] = batch

    def _columns(self):
        table = self.table
        return table.c.id, table.c.item, table.c.batch_no, table.c.expiry, table.c.production_date

    def resolve(self, moves: list[Move], shelf_life: Mapping[int, int | None], now: dt.datetime) -> None:
        """Create the batches receipts name for the first time; give every move naming a batch its id.
        Moves naming a batch that does not exist keep batch None (the caller refuses them)."""
        named = [move for move in moves if move.batch_no]
        if not named:
            return
        table = self.table
        new = {}
        for move in named:
            if move.sign > 0 and move.carried_from is None and (move.item, move.batch_no) not in new:
                expiry = move.expiry
                if expiry is None and move.production_date is not None and shelf_life.get(move.item):
                    expiry = move.production_date + dt.timedelta(days=shelf_life[move.item] or 0)
                new[(move.item, move.batch_no)] = {
                    "item": move.item, "batch_no": move.batch_no, "production_date": move.production_date,
                    "expiry": expiry, "supplier": move.supplier, "supplier_batch": move.supplier_batch,
                    "on_hand": Decimal(0), "created_at": now}
        if new:  # two receipts of one new batch at once: the second finds the first's row
            self.connection.execute(dialect_insert(self.connection, table).on_conflict_do_nothing(
                index_elements=["item", "batch_no"]), [new[key] for key in sorted(new)])
        keys = sorted({(move.item, move.batch_no) for move in named})
        self._keep(self.connection.execute(select(*self._columns()).where(
            tuple_(table.c.item, table.c.batch_no).in_(keys))))
        for move in named:
            found = self.by_number.get((move.item, move.batch_no or ""))
            move.batch = found.id if found else None

    def load(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids) - set(self.by_id))
        if wanted:
            self._keep(self.connection.execute(select(*self._columns()).where(self.table.c.id.in_(wanted))))

    def add(self, changes: Mapping[int, Decimal]) -> list[int]:
        """Add the quantities moved to the batches' on hand; the batch ids changed."""
        moved = sorted((batch, qty) for batch, qty in changes.items() if qty)
        if moved:
            table = self.table
            self.connection.execute(
                update(table).where(table.c.id == bindparam("batch_id"))
                .values(on_hand=table.c.on_hand + bindparam("qty", type_=table.c.on_hand.type)),
                [{"batch_id": batch, "qty": qty} for batch, qty in moved])
        return [batch for batch, _ in moved]
