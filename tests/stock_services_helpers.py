"""A small food world for the tests of the stock services (verify, periods, as-of, reports, trace): apps/food
with two ambient warehouses, two items kept in batches, a supplier and two customers, and one-line documents
dated by a movable clock (documents of another day post at that day's end, today's at the clock's time)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from dsl.loader import load_app
from dsl.model import App
from engine.context import Clock
from engine.records import Records, Session
from engine.stock.verify import VerifyResult, verify
from tests.migrated import migrate_new
from tests.service_helpers import APPS

TODAY = dt.date(2026, 11, 20)


@functools.cache
def food_app() -> App:
    return load_app(APPS / "food")


@dataclass
class FoodWorld:
    records: Records
    session: Session
    warehouses: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    suppliers: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)

    def at(self, day: dt.date) -> None:
        """Documents from now on are entered on `day` (the clock says 09:00 that day)."""
        self.records.clock.fixed = dt.datetime.combine(day, dt.time(9, 0))

    def receive(self, item: str, qty: Any, cost: Any, *, batch: str, on: dt.date, warehouse: str = "A",
                expiry: dt.date | None = None, supplier: str = "S1", supplier_batch: str | None = None
                ) -> dict[str, Any]:
        self.at(on)
        line = {"item": self.items[item], "qty": str(qty), "unit_cost": str(cost), "batch_no": batch,
                "production_date": on.isoformat(), "expiry": (expiry or on + dt.timedelta(days=300)).isoformat()}
        if supplier_batch:
            line["supplier_batch"] = supplier_batch
        return self.session.create("goods_receipt", {
            "warehouse": self.warehouses[warehouse], "supplier": self.suppliers[supplier],
            "receipt_date": on.isoformat(), "lines": [line]}, submit=True)

    def ship(self, customer: str, item: str, qty: Any, *, on: dt.date, batch: str | None = None,
             warehouse: str = "A") -> dict[str, Any]:
        self.at(on)
        line: dict[str, Any] = {"item": self.items[item], "qty": str(qty)}
        if batch:
            line["batch_no"] = batch
            line["expiry"] = self.expiry(item, batch).isoformat()  # the shipment shows it (and checks it)
        return self.session.create("sales_shipment", {
            "customer": self.customers[customer], "warehouse": self.warehouses[warehouse],
            "ship_date": on.isoformat(), "lines": [line]}, submit=True)

    def issue(self, item: str, qty: Any, *, on: dt.date, batch: str | None = None, warehouse: str = "A"
              ) -> dict[str, Any]:
        self.at(on)
        line: dict[str, Any] = {"item": self.items[item], "qty": str(qty)}
        if batch:
            line["batch_no"] = batch
        return self.session.create("stock_issue", {"warehouse": self.warehouses[warehouse], "purpose": "use",
                                                   "issue_date": on.isoformat(), "lines": [line]}, submit=True)

    def transfer(self, item: str, qty: Any, *, on: dt.date, batch: str, source: str = "A", target: str = "B"
                 ) -> dict[str, Any]:
        self.at(on)
        return self.session.create("stock_transfer", {
            "warehouse": self.warehouses[source], "to_warehouse": self.warehouses[target],
            "transfer_date": on.isoformat(),
            "lines": [{"item": self.items[item], "qty": str(qty), "batch_no": batch}]}, submit=True)

    def cancel(self, entity: str, record: dict[str, Any], *, on: dt.date) -> None:
        self.at(on)
        self.session.cancel(entity, record["id"], version=record["version"])

    def expiry(self, item: str, batch: str) -> dt.date:
        table = self.records.schema.stock["batch"]
        with self.records.engine.connect() as connection:
            return connection.execute(select(table.c.expiry).where(
                table.c.item == self.items[item], table.c.batch_no == batch)).scalar_one()

    def verified(self) -> VerifyResult:
        with self.records.engine.connect() as connection:
            return verify(connection, self.records.app, self.records.schema)


def build_food_world(engine: Engine, *, plugins: Any = None, app: App | None = None) -> FoodWorld:
    """Warehouses A and B (ambient), items FLOUR and SUGAR (batches, 270 days shelf life), supplier S1,
    customers C1 and C2; the clock at TODAY. `app`: apps/food, or a variant of it."""
    app = app or food_app()
    records = Records(app, engine, plugins=plugins,
                      clock=Clock(app.timezone, fixed=dt.datetime.combine(TODAY, dt.time(9, 0))))
    migrate_new(app, engine)
    session = records.system()
    world = FoodWorld(records, session)
    for code in ("A", "B"):
        world.warehouses[code] = session.create("warehouse", {"code": code, "name": f"仓库{code}"})["id"]
    for code, name in (("FLOUR", "面粉"), ("SUGAR", "白糖")):
        world.items[code] = session.create("item", {"code": code, "name": name, "unit": "kg", "shelf_life_days": 270,
                                                    "has_batch": True})["id"]
    world.suppliers["S1"] = session.create("supplier", {"code": "S1", "name": "五得利"})["id"]
    for code, name in (("C1", "永辉超市"), ("C2", "明达经销")):
        world.customers[code] = session.create("customer", {"code": code, "name": name})["id"]
    return world


def dec(text: str) -> Decimal:
    return Decimal(text)


def trade_september_october(world: FoodWorld) -> None:
    """The movements the service tests compute their numbers from (moving average per item × warehouse):

    09-10 receipt FLOUR F1 100 @4.00 (A)            A: FLOUR 100 = 400.00
    09-20 receipt FLOUR F2  50 @5.00 (A)            A: FLOUR 150 = 650.00 (rate 4.333333)
    09-21 receipt SUGAR S1  10 @3.00 (A)            A: SUGAR 10 = 30.00
    10-05 shipment C1 FLOUR F1 30                   -130.00 (30 × 4.333333)
    10-06 transfer FLOUR F2 20 A → B                -86.67 from A, +86.67 into B
    10-07 shipment C2 SUGAR S1 4, cancelled 10-08   -12.00, then +12.00
    10-09 shipment C2 FLOUR 20, no batch: FEFO F1   -86.67 (20 × 4.3333)
    end of October: A FLOUR F1 50 = 183.33, F2 30 = 163.33; B FLOUR F2 20 = 86.67; A SUGAR S1 10 = 30.00
    """
    world.receive("FLOUR", 100, "4.00", batch="F1", on=dt.date(2026, 9, 10), supplier_batch="WDL-0910")
    world.receive("FLOUR", 50, "5.00", batch="F2", on=dt.date(2026, 9, 20))
    world.receive("SUGAR", 10, "3.00", batch="S1", on=dt.date(2026, 9, 21))
    world.ship("C1", "FLOUR", 30, on=dt.date(2026, 10, 5), batch="F1")
    world.transfer("FLOUR", 20, on=dt.date(2026, 10, 6), batch="F2")
    shipped = world.ship("C2", "SUGAR", 4, on=dt.date(2026, 10, 7), batch="S1")
    world.cancel("sales_shipment", shipped, on=dt.date(2026, 10, 8))
    world.ship("C2", "FLOUR", 20, on=dt.date(2026, 10, 9))
    world.at(TODAY)


def batch_id(world: FoodWorld, item: str, batch_no: str) -> int:
    batch = world.records.schema.stock["batch"]
    with world.records.engine.connect() as connection:
        return connection.execute(select(batch.c.id).where(batch.c.batch_no == batch_no,
                                                           batch.c.item == world.items[item])).scalar_one()
