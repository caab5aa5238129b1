"""Reorder: the items whose available stock fell to their reorder level, and draft purchase documents for them.

    lines = reorder_list(session)                         # every item at or below its level
    made = create_purchase_drafts(session, lines)         # draft purchase orders, one per supplier

An item is listed when its available stock (on hand − reserved, over every warehouse or in one) is at or
below its reorder level (the item field named by `stock: reorder_level`; the safety stock when it has no
reorder level). The suggested quantity brings the stock back up to the level plus one safety stock, less
what is already on order (open purchase lines, drafts included: creating twice orders nothing twice),
rounded up to whole units.

Drafts go to the app's purchase_request entity when it has one, else to purchase_order, through the service
layer as the user (their rights, the document's defaults and checks), all in one transaction. Each item's
supplier is the item's own supplier field when the item has one, else the supplier it was last ordered from;
items with neither are listed but left out of the drafts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import Table, func, or_, select
from sqlalchemy.engine import Connection

from dsl.model import App, Entity, FieldType
from engine.errors import NotFound, ValidationFailed
from engine.stock.tables import QTY
from engine.stock.wording import say

ZERO = Decimal(0)
PURCHASE_DOCUMENTS = ("purchase_request", "purchase_order")


@dataclass(frozen=True, slots=True)
class ReorderLine:
    item: int
    title: str
    available: Decimal
    level: Decimal  # the reorder level (the safety stock where no reorder level is set)
    safety_stock: Decimal
    on_order: Decimal
    suggested: Decimal  # 0: what is on order covers it
    supplier: int | None


@dataclass(frozen=True, slots=True)
class Drafts:
    entity: str
    documents: tuple[dict[str, Any], ...]  # the drafts made, one per supplier
    without_supplier: tuple[ReorderLine, ...]  # left out: no supplier known


@dataclass(frozen=True, slots=True)
class Purchase:
    """Where purchases are written: the document, its lines' table, and their item, qty and supplier fields."""

    entity: Entity
    lines: Entity
    table: str
    supplier: str | None  # the header's supplier link field
    received: str | None  # the line field a goods receipt adds its quantity to (received_qty)


def purchase_document(app: App) -> Purchase:
    for name in PURCHASE_DOCUMENTS:
        entity = app.entities.get(name)
        if entity is None or not entity.is_document:
            continue
        for table, field in entity.fields.items():
            lines = app.entities.get(field.table or "") if field.type is FieldType.TABLE else None
            if lines is None or not _links(lines, "item", app.stock.item) or "qty" not in lines.fields:
                continue
            supplier = "supplier" if "supplier" in entity.fields and entity.fields["supplier"].link else None
            received = _fulfilled_field(app, name)
            return Purchase(entity, lines, table, supplier, received if received in lines.fields else None)
    raise NotFound(say(app.locale, "应用没有采购申请或采购订单（含物料和数量明细），不能生成采购草稿",
                       "the app has no purchase request or purchase order with item and qty lines to draft"))


def _links(entity: Entity, name: str, target: str) -> bool:
    field = entity.fields.get(name)
    return field is not None and field.type is FieldType.LINK and field.link == target


def _fulfilled_field(app: App, source: str) -> str | None:
    for entity in app.entities.values():
        link = entity.make_from.get(source)
        if link is not None and link.lines is not None and link.lines.fulfil:
            return link.lines.fulfil
    return None


# --- the list ----------------------------------------------------------------------------------------------


def reorder_list(session: Any, *, warehouse: int | None = None) -> list[ReorderLine]:
    """Every item at or below its reorder level, most urgent (furthest below) first."""
    app = session.app
    stock = app.stock
    if stock is None or not (stock.reorder_level or stock.safety_stock):
        raise NotFound(say(app.locale, "应用的 stock 设置没有指定再订货点或安全库存字段",
                           "the app's stock settings name no reorder_level or safety_stock field"))
    items = session.records.schema.tables[stock.item]
    item_entity = app.entities[stock.item]
    session.access.require(item_entity, "read")
    with session.transaction() as (connection, _):
        available = _available(connection, session.records.schema.stock, warehouse)
        found = _below(connection, items, item_entity, stock.reorder_level, stock.safety_stock, available)
        if not found:
            return []
        purchase = _purchase_or_none(app)
        on_order = _on_order(session, connection, purchase, [row["id"] for row, *_ in found])
        suppliers = _suppliers(session, connection, purchase, item_entity, [row for row, *_ in found])
    lines = []
    for row, level, safety, have in found:
        ordered = on_order.get(row["id"], ZERO)
        target = max(level, safety) + safety
        suggested = max(target - have - ordered, ZERO).quantize(Decimal(1), rounding=ROUND_CEILING)
        lines.append(ReorderLine(row["id"], session._title(item_entity, row), have, level, safety, ordered,
                                 suggested, suppliers.get(row["id"])))
    return sorted(lines, key=lambda line: (line.available - line.level, line.title))


def _available(connection: Connection, stock: dict[str, Table], warehouse: int | None) -> dict[int, Decimal]:
    balance = stock["balance"]
    query = select(balance.c.item, func.sum(balance.c.available, type_=QTY)).group_by(balance.c.item)
    if warehouse is not None:
        query = query.where(balance.c.warehouse == warehouse)
    return {item: qty or ZERO for item, qty in connection.execute(query)}


