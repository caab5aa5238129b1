"""Helpers for inventory tests: a small stock-keeping app built on apps/modules/stock, and a `Stock` helper
that creates items and warehouses and submits receipts, issues, transfers, orders and deliveries through the
service layer, then reads balances and the ledger back.

    pytest_plugins = ["tests.service_fixtures", "tests.stock_helpers"]

    def test_x(stock):                      # fixture: Stock on a fresh database (db_engine), time fixed at NOW
        bolt = stock.item("B1")
        main = stock.warehouse("WH1")
        stock.receive(main, (bolt, 10, "2.50"))            # lines: (item, qty[, unit_cost[, batch[, expiry]]])
        stock.issue(main, (bolt, 4))
        assert stock.on_hand(bolt, main) == D("6")

`make_stock(**settings)` gives another Stock on the same database kind with other app settings (for
example `negative_stock=True` or `valuation="fifo"`). Every submit goes through Session.submit, so the
built-in plugin `stock` posts it exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dsl.loader import load_app
from dsl.model import App
from engine.context import Clock
from engine.plugins import builtin_manager, formula_registry
from engine.records import Records, Session
from tests.service_helpers import NOW

MODULES = Path(__file__).parent.parent / "apps" / "modules"

STOCK_APP = """
name: stocktest
title: {{zh: 库存测试, en: Stock test}}
version: 1.0.0
locale: {locale}
timezone: Asia/Shanghai
include: [stock]
stock:
  item: item
  warehouse: warehouse
  location: location
  safety_stock: safety_stock
  reorder_level: reorder_level
  batch_required: has_batch
  shelf_life_days: shelf_life_days
  valuation_field: valuation
  allow_negative_field: allow_negative
  min_shelf_life_field: min_shelf_life
  min_remaining_shelf_life_days: {min_days}
  valuation: {valuation}
  negative_stock: {negative}
extend:
  entities:
    item:
      fields:
        valuation: {{type: choice, options: {{moving_average: 移动平均, fifo: 先进先出}}, label: 计价方法}}
        allow_negative: {{type: bool, default: false, label: 允许负库存}}
        min_shelf_life: {{type: int, label: 发货最短剩余保质期(天)}}
