"""What posting needs to know about items and warehouses: their names for messages, and the item fields the
app's stock settings name (batch required, shelf life, valuation, negative stock allowed)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from dsl.model import App


@dataclass(frozen=True, slots=True)
class ItemRules:
    name: str
    batch_required: bool
    shelf_life_days: int | None
    fifo: bool
    negative_allowed: bool
    min_shelf_life_days: int | None = None  # days a batch shipped to a customer must have left (None: none)


def _title(entity: Any, row: Any) -> str:
    parts = [str(row[name]) for name in dict.fromkeys((entity.key, entity.title)) if name and row.get(name)]
    return " ".join(parts) or f"#{row['id']}"


def _own_or(own: int | None, default: int | None) -> int | None:
    """The item's own value when it has one, else the app's."""
    return own if own is not None else default


class Catalog:
    """Items and warehouses of one posting, read once."""

    def __init__(self, app: App, schema: Any, connection: Connection, context: Any = None) -> None:
        self.app = app
        self.schema = schema
        self.connection = connection
        self.context = context  # an EngineContext whose cache may hold the items already (formulas read them)
        self.items: dict[int, ItemRules] = {}
        self.warehouses: dict[int, str] = {}

    def load(self, items: Iterable[int]) -> None:
        stock = self.app.stock
        assert stock is not None
        entity = self.app.entities[stock.item]
        wanted = sorted(set(items) - set(self.items))
        cached = [self.context.fetch(stock.item, key) for key in wanted
                  if self.context is not None and self.context.has(stock.item, key)]
        wanted = sorted(set(wanted) - {row["id"] for row in cached})
        if wanted or cached:
            table = self.schema.tables[stock.item]
            fetched = self.connection.execute(select(table).where(table.c.id.in_(wanted))).mappings() if wanted else []
            for row in [*cached, *fetched]:
                valuation = row.get(stock.valuation_field) if stock.valuation_field else None
                self.items[row["id"]] = ItemRules(
                    name=_title(entity, row),
                    batch_required=bool(stock.batch_required and row.get(stock.batch_required)),
                    shelf_life_days=row.get(stock.shelf_life_days) if stock.shelf_life_days else None,
                    fifo=(valuation or stock.valuation) == "fifo",
                    negative_allowed=stock.negative_stock or bool(
                        stock.allow_negative_field and row.get(stock.allow_negative_field)),
                    min_shelf_life_days=_own_or(row.get(stock.min_shelf_life_field) if stock.min_shelf_life_field
                                                else None, stock.min_remaining_shelf_life_days))

    def item(self, item_id: int) -> ItemRules:
        stock = self.app.stock
        return self.items.get(item_id) or ItemRules(f"#{item_id}", False, None, False, False,
                                                    stock.min_remaining_shelf_life_days if stock else None)

    def warehouse(self, warehouse_id: int) -> str:
        """A warehouse's name, read when a message needs it (refusals only)."""
        if warehouse_id not in self.warehouses:
            stock = self.app.stock
            assert stock is not None
            table = self.schema.tables[stock.warehouse]
            row = self.connection.execute(select(table).where(table.c.id == warehouse_id)).mappings().first()
            self.warehouses[warehouse_id] = _title(self.app.entities[stock.warehouse], row) if row else \
                f"#{warehouse_id}"
        return self.warehouses[warehouse_id]
