"""Batch trace both ways, for recalls: where a batch came from and where it went.

    trace = trace_batch(connection, app, schema, "B20261001", item=None)   # every item with that batch number
    trace.batches[0].sources      # receipts (and other ins): document, date, supplier, supplier batch, qty
    trace.batches[0].shipments    # outbound documents: document, date, customer (when the document has one), qty
    trace.batches[0].recall       # per customer: net quantity received (shipped − returned)

Cancelled documents are left out (an entry that was reversed and its reversal both). Transfers between
warehouses do not change a batch and are not listed: the batch is followed wherever it is. The party of a
document is its link field to the supplier or customer entity: the entities named by the stock plugin's
settings `supplier_entity` / `customer_entity` when the app has them, else the entities named `supplier` and
`customer`; a receipt without a supplier field falls back to the supplier stored on the batch.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from dsl.model import App, Entity, FieldType
from engine.errors import NotFound
from engine.stock.labels import record_labels, text_of
from engine.stock.wording import say

ZERO = Decimal(0)


@dataclass
class Movement:
    document: str  # the document's label (入库单)
    entity: str
    id: int
    doc_no: str | None
    posted_at: dt.datetime
    warehouse: str
    qty: Decimal  # positive: what came in, or what went out
    party: str | None = None  # the supplier or the customer
    party_id: int | None = None
    supplier_batch: str | None = None


@dataclass
class BatchTrace:
    batch_id: int
    batch_no: str
    item: str
    item_id: int
    expiry: dt.date | None
    production_date: dt.date | None
    on_hand: Decimal
    sources: list[Movement] = field(default_factory=list)
    shipments: list[Movement] = field(default_factory=list)
    recall: list[tuple[str, Decimal]] = field(default_factory=list)  # (customer, net qty), largest first


@dataclass
class Trace:
    batch_no: str
    batches: list[BatchTrace]
    locale: str = "zh-CN"

    def lines(self) -> list[str]:
        """The trace as a readable report (the CLI prints it)."""
        out: list[str] = []
        for batch in self.batches:
            out += _lines(batch, self.locale)
        return out


def trace_batch(connection: Connection, app: App, schema: Any, batch_no: str, *, item: int | None = None) -> Trace:
    """Trace every batch numbered `batch_no` (of one item when `item` is given); NotFound when there is none."""
    settings = app.stock
    if settings is None:
        raise NotFound(f"{app.name} keeps no stock")
    stock = schema.stock
    batch, ledger = stock["batch"], stock["ledger"]
    query = select(batch).where(batch.c.batch_no == batch_no).order_by(batch.c.item, batch.c.id)
    if item is not None:
        query = query.where(batch.c.item == item)
    found = connection.execute(query).mappings().all()
    if not found:
        raise NotFound(say(app.locale, f"没有批次号为 {batch_no} 的批次", f"there is no batch numbered {batch_no}")
                       + (say(app.locale, "（该物料）", " (of that item)") if item is not None else ""))
    ids = [row["id"] for row in found]
    reversal = ledger.alias("reversal")
    live = and_(ledger.c.batch.in_(ids), ledger.c.reverses.is_(None), ledger.c.source_entity.not_in(_transfers(app)),
                ledger.c.id.not_in(select(reversal.c.reverses).where(reversal.c.reverses.is_not(None))))
    entries = connection.execute(
        select(ledger.c.batch, ledger.c.posted_at, ledger.c.warehouse, ledger.c.qty, ledger.c.source_entity,
               ledger.c.source_id, ledger.c.doc_no).where(live).order_by(ledger.c.posted_at, ledger.c.id)).all()
    parties = _Parties(connection, app, schema)
    suppliers = parties.of(entry for entry in entries if entry.qty > 0)
    customers = parties.of((entry for entry in entries if entry.qty < 0), customers=True)
    items = record_labels(connection, app, schema.tables, settings.item, (row["item"] for row in found))
    warehouses = record_labels(connection, app, schema.tables, settings.warehouse, (e.warehouse for e in entries))
    returned = parties.of((entry for entry in entries if entry.qty > 0), customers=True)
    by_id = {row["id"]: row for row in found}
    traces = {row["id"]: BatchTrace(row["id"], row["batch_no"], text_of(items.get(row["item"]), row["item"]),
                                    row["item"], row["expiry"], row["production_date"], row["on_hand"])
              for row in found}
    batch_suppliers = parties.labels(parties.supplier_entity, (row["supplier"] for row in found))
    net: dict[int, dict[tuple[int | None, str], Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for entry in entries:
        trace = traces[entry.batch]
        entity = app.entities.get(entry.source_entity)
        movement = Movement(entity.label.get(app.locale) if entity else entry.source_entity, entry.source_entity,
                            entry.source_id, entry.doc_no, entry.posted_at,
                            text_of(warehouses.get(entry.warehouse), entry.warehouse), abs(entry.qty))
        key = (entry.source_entity, entry.source_id)
        if entry.qty > 0:
            customer = returned.get(key)
            if customer is not None:  # a customer's return: it takes back what the customer had
                net[trace.batch_id][customer] -= entry.qty
                movement.party_id, movement.party = customer
            elif key in suppliers or _names_supplier(entity):  # a receipt (not a count gain, say)
                origin = by_id[entry.batch]
                movement.party_id, movement.party = suppliers.get(key) or (
                    origin["supplier"], batch_suppliers.get(origin["supplier"]) if origin["supplier"] else None)
                movement.supplier_batch = origin["supplier_batch"]
            trace.sources.append(movement)
        else:
            movement.party_id, movement.party = customers.get(key, (None, None))
            if movement.party is not None:
                net[trace.batch_id][movement.party_id, movement.party] += abs(entry.qty)
            trace.shipments.append(movement)
    for batch_id, per_customer in net.items():
        traces[batch_id].recall = sorted(((name, qty) for (_, name), qty in per_customer.items() if qty > 0),
                                         key=lambda pair: (-pair[1], pair[0]))
    return Trace(batch_no, list(traces.values()), app.locale)


class _Parties:
    """The supplier or customer of documents, through each document's link field to that entity."""

    def __init__(self, connection: Connection, app: App, schema: Any) -> None:
        self.connection = connection
        self.app = app
        self.schema = schema
        settings = app.plugins.get("stock") or {}
        self.supplier_entity = settings.get("supplier_entity") or "supplier"
        self.customer_entity = settings.get("customer_entity") or "customer"

    def of(self, entries: Iterable[Any], *, customers: bool = False) -> dict[tuple[str, int], tuple[int, str]]:
        """(source entity, id) → (party id, "code name") for the documents that link to a party."""
        target = self.customer_entity if customers else self.supplier_entity
        wanted: dict[str, set[int]] = defaultdict(set)
        for entry in entries:
            wanted[entry.source_entity].add(entry.source_id)
        party_of: dict[tuple[str, int], int] = {}
        for name, ids in wanted.items():
            link = _link_field(self.app.entities.get(name), target)
            if link is None:
                continue
            table = self.schema.tables[name]
            rows = self.connection.execute(select(table.c.id, table.c[link]).where(table.c.id.in_(sorted(ids))))
            party_of.update({(name, row[0]): row[1] for row in rows if row[1] is not None})
        names = self.labels(target, party_of.values())
        return {key: (party, names.get(party, str(party))) for key, party in party_of.items()}

    def labels(self, entity: str, ids: Iterable[int | None]) -> dict[int, str]:
        if entity not in self.app.entities:
            return {}
        found = record_labels(self.connection, self.app, self.schema.tables, entity, ids)
        return {key: text_of(label, key) for key, label in found.items()}