entities:
  # 不带成本的入库（盘盈、退料）：按当前移动平均价计价。
  adjustment:
    label: 调整单
    kind: document
    naming: TZ-{{####}}
    fields:
      warehouse: {{type: link, link: warehouse, required: true}}
      lines:
        type: table
        required: true
        fields:
          item: {{type: link, link: item, required: true}}
          qty: {{type: decimal, scale: 3, required: true}}
    stock:
      - {{table: lines, direction: in, item: item, qty: qty, warehouse: parent.warehouse}}
  # 预留库存的订单与按订单发货的送货单（发给客户，受最短剩余保质期约束）。
  customer_order:
    label: 订单
    kind: document
    naming: DD-{{####}}
    fields:
      customer: {{type: link, link: customer, required: true}}
      warehouse: {{type: link, link: warehouse, required: true}}
      lines:
        type: table
        required: true
        fields:
          item: {{type: link, link: item, required: true}}
          qty:
            type: decimal
            scale: 3
            required: true
            validate: {{rule: "qty <= STOCK(item, parent.warehouse)", message: 订单数量超过现有库存}}
          shipped_qty: {{type: decimal, scale: 3, read_only: true, default: 0}}
          free: {{type: decimal, scale: 3, formula: "AVAILABLE(item, parent.warehouse)"}}
    reservations:
      - {{table: lines, item: item, qty: qty, warehouse: parent.warehouse}}
  delivery:
    label: 送货单
    kind: document
    naming: SH-{{####}}
    fields:
      customer: {{type: link, link: customer, required: true}}
      warehouse: {{type: link, link: warehouse, required: true}}
      ship_date: {{type: date, required: true, default: TODAY()}}
      lines:
        type: table
        required: true
        fields:
          item: {{type: link, link: item, required: true}}
          qty: {{type: decimal, scale: 3, required: true}}
          batch_no: {{type: string, max_length: 40}}
    make_from:
      customer_order:
        fields: {{customer: customer, warehouse: warehouse}}
        lines:
          from: lines
          to: lines
          fields: {{item: item, qty: qty - shipped_qty}}
          fulfil: shipped_qty
          qty: qty
    stock:
      - {{table: lines, direction: out, item: item, qty: qty, warehouse: parent.warehouse, batch: batch_no,
         date: parent.ship_date}}
alerts:
  below_safety:
    label: 低于安全库存
    scope: stock_balance
    trigger: change
    condition: item.safety_stock > 0 AND on_hand < item.safety_stock
    recipients: {{roles: [stock_manager]}}
    channels: [inbox]
    message: "{{{{ record.item }}}} 库存 {{{{ record.on_hand }}}}"
  low_total:
    label: 全部仓库合计低于安全库存
    scope: item
    condition: safety_stock > 0 AND AVAILABLE(id) < safety_stock
    schedule: daily 08:00
    recipients: {{roles: [stock_manager]}}
    channels: [inbox]
    message: "{{{{ record.code }}}}"
"""


@functools.cache
def stock_app(*, valuation: str = "moving_average", negative: bool = False, min_days: int = 30,
              locale: str = "zh-CN") -> App:
    """The test app (apps/modules/stock plus an order that reserves and a delivery made from it)."""
    root = Path(tempfile.mkdtemp(prefix="jxc_stock_app_"))
    (root / "apps").mkdir()
    os.symlink(MODULES, root / "apps" / "modules")
    folder = root / "apps" / "stocktest"
    folder.mkdir()
    text = STOCK_APP.format(valuation=valuation, negative=str(negative).lower(), min_days=min_days, locale=locale)
    (folder / "app.yaml").write_text(text, encoding="utf-8")
    return load_app(folder, registry=formula_registry(builtin_manager()))  # STOCK() and friends included


def D(text: Any) -> Decimal:
    return Decimal(str(text))


Line = tuple  # (item, qty[, unit_cost[, batch_no[, expiry[, production_date]]]])


class Stock:
    """One stock-keeping app on one database, driven through the service layer as jxc itself (system user)."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.session: Session = records.system()
        self.tables = records.schema.stock
        self._customer: int | None = None
        self._supplier: int | None = None

    # --- master data ------------------------------------------------------------------------------------

    def item(self, code: str, **fields: Any) -> int:
        values = {"code": code, "name": fields.pop("name", f"物料{code}"), **fields}
        return self.session.create("item", values)["id"]

    def warehouse(self, code: str, name: str | None = None) -> int:
        return self.session.create("warehouse", {"code": code, "name": name or f"仓库{code}"})["id"]

    def location(self, code: str, warehouse: int) -> int:
        return self.session.create("location", {"code": code, "warehouse": warehouse})["id"]

    def customer(self) -> int:
        if self._customer is None:  # one customer per database, whichever client asks first
            table = self.records.schema.tables["customer"]
            with self.records.engine.connect() as connection:
                self._customer = connection.execute(select(table.c.id).where(table.c.code == "C1")).scalar()
            if self._customer is None:
                self._customer = self.session.create("customer", {"code": "C1", "name": "客户一"})["id"]
        return self._customer

    # --- documents --------------------------------------------------------------------------------------

    def submit(self, entity: str, values: dict[str, Any], *, session: Session | None = None) -> dict[str, Any]:
        """Create the document and submit it (one call each, as a user would)."""
        session = session or self.session
        draft = session.create(entity, values)
        return session.submit(entity, draft["id"], version=draft["version"])

    def cancel(self, entity: str, record: dict[str, Any], *, session: Session | None = None) -> dict[str, Any]:
        session = session or self.session
        current = session.get(entity, record["id"])
        return session.cancel(entity, record["id"], version=current["version"])

    def receive(self, warehouse: int, *lines: Line, date: dt.date | None = None, **header: Any) -> dict[str, Any]:
        rows = []
        for line in lines:
            item, qty, cost, batch, expiry, made = (*line, None, None, None, None)[:6]
            row: dict[str, Any] = {"item": item, "qty": str(qty)}
            if cost is not None:
                row["unit_cost"] = str(cost)
            if batch is not None:
                row["batch_no"] = batch
            if expiry is not None:
                row["expiry"] = expiry.isoformat()
            if made is not None:
                row["production_date"] = made.isoformat()
            rows.append(row)
        values = {"warehouse": warehouse, "lines": rows, **header}
        if date is not None:
            values["receipt_date"] = date.isoformat()
        return self.submit("goods_receipt", values)

    def issue(self, warehouse: int, *lines: Line, date: dt.date | None = None, **header: Any) -> dict[str, Any]:
        rows = [{"item": line[0], "qty": str(line[1]), **({"batch_no": line[2]} if len(line) > 2 and line[2] else {})}
                for line in lines]
        values = {"warehouse": warehouse, "lines": rows, **header}
        if date is not None:
            values["issue_date"] = date.isoformat()
        return self.submit("stock_issue", values)

    def transfer(self, source: int, target: int, *lines: Line, date: dt.date | None = None) -> dict[str, Any]:
        rows = [{"item": line[0], "qty": str(line[1]), **({"batch_no": line[2]} if len(line) > 2 and line[2] else {})}
                for line in lines]
        values = {"warehouse": source, "to_warehouse": target, "lines": rows}
        if date is not None:
            values["transfer_date"] = date.isoformat()
        return self.submit("stock_transfer", values)

    def adjust(self, warehouse: int, *lines: Line) -> dict[str, Any]:
        """Stock in without a cost (valued at the current average)."""
        rows = [{"item": line[0], "qty": str(line[1])} for line in lines]
        return self.submit("adjustment", {"warehouse": warehouse, "lines": rows})

    def order(self, warehouse: int, *lines: Line) -> dict[str, Any]:
        rows = [{"item": line[0], "qty": str(line[1])} for line in lines]
        return self.submit("customer_order", {"customer": self.customer(), "warehouse": warehouse, "lines": rows})

    def deliver(self, warehouse: int, *lines: Line, date: dt.date | None = None) -> dict[str, Any]:
        rows = [{"item": line[0], "qty": str(line[1]), **({"batch_no": line[2]} if len(line) > 2 and line[2] else {})}
                for line in lines]
        values = {"customer": self.customer(), "warehouse": warehouse, "lines": rows}
        if date is not None:
            values["ship_date"] = date.isoformat()
        return self.submit("delivery", values)

    def deliver_from(self, order: dict[str, Any], qty: dict[int, Any] | None = None) -> dict[str, Any]:
        """A delivery made from the order (all that is open, or `qty` by item), submitted."""
        draft = self.session.make_from("delivery", "customer_order", order["id"])
        if qty is not None:
            lines = [{"id": row["id"], "qty": str(qty.get(row["item"], row["qty"]))} for row in draft["lines"]]
            draft = self.session.update("delivery", draft["id"], {"lines": lines}, version=draft["version"])
        return self.session.submit("delivery", draft["id"], version=draft["version"])

    # --- reading back -----------------------------------------------------------------------------------

    def _balance(self, item: int, warehouse: int | None, batch: int | None, column: str) -> Decimal:
        table = self.tables["balance"]
        query = select(table.c[column]).where(table.c.item == item)
        if warehouse is not None:
            query = query.where(table.c.warehouse == warehouse)
        if batch is not None:
            query = query.where(table.c.batch_key == batch)
        with self.records.engine.connect() as connection:
            return sum(connection.execute(query).scalars(), Decimal(0))

    def on_hand(self, item: int, warehouse: int | None = None, batch: int | None = None) -> Decimal:
        return self._balance(item, warehouse, batch, "on_hand")

    def reserved(self, item: int, warehouse: int | None = None) -> Decimal:
        return self._balance(item, warehouse, None, "reserved")

    def value(self, item: int, warehouse: int | None = None) -> Decimal:
        return self._balance(item, warehouse, None, "value")

    def ledger(self, item: int | None = None) -> list[dict[str, Any]]:
        table = self.tables["ledger"]
        query = select(table).order_by(table.c.id)
        if item is not None:
            query = query.where(table.c.item == item)
        with self.records.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def batch(self, item: int, batch_no: str) -> dict[str, Any] | None:
        table = self.tables["batch"]
        with self.records.engine.connect() as connection:
            row = connection.execute(select(table).where(table.c.item == item, table.c.batch_no == batch_no)
                                     ).mappings().first()
        return dict(row) if row else None

    def ledger_sum(self, item: int, warehouse: int | None = None) -> tuple[Decimal, Decimal]:
        """(qty, value) of the item's ledger entries (in one warehouse, or all)."""
        rows = [row for row in self.ledger(item) if warehouse is None or row["warehouse"] == warehouse]
        return (sum((row["qty"] for row in rows), Decimal(0)), sum((row["value_change"] for row in rows), Decimal(0)))


@pytest.fixture
def make_stock(make_records: Callable[..., Records]) -> Callable[..., Stock]:
    """make_stock(clock=None, **stock_app settings) → a Stock on a fresh database (time fixed at NOW)."""

    def make(*, clock: Clock | None = None, **settings: Any) -> Stock:
        app = stock_app(**settings)
        return Stock(make_records(app, clock=clock or Clock(app.timezone, fixed=NOW)))

    return make


@pytest.fixture
def stock(make_stock: Callable[..., Stock]) -> Stock:
    """The stock test app (moving average, negative stock refused) on a fresh database."""
    return make_stock()
