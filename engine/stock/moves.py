"""A submitted document's stock effects as movements: every effect's formulas evaluated on every row.

A transfer row gives two movements (out of the first warehouse, into the second, the cost carried over);
rows whose quantity is 0 move nothing (a stock count line without a difference).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dsl.formula.errors import FormulaRuntimeError
from dsl.model import Entity, Formula, StockEffect
from engine.context import EngineContext
from engine.errors import FieldProblem

MAX_QTY = Decimal(10) ** 12


@dataclass(slots=True)
class Move:
    """One movement of one item in one warehouse, before it is valued. `qty` is positive; `sign` +1 in, -1 out."""

    path: str  # where it comes from, for messages: "lines[2]"
    line_id: int | None
    item: int
    warehouse: int
    qty: Decimal
    sign: int
    posted_at: dt.datetime
    location: int | None = None
    batch_no: str | None = None
    batch: int | None = None  # the batch id, once known
    expiry: dt.date | None = None
    production_date: dt.date | None = None
    unit_cost: Decimal | None = None  # given (receipts, purchase returns); else the valuation's
    supplier: int | None = None
    supplier_batch: str | None = None
    ships: bool = False  # out to a customer: the minimum remaining shelf life applies
    guarded: bool = True  # an expired batch may not leave (False: a write-off, a scrap issue or a count)
    carried_from: Move | None = None  # the in-leg of a transfer: valued at the out-leg's cost
    # the document line this one was made from (a return's shipment line): (entity, record id, line id)
    origin: tuple[str, int, int] | None = None
    value: Decimal = Decimal(0)  # signed value change, once valued
    rate: Decimal | None = None  # unit cost, once valued
    # what an out-move took, once valued: (batch id or 0, qty, value change, unit cost) per batch (FEFO splits)
    legs: list[tuple[int, Decimal, Decimal, Decimal]] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int]:
        return self.item, self.warehouse


def _posting_time(day: Any, now: dt.datetime) -> dt.datetime:
    """Today's movements happen now; another day's at the end of that day (after what was entered for it)."""
    if day is None:
        return now
    if isinstance(day, dt.datetime):
        day = day.date()
    if day == now.date():
        return now
    return dt.datetime.combine(day, dt.time(23, 59, 59))


class MoveReader:
    """Evaluates one document's effects; every problem is collected (by row and key), nothing stops early."""

    def __init__(self, entity: Entity, context: EngineContext, now: dt.datetime, ships: bool,
                 write_off: bool = False) -> None:
        self.entity = entity
        self.context = context
        self.now = now
        self.ships = ships
        self.guarded = not write_off
        self.problems: list[FieldProblem] = []

    def read(self, record: dict[str, Any]) -> list[Move]:
        moves: list[Move] = []
        source = (record.get("made_from_entity"), record.get("made_from_id"))
        for effect in self.entity.stock:
            for index, row in enumerate(record.get(effect.table) or ()):
                for move in self._row(effect, f"{effect.table}[{index}]", row):
                    if source[0] and source[1] is not None and row.get("made_from_line") is not None:
                        move.origin = (source[0], source[1], row["made_from_line"])
                    moves.append(move)
        return moves

    def _value(self, formula: Formula | None, row: dict[str, Any], path: str, key: str) -> Any:
        if formula is None:
            return None
        try:
            return formula.python(row, self.context)
        except FormulaRuntimeError as error:
            self.problems.append(FieldProblem(f"{path}.{key}", error.message))
            return None

    def _row(self, effect: StockEffect, path: str, row: dict[str, Any]) -> Iterator[Move]:
        value = {key: self._value(getattr(effect, key), row, path, key) for key in (
            "item", "qty", "warehouse", "to_warehouse", "location", "to_location", "batch", "expiry",
            "production_date", "unit_cost", "supplier", "supplier_batch", "date")}
        qty = value["qty"]
        if qty is None or qty == 0:
            return
        if qty < 0:
            self.problems.append(FieldProblem(f"{path}.qty", f"cannot move a negative quantity ({qty})"))
            return
        if qty >= MAX_QTY:  # the ledger keeps 12 digits before the point
            self.problems.append(FieldProblem(f"{path}.qty", f"{qty} is more than stock can hold (at most "
                                                             f"{MAX_QTY - 1} in one movement)"))
            return
        for key in ("item", "warehouse") + (("to_warehouse",) if effect.direction == "transfer" else ()):
            if value[key] is None:
                self.problems.append(FieldProblem(path, f"the stock effect's {key} is blank"))
                return
        common = dict(path=path, line_id=row.get("id"), item=value["item"], qty=Decimal(qty),
                      posted_at=_posting_time(value["date"], self.now), batch_no=value["batch"] or None)
        if effect.direction == "in":
            yield Move(**common, warehouse=value["warehouse"], sign=1, location=value["location"],
                       expiry=value["expiry"], production_date=value["production_date"],
                       unit_cost=value["unit_cost"], supplier=value["supplier"],
                       supplier_batch=value["supplier_batch"])
        elif effect.direction == "out":
            # a declared unit cost is what it leaves at (a purchase return: its receipt's cost)
            yield Move(**common, warehouse=value["warehouse"], sign=-1, location=value["location"], ships=self.ships,
                       guarded=self.guarded, unit_cost=value["unit_cost"])
        else:
            out = Move(**common, warehouse=value["warehouse"], sign=-1, location=value["location"],
                       guarded=self.guarded)
            yield out
            yield Move(**common, warehouse=value["to_warehouse"], sign=1,
                       location=value["to_location"], carried_from=out)