def _link_field(entity: Entity | None, target: str) -> str | None:
    if entity is None:
        return None
    for name, candidate in entity.fields.items():
        if candidate.type is FieldType.LINK and candidate.link == target and not candidate.many:
            return name
    return None


def _names_supplier(entity: Entity | None) -> bool:
    """Whether the document's stock effects say who supplied the goods (a receipt)."""
    return entity is not None and any(effect.supplier is not None for effect in entity.stock)


def _transfers(app: App) -> list[str]:
    return [name for name, entity in app.entities.items()
            if entity.stock and all(effect.direction == "transfer" for effect in entity.stock)]


def _lines(batch: BatchTrace, locale: str) -> list[str]:
    def number(value: Decimal) -> str:
        return format(value.normalize(), "f") if value else "0"

    def row(movement: Movement) -> str:
        party = f"  {movement.party}" if movement.party else ""
        extra = say(locale, f"  供应商批号 {movement.supplier_batch}", f"  supplier batch {movement.supplier_batch}") \
            if movement.supplier_batch else ""
        return (f"    {movement.posted_at:%Y-%m-%d}  {movement.document} {movement.doc_no or movement.id}  "
                f"{movement.warehouse}{party}  {number(movement.qty)}{extra}")

    expiry = say(locale, f"，有效期至 {batch.expiry}", f", expires {batch.expiry}") if batch.expiry else ""
    out = [say(locale, f"批次 {batch.batch_no}（{batch.item}{expiry}），现存 {number(batch.on_hand)}",
               f"batch {batch.batch_no} ({batch.item}{expiry}), on hand {number(batch.on_hand)}")]
    out.append(say(locale, "  来源（入库）：", "  came from (receipts):"))
    out += [row(m) for m in batch.sources] or [say(locale, "    （无）", "    (none)")]
    out.append(say(locale, "  去向（出库）：", "  went to (outbound documents):"))
    out += [row(m) for m in batch.shipments] or [say(locale, "    （无）", "    (none)")]
    out.append(say(locale, "  召回名单（客户：净收货数量）：", "  recall list (customer: net quantity received):"))
    out += [f"    {name}: {number(qty)}" for name, qty in batch.recall] or [say(locale, "    （无）", "    (none)")]
    return out
