"""The variance report of a stock count: per line the books, the count, the difference in quantity, value
and percent, and whether it is within the tolerance or flagged for a recount or approval.

While the count is a draft the books are read now (the snapshot plus what moved since it); once submitted,
the report shows what was posted (expected_qty was set to the books at submission).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.stock.count import ZERO, count_entity, tolerance, variance
from engine.stock.count_book import LineKey, book_quantities, rates

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class VarianceLine:
    line: int  # the line's number on the count (1, 2, ...)
    line_id: int
    item: int
    location: int | None
    batch_no: str | None
    snapshot_qty: Decimal  # the books when the count started
    moved_since: Decimal  # what moved between the snapshot and now (or the submission)
    expected_qty: Decimal  # the books at count time: snapshot + moved
    counted_qty: Decimal | None
    difference: Decimal | None
    value: Decimal | None  # the difference at the item's unit value in the warehouse
    percent: Decimal | None  # the difference as a fraction of the books (0.24 = 24 %)
    within_tolerance: bool | None
    approved: bool
    flag: str | None  # "recount" (beyond the tolerance, not approved), "approved", or None


@dataclass(frozen=True, slots=True)
class VarianceReport:
    count_id: int
    doc_no: str | None
    docstatus: str
    snapshot_at: dt.datetime | None
    tolerance: Decimal  # as a fraction
    lines: tuple[VarianceLine, ...]

    @property
    def counted(self) -> int:
        return sum(1 for line in self.lines if line.counted_qty is not None)

    @property
    def accuracy(self) -> Decimal | None:
        """Inventory accuracy (账实相符率): lines within the tolerance / lines counted."""
        within = sum(1 for line in self.lines if line.within_tolerance)
        return (Decimal(within) / self.counted).quantize(Decimal("0.0001")) if self.counted else None

    @property
    def value(self) -> Decimal:
        return sum((line.value or ZERO for line in self.lines), ZERO)


def variance_report(session: Any, count_id: int) -> VarianceReport:
    entity = count_entity(session)
    record = session.get(entity.name, count_id)
    lines = record.get("lines") or []
    limit = tolerance(session.app)
    with session.transaction() as (connection, _):
        stock = session.records.schema.stock
        keys = [LineKey.of(row) for row in lines]
        book = book_quantities(connection, stock, record["warehouse"], keys) if record["docstatus"] == "draft" \
            else {LineKey.of(row): row.get("expected_qty") or ZERO for row in lines}
        unit = rates(connection, stock, record["warehouse"], (key.item for key in keys))
    shown = []
    for number, (row, key) in enumerate(zip(lines, keys, strict=True), start=1):
        snapshot = row.get("snapshot_qty") or ZERO if record.get("snapshot_at") else book[key]
        counted = row.get("counted_qty")
        difference = None if counted is None else counted - book[key]
        percent = None if counted is None else variance(book[key], counted)
        within = None if percent is None else abs(percent) <= limit
        approved = bool(row.get("variance_approved"))
        flag = None if within in (None, True) else ("approved" if approved else "recount")
        value = None if difference is None else (difference * unit.get(key.item, ZERO)).quantize(CENT)
        shown.append(VarianceLine(number, row["id"], key.item, key.location, key.batch_no, snapshot,
                                  book[key] - snapshot, book[key], counted, difference, value, percent, within,
                                  approved, flag))
    return VarianceReport(count_id, record.get("doc_no"), record["docstatus"], record.get("snapshot_at"), limit,
                          tuple(shown))
