"""Helpers for tests of the service layer: the apps they use, real users, and what to assert with.

The fixtures (tables, Records on `db_engine`) are in tests/service_fixtures.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import tempfile
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from dsl.loader import load_app
from dsl.model import App
from engine.context import CurrentUser
from engine.errors import ValidationFailed
from engine.records import Records
from engine.schema import Schema, build_schema
from engine.users import add_user, load_user

APPS = Path(__file__).parent.parent / "apps"
NOW = dt.datetime(2026, 3, 5, 9, 30)

# A small app for what apps/no_stock does not show: hidden fields, row rules, required_if, a composite unique
# rule, computed fields declared before the fields they need, and a document numbered PO-{YYYY}-{#####}.
TOY = """
name: toy
title: 测试
entities:
  region:
    label: 区域
    key: code
    fields:
      code: {type: string, required: true, unique: true, max_length: 20}
      name: string
  item:
    label: 物料
    key: code
    title: name
    search: [code, name]
    fields:
      code: {type: string, required: true, unique: true, max_length: 20}
      name: {type: string, required: true}
      area: {type: choice, options: {east: 华东, west: 华西}}
      region: {type: link, link: region}
      rank: int
      since: date
      checked_at: datetime
      price:
        type: money
        default: 0
        validate: {rule: price >= 0, message: 单价不能为负}
      cost: money
      margin: {type: money, formula: "price - COALESCE(cost, 0)"}
      status: {type: choice, options: {active: 启用, stopped: 停用}, default: '"active"'}
      stop_reason: {type: text, required_if: status = "stopped"}
      note: text
    unique: [[name, region]]
  purchase_order:
    label: 采购订单
    kind: document
    fields:
      supplier: {type: string, required: true}
      discount: {type: percent, default: 0}
      # declared before the fields they need: computed in the order the formulas need
      net: {type: money, formula: gross - rebate}
      rebate: {type: money, formula: "ROUND(gross * discount, 2)"}
      gross: {type: money, formula: SUM(lines.amount)}
      secret: {type: text}
      lines:
        type: table
        required: true
        fields:
          item:
            type: link
            link: item
            required: true
            validate: {rule: item.status = "active", message: 物料已停用}
          qty:
            type: decimal
            scale: 3
            required: true
            validate: {rule: qty > 0, message: 数量必须大于 0}
          price: {type: money, default: item.price}
          amount: {type: money, formula: "ROUND(qty * price, 2)"}
          list_price: {type: money, formula: item.price}
          received: {type: decimal, scale: 3, read_only: true, default: 0}
      per_received: {type: percent, read_only: true}
      receipt_status:
        type: choice
        read_only: true
        options: {pending: 待收货, partial: 部分收货, done: 已收完}
        default: '"pending"'
    validate:
      - rule: gross <= 10000
        message: 订单金额不能超过 10000
  goods_receipt:
    label: 入库单
    kind: document
    amend: false
    fields:
      supplier: {type: string, required: true}
      lines:
        type: table
        required: true
        fields:
          item: {type: link, link: item, required: true}
          qty: {type: decimal, scale: 3, required: true}
    make_from:
      purchase_order:
        fields: {supplier: supplier}
        lines:
          from: lines
          to: lines
          fields: {item: item, qty: qty - received}
          fulfil: received
          qty: qty
          tolerance: 10%
        progress: {percent: per_received, status: receipt_status, partial: partial, complete: done}
roles:
  clerk:
    label: 文员
    permissions:
      region: read
      item: [read, create, write]
      purchase_order: [read, create, write]
      goods_receipt: read
    fields:
      item: {cost: hidden, margin: hidden, price: read_only}
      purchase_order: {secret: hidden}
      purchase_order_lines: {list_price: hidden}
  east:
    label: 华东业务
    permissions:
      item: read
      purchase_order: read
    rows:
      item: area = "east"
      purchase_order: supplier = "东方"
  auditor:
    label: 审计
    permissions:
      item: read
  buyer:
    label: 采购
    permissions:
      item: read
      purchase_order: [read, create, write, submit, cancel, amend]
      goods_receipt: [read, create, write, submit, cancel]
  receiver:
    label: 收货员
    permissions:
      item: read
      goods_receipt: [read, create, write]
"""


@functools.cache
def no_stock_app() -> App:
    return load_app(APPS / "no_stock")


@functools.cache
def _app_from_text(text: str) -> App:
    folder = Path(tempfile.mkdtemp(prefix="jxc_app_")) / "app"
    folder.mkdir()
    (folder / "app.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_app(folder)


def toy_app() -> App:
    return _app_from_text(TOY)


_SCHEMAS: dict[int, tuple[App, Schema]] = {}


def schema_of(app: App) -> Schema:
    """The app's tables, built once per app (the metadata is not bound to a database)."""
    if id(app) not in _SCHEMAS:
        _SCHEMAS[id(app)] = (app, build_schema(app))
    return _SCHEMAS[id(app)][1]


def make_user(records: Records, name: str, *roles: str, full_name: str | None = None,
              **fields: Any) -> CurrentUser:
    """A real user in the database with the app's roles, as the service layer sees them."""
    add_user(records.engine, records.app, records.schema, name, roles=roles, full_name=full_name,
             fields=fields or None, clock=records.clock)
    return load_user(records.engine, records.app, records.schema, name)


# --- helpers for assertions -------------------------------------------------------------------------------


def problems(error: ValidationFailed) -> dict[str, str]:
    """Field path → message (several messages on one field joined with ' | ')."""
    found: dict[str, str] = {}
    for problem in error.problems:
        found[problem.field] = f"{found[problem.field]} | {problem.message}" if problem.field in found \
            else problem.message
    return found


def snapshot(records: Records) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the audit log and number counters included), to prove nothing was written."""
    result = {}
    with records.engine.connect() as connection:
        for table in records.schema.metadata.sorted_tables:
            rows = connection.execute(select(table).order_by(*table.primary_key.columns)).all()
            result[table.name] = [tuple(row) for row in rows]
    return result


def audit_entries(records: Records, entity: str | None = None, record_id: int | None = None) -> list[dict]:
    table = records.schema.audit
    assert table is not None
    query = select(table).order_by(table.c.id)
    if entity is not None:
        query = query.where(table.c.entity == entity)
    if record_id is not None:
        query = query.where(table.c.record_id == record_id)
    with records.engine.connect() as connection:
        return [{**row, "changes": json.loads(row["changes"]) if row["changes"] else {}}
                for row in connection.execute(query).mappings()]


def count(records: Records, entity: str) -> int:
    table = records.schema.table(entity)
    with records.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def D(text: str) -> Decimal:  # reads like a literal in assertions
    return Decimal(text)
