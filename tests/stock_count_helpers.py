"""A small stock world on apps/discrete_mfg for the count, reorder and state-machine tests: two warehouses,
locations, two item categories, items with and without batches, and one-line documents to move stock."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from dsl.loader import load_app
from dsl.model import App
from engine.records import Records, Session
from tests.service_helpers import APPS


@functools.cache
def mfg_app() -> App:
    return load_app(APPS / "discrete_mfg")


@dataclass
class World:
    records: Records
    session: Session
    warehouses: dict[str, int] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    suppliers: dict[str, int] = field(default_factory=dict)

    def receive(self, item: str, qty: Any, *, warehouse: str = "A", cost: Any = "2.00", location: str | None = None,
                batch: str | None = None, supplier: str | None = None) -> dict[str, Any]:
        line = {"item": self.items[item], "qty": str(qty), "unit_cost": str(cost)}
        if location:
            line["location"] = self.locations[location]
        if batch:
            line["batch_no"] = batch
        values: dict[str, Any] = {"warehouse": self.warehouses[warehouse], "lines": [line]}
        if supplier:
            values["supplier"] = self.suppliers[supplier]
        return self.session.create("goods_receipt", values, submit=True)

    def issue(self, item: str, qty: Any, *, warehouse: str = "A", location: str | None = None,
              batch: str | None = None) -> dict[str, Any]:
        line = {"item": self.items[item], "qty": str(qty)}
        if location:
            line["location"] = self.locations[location]
        if batch:
            line["batch_no"] = batch
        return self.session.create("stock_issue", {"warehouse": self.warehouses[warehouse], "purpose": "use",
                                                   "lines": [line]}, submit=True)

    def transfer(self, item: str, qty: Any, *, source: str = "A", target: str = "B") -> dict[str, Any]:
        return self.session.create("stock_transfer", {
            "warehouse": self.warehouses[source], "to_warehouse": self.warehouses[target],
            "lines": [{"item": self.items[item], "qty": str(qty)}]}, submit=True)

    def on_hand(self, item: str, warehouse: str = "A") -> Decimal:
        balance = self.records.schema.stock["balance"]
        with self.records.engine.connect() as connection:
            found = connection.execute(select(func.sum(balance.c.on_hand, type_=balance.c.on_hand.type)).where(
                balance.c.item == self.items[item], balance.c.warehouse == self.warehouses[warehouse])).scalar()
        return found or Decimal(0)


def build_world(records: Records) -> World:
    """Warehouses A and B (A with locations A-1, A-2), categories STEEL and STD, items: BOLT and NUT (STD),
    PLATE (STEEL), LOT (STD, kept in batches); suppliers S1 and S2."""
    session = records.system()
    world = World(records, session)
    for code in ("A", "B"):
        world.warehouses[code] = session.create("warehouse", {"code": code, "name": f"仓库{code}"})["id"]
    for code in ("A-1", "A-2"):
        world.locations[code] = session.create("location", {"code": code, "warehouse": world.warehouses["A"]})["id"]
    for code in ("STEEL", "STD"):
        world.categories[code] = session.create("item_category", {"code": code, "name": code})["id"]
    for code in ("S1", "S2"):
        world.suppliers[code] = session.create("supplier", {"code": code, "name": f"供应商{code}"})["id"]
    specs = {"BOLT": ("STD", False), "NUT": ("STD", False), "PLATE": ("STEEL", False), "LOT": ("STD", True)}
    for code, (category, batches) in specs.items():
        world.items[code] = session.create("item", {
            "code": code, "name": f"物料{code}", "category": world.categories[category], "has_batch": batches,
            "purchase_price": "2.00"})["id"]
    return world