def _below(connection: Connection, items: Table, entity: Entity, reorder: str | None, safety: str | None,
           available: dict[int, Decimal]) -> list[tuple[dict[str, Any], Decimal, Decimal, Decimal]]:
    """The items with a level and no more available than it. Compared here, not in SQL: on SQLite the item's
    quantities and the balances are integers scaled differently."""
    levels = [items.c[name] > 0 for name in (reorder, safety) if name]
    query = select(items).where(or_(*levels))
    active = entity.fields.get("active")
    if active is not None and active.type is FieldType.BOOL:
        query = query.where(items.c.active.isnot(False))
    found = []
    for row in connection.execute(query).mappings():
        record = dict(row)
        safety_qty = Decimal((record.get(safety) if safety else None) or 0)
        level = Decimal((record.get(reorder) if reorder else None) or 0) or safety_qty
        have = available.get(record["id"], ZERO)
        if level > 0 and have <= level:
            found.append((record, level, safety_qty, have))
    return found


def _purchase_or_none(app: App) -> Purchase | None:
    try:
        return purchase_document(app)
    except NotFound:
        return None


def _on_order(session: Any, connection: Connection, purchase: Purchase | None, item_ids: list[int]
              ) -> dict[int, Decimal]:
    """What is ordered and not yet received, per item: open lines of drafts and submitted documents."""
    if purchase is None:
        return {}
    header = session.records.schema.tables[purchase.entity.name]
    lines = session.records.schema.tables[purchase.lines.name]
    received = lines.c[purchase.received] if purchase.received else None
    query = (select(lines.c.item, lines.c.qty, header.c.docstatus, *([received] if received is not None else []))
             .select_from(lines.join(header, header.c.id == lines.c.parent_id))
             .where(lines.c.item.in_(item_ids), header.c.docstatus.in_(("draft", "submitted"))))
    totals: dict[int, Decimal] = {}
    for row in connection.execute(query):
        done = (row[3] or ZERO) if received is not None and row.docstatus == "submitted" else ZERO
        totals[row.item] = totals.get(row.item, ZERO) + max((row.qty or ZERO) - done, ZERO)
    return totals


def _suppliers(session: Any, connection: Connection, purchase: Purchase | None, item: Entity,
               rows: list[dict[str, Any]]) -> dict[int, int]:
    """Each item's supplier: its own supplier field, else the supplier of its latest purchase document."""
    if purchase is None or purchase.supplier is None:
        return {}
    target = purchase.entity.fields[purchase.supplier].link
    own = next((name for name, field in item.fields.items()
                if field.type is FieldType.LINK and field.link == target and not field.many), None)
    found = {row["id"]: row[own] for row in rows if own and row.get(own)}
    missing = [row["id"] for row in rows if row["id"] not in found]
    if missing:
        header = session.records.schema.tables[purchase.entity.name]
        lines = session.records.schema.tables[purchase.lines.name]
        query = (select(lines.c.item, header.c[purchase.supplier])
                 .select_from(lines.join(header, header.c.id == lines.c.parent_id))
                 .where(lines.c.item.in_(missing), header.c.docstatus != "cancelled",
                        header.c[purchase.supplier].isnot(None))
                 .order_by(header.c.created_at, header.c.id))
        for item_id, supplier in connection.execute(query):
            found[item_id] = supplier  # ordered oldest first: the latest wins
    return found


# --- drafts ------------------------------------------------------------------------------------------------


def create_purchase_drafts(session: Any, lines: Iterable[ReorderLine]) -> Drafts:
    """Draft purchase documents for the lines with something to order, one per supplier, in one transaction."""
    app = session.app
    purchase = purchase_document(app)
    wanted = [line for line in lines if line.suggested > 0]
    by_supplier: dict[int | None, list[ReorderLine]] = {}
    for line in wanted:
        by_supplier.setdefault(line.supplier, []).append(line)
    orphans = tuple(by_supplier.pop(None, [])) if purchase.supplier else ()
    made = []
    with session.transaction() as (connection, _):
        inner = session.records.session(session.user, connection=connection)
        for supplier, group in sorted(by_supplier.items(), key=lambda pair: pair[0] or 0):
            values: dict[str, Any] = {purchase.table: [{"item": line.item, "qty": line.suggested} for line in group]}
            if purchase.supplier:
                values[purchase.supplier] = supplier
            if "remark" in purchase.entity.fields and not purchase.entity.fields["remark"].computed:
                values["remark"] = say(app.locale, "按再订货点自动生成", "made from the reorder list")
            try:
                made.append(inner.create(purchase.entity.name, values))
            except ValidationFailed as failed:
                raise ValidationFailed([type(problem)(problem.field, f"{_supplier_name(inner, supplier)}: "
                                                      f"{problem.message}") for problem in failed.problems]) from None
    return Drafts(purchase.entity.name, tuple(made), orphans)


def _supplier_name(session: Any, supplier: int | None) -> str:
    return say(session.app.locale, f"供应商 #{supplier}", f"supplier #{supplier}") if supplier else ""
