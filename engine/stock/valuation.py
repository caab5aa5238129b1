"""What a movement is worth: moving average (the pair's value / quantity) or FIFO (the oldest receipts' costs).

Receipts carry their own unit cost (or, without one, the current average); issues are valued here. Values are
money (2 places), rates 6 places; an issue of everything left takes exactly the value left, so no cents linger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.engine import Connection

ZERO = Decimal(0)
CENT = Decimal("0.01")
RATE = Decimal("0.000001")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rate_of(value: Decimal) -> Decimal:
    return value.quantize(RATE, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class PairState:
    """Quantity and value of an item in a warehouse at the moment being valued (now, or a backdated time)."""

    qty: Decimal
    value: Decimal
    last_rate: Decimal = ZERO  # the rate to use while nothing is in stock

    def rate(self) -> Decimal:
        if self.qty > 0:
            return rate_of(self.value / self.qty)
        return self.last_rate

    def issue(self, qty: Decimal) -> tuple[Decimal, Decimal]:
        """(signed value change, unit cost) of taking `qty` out at the moving average."""
        rate = self.rate()
        if 0 < self.qty <= qty:  # everything left (and more, where negative stock is allowed): no cents linger
            return -(self.value + money((qty - self.qty) * rate)), rate
        return -money(qty * rate), rate

    def issue_at(self, qty: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
        """(signed value change, unit cost) of taking `qty` out at a given cost (a purchase return leaves at its
        receipt's). Where that would empty the pair or leave it a negative value, the moving average instead:
        no value may linger on nothing, nor go below zero."""
        value = money(qty * rate)
        if qty >= self.qty or value > self.value:
            return self.issue(qty)
        return -value, rate

    def apply(self, qty: Decimal, value: Decimal) -> None:
        if qty > 0 and value and qty:
            self.last_rate = rate_of(value / qty)
        elif self.qty > 0:
            self.last_rate = self.rate()
        self.qty += qty
        self.value += value


class FifoLayers:
    """The open FIFO layers of the pairs valued first in, first out; consumed oldest first."""

    def __init__(self, connection: Connection, stock: Mapping[str, Table]) -> None:
        self.connection = connection
        self.table = stock["layer"]
        self.open: dict[tuple[int, int], list[list]] = {}  # pair → [[layer id, qty left, unit cost], ...]
        self.changed: dict[int, Decimal] = {}
        self.new: list[dict] = []

    def _layers(self, item: int, warehouse: int) -> list[list]:
        layers = self.open.get((item, warehouse))
        if layers is None:
            table = self.table
            rows = self.connection.execute(
                select(table.c.id, table.c.qty_left, table.c.unit_cost)
                .where(table.c.item == item, table.c.warehouse == warehouse, table.c.qty_left > ZERO)
                .order_by(table.c.posted_at, table.c.id))
            layers = self.open[(item, warehouse)] = [[row.id, row.qty_left, row.unit_cost] for row in rows]
        return layers

    def issue(self, item: int, warehouse: int, qty: Decimal, fallback: Decimal) -> tuple[Decimal, Decimal]:
        """(signed value change, unit cost) of taking `qty` from the oldest layers; beyond them (negative stock
        allowed) at `fallback`."""
        left, value = qty, ZERO
        for layer in self._layers(item, warehouse):
            if not left:
                break
            taken = min(left, layer[1])
            if not taken:
                continue
            layer[1] -= taken
            left -= taken
            value += taken * layer[2]
            if layer[0] is not None:
                self.changed[layer[0]] = layer[1]
        value += left * fallback
        return -money(value), rate_of(value / qty) if qty else fallback

    def take_back(self, item: int, warehouse: int, ledger_id: int, qty: Decimal, fallback: Decimal) -> None:
        """A cancelled receipt: out of its own layer first, the rest from the oldest."""
        table = self.table
        own = self.connection.execute(select(table.c.id, table.c.qty_left).where(table.c.ledger == ledger_id)).first()
        left = qty
        if own is not None:
            layers = self._layers(item, warehouse)
            for layer in layers:
                if layer[0] == own.id:
                    taken = min(left, layer[1])
                    layer[1] -= taken
                    left -= taken
                    self.changed[own.id] = layer[1]
        if left:
            self.issue(item, warehouse, left, fallback)

    def add(self, item: int, warehouse: int, posted_at: object, qty: Decimal, unit_cost: Decimal,
            ledger_index: int) -> None:
        """A new layer; its ledger id is filled in when the ledger rows are written (`ledger_index`)."""
        layer = [None, qty, unit_cost]
        self._layers(item, warehouse).append(layer)
        self.new.append({"item": item, "warehouse": warehouse, "posted_at": posted_at, "qty": qty,
                         "unit_cost": unit_cost, "index": ledger_index, "layer": layer})

    def write(self, ledger_ids: list[int]) -> None:
        table = self.table
        if self.changed:
            self.connection.execute(
                update(table).where(table.c.id == bindparam("layer_id")).values(qty_left=bindparam("left")),
                [{"layer_id": layer_id, "left": left} for layer_id, left in sorted(self.changed.items())])
        if self.new:
            self.connection.execute(table.insert(), [
                {"item": new["item"], "warehouse": new["warehouse"], "ledger": ledger_ids[new["index"]],
                 "posted_at": new["posted_at"], "qty_left": new["layer"][1], "unit_cost": new["unit_cost"]}
                for new in self.new])
        self.changed, self.new = {}, []


def issued_cost(connection: Connection, ledger: Table, origin: tuple[str, int, int]) -> Decimal | None:
    """The unit cost a document line went out at (its ledger entries' value / quantity, cancels left out);
    None if it moved nothing out. A sales return comes back at it."""
    entity, record_id, line = origin
    row = connection.execute(select(func.sum(ledger.c.qty), func.sum(ledger.c.value_change)).where(
        ledger.c.source_entity == entity, ledger.c.source_id == record_id, ledger.c.source_line == line,
        ledger.c.reverses.is_(None), ledger.c.qty < ZERO)).first()
    if row is None or not row[0]:
        return None
    return rate_of(row[1] / row[0])
