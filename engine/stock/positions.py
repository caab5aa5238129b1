"""Balances of the item × warehouse pairs a document touches: locked, held in memory, written back once.

Locking on PostgreSQL: every posting first makes sure the batch_key 0 row of each pair exists (one INSERT ...
ON CONFLICT DO NOTHING, rows in sorted order), then selects the pairs' rows FOR UPDATE ordered by item, warehouse and
batch_key, so the batch_key 0 row of each pair is locked first and in one global order: parallel postings
wait for each other per pair, never deadlock and never lose an update. Batch rows of a pair are only written
by whoever holds its batch_key 0 row. SQLite transactions are exclusive already (BEGIN IMMEDIATE): there the
rows are read first, and only a pair's first posting inserts its batch_key 0 row (one statement less a posting).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection

ZERO = Decimal(0)


@dataclass(slots=True)
class Row:
    """One balance row as the posting changes it."""

    id: int | None
    item: int
    warehouse: int
    batch_key: int
    on_hand: Decimal = ZERO
    reserved: Decimal = ZERO
    value: Decimal = ZERO
    changed: bool = False


def dialect_insert(connection: Connection, table: Table):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@dataclass(frozen=True, slots=True)
class Statements:
    """A balance table's statements, built once: SQLAlchemy then reuses their cache keys and compiled forms
    instead of rebuilding them on every posting (a measurable share of a receipt's time)."""

    ensure: Any  # INSERT ... ON CONFLICT DO NOTHING of the pairs' batch_key 0 rows
    holding: Any  # the pairs' rows that hold anything, and their batch_key 0 rows (locked on PostgreSQL)
    one: Any  # one row by item, warehouse and batch_key
    update: Any  # write back by id


@lru_cache(maxsize=64)
def statements(table: Table, dialect: str) -> Statements:
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    ensure = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing(
        index_elements=["item", "warehouse", "batch_key"])
    holding = (select(*_columns(table))
               .where(tuple_(table.c.item, table.c.warehouse).in_(bindparam("pairs", expanding=True)),
                      _holds_anything(table))
               .order_by(table.c.item, table.c.warehouse, table.c.batch_key))
    if dialect == "postgresql":
        holding = holding.with_for_update()
    one = select(table.c.id, table.c.on_hand, table.c.reserved, table.c.value).where(
        table.c.item == bindparam("item"), table.c.warehouse == bindparam("warehouse"),
        table.c.batch_key == bindparam("batch_key"))
    write = update(table).where(table.c.id == bindparam("row_id")).values(
        on_hand=bindparam("on_hand"), reserved=bindparam("reserved"), available=bindparam("available"),
        value=bindparam("value"), updated_at=bindparam("updated_at"))
    return Statements(ensure, holding, one, write)


def _columns(table: Table) -> tuple[Any, ...]:
    c = table.c
    return c.id, c.item, c.warehouse, c.batch_key, c.on_hand, c.reserved, c.value


def _holds_anything(table: Table) -> Any:
    return or_(table.c.batch_key == 0, table.c.on_hand != ZERO, table.c.value != ZERO, table.c.reserved != ZERO)


class Positions:
    """The locked balance rows of some item × warehouse pairs, and their totals."""

    def __init__(self, connection: Connection, stock: Mapping[str, Table], now: dt.datetime) -> None:
        self.connection = connection
        self.table = stock["balance"]
        self.statements = statements(self.table, connection.dialect.name)
        self.now = now
        self.rows: dict[tuple[int, int, int], Row] = {}
        self.pairs: set[tuple[int, int]] = set()

    def lock(self, pairs: Iterable[tuple[int, int]], batch_keys: Iterable[tuple[int, int, int]] = ()) -> None:
        """Lock the pairs (and load their rows that hold anything, plus the given batch rows)."""
        pairs = sorted(set(pairs) - self.pairs)
        if not pairs:
            return
        batch_keys = list(batch_keys)
        if self.connection.dialect.name == "postgresql":  # the rows to lock must exist first
            self._ensure(pairs)
        found = list(self._select(pairs, batch_keys))
        missing = sorted(set(pairs) - {(row.item, row.warehouse) for row in found if row.batch_key == 0})
        if missing:  # SQLite only (its transactions are exclusive): a pair's first posting makes its row
            self._ensure(missing)
            found = list(self._select(pairs, batch_keys))
        for row in found:
            self.rows[(row.item, row.warehouse, row.batch_key)] = Row(
                row.id, row.item, row.warehouse, row.batch_key, row.on_hand, row.reserved, row.value)
        self.pairs.update(pairs)

    def _ensure(self, pairs: list[tuple[int, int]]) -> None:
        self.connection.execute(self.statements.ensure, [
            {"item": item, "warehouse": warehouse, "batch": None, "batch_key": 0, "on_hand": ZERO,
             "reserved": ZERO, "available": ZERO, "value": ZERO, "updated_at": self.now} for item, warehouse in pairs])

    def _select(self, pairs: list[tuple[int, int]], batch_keys: Iterable[tuple[int, int, int]]) -> Any:
        table = self.table
        keys = sorted({key for key in batch_keys if key[:2] in set(pairs) and key[2]})
        if keys:  # named batches that may hold nothing yet: a statement of their own (less common)
            query = (select(*_columns(table))
                     .where(tuple_(table.c.item, table.c.warehouse).in_(pairs), or_(
                         _holds_anything(table), tuple_(table.c.item, table.c.warehouse, table.c.batch_key).in_(keys)))
                     .order_by(table.c.item, table.c.warehouse, table.c.batch_key))
            if self.connection.dialect.name == "postgresql":
                query = query.with_for_update()
            return self.connection.execute(query)
        return self.connection.execute(self.statements.holding, {"pairs": pairs})

    def row(self, item: int, warehouse: int, batch_key: int) -> Row:
        """The row (a new one if the batch never was in this warehouse, or held nothing when loaded)."""
        key = (item, warehouse, batch_key)
        found = self.rows.get(key)
        if found is None:
            found = self.rows[key] = self._load(key) or Row(None, item, warehouse, batch_key)
        return found

    def _load(self, key: tuple[int, int, int]) -> Row | None:
        """A batch row that held nothing when the pair was locked (its pair's lock covers it)."""
        found = self.connection.execute(self.statements.one,
                                        {"item": key[0], "warehouse": key[1], "batch_key": key[2]}).first()
        return Row(found.id, *key, found.on_hand, found.reserved, found.value) if found else None

    def of_pair(self, item: int, warehouse: int) -> list[Row]:
        return [row for key, row in self.rows.items() if key[0] == item and key[1] == warehouse]

    def on_hand(self, item: int, warehouse: int) -> Decimal:
        return sum((row.on_hand for row in self.of_pair(item, warehouse)), ZERO)

    def value(self, item: int, warehouse: int) -> Decimal:
        return sum((row.value for row in self.of_pair(item, warehouse)), ZERO)

    def reserved(self, item: int, warehouse: int) -> Decimal:
        return sum((row.reserved for row in self.of_pair(item, warehouse)), ZERO)

    def change(self, item: int, warehouse: int, batch_key: int, *, qty: Decimal = ZERO, value: Decimal = ZERO,
               reserved: Decimal = ZERO) -> Row:
        row = self.row(item, warehouse, batch_key)
        row.on_hand += qty
        row.value += value
        row.reserved += reserved
        row.changed = True
        return row

    def write(self) -> list[int]:
        """Write the changed rows back (new rows inserted); their ids."""
        table = self.table
        changed = [row for row in self.rows.values() if row.changed]
        new = [row for row in changed if row.id is None]
        old = [row for row in changed if row.id is not None]
        if old:
            self.connection.execute(
                self.statements.update,
                [{"row_id": row.id, "on_hand": row.on_hand, "reserved": row.reserved,
                  "available": row.on_hand - row.reserved, "value": row.value, "updated_at": self.now} for row in old])
        for row in new:  # rare: a batch's first arrival in a warehouse
            row.id = self.connection.execute(insert(table).values(
                item=row.item, warehouse=row.warehouse, batch=row.batch_key or None, batch_key=row.batch_key,
                on_hand=row.on_hand, reserved=row.reserved, available=row.on_hand - row.reserved, value=row.value,
                updated_at=self.now).returning(table.c.id)).scalar_one()
        for row in changed:
            row.changed = False
        return sorted(row.id for row in changed if row.id is not None)
