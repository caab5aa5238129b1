"""Dashboard widgets over the rows of a document's table (`sales_order_lines`): items ranked by what was sold of
them, the document reached through `parent`, the document's row rules applied to its rows, on SQLite and
PostgreSQL. Numbers computed by hand."""

from __future__ import annotations

import pytest

from engine.web.dashboard_data import dashboard_data
from tests.service_helpers import D, _app_from_text, make_user

pytest_plugins = ["tests.service_fixtures"]

APP = """
name: rows_board
title: 明细看板
entities:
  item:
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true}
      name: string
  sales_order:
    kind: document
    fields:
      order_date: {type: date, required: true}
      region: {type: choice, options: {east: 华东, west: 华西}}
      lines:
        type: table
        fields:
          item: {type: link, link: item, required: true}
          qty: {type: decimal, scale: 3, required: true}
          price: {type: money, required: true}
          amount: {type: money, formula: "ROUND(qty * price, 2)"}
      total: {type: money, formula: SUM(lines.amount)}
roles:
  manager:
    permissions: {sales_order: read, item: read}
  east_sales:
    permissions: {sales_order: read, item: read}
    rows:
      sales_order: region = "east"
  no_prices:
    permissions: {sales_order: read, item: read}
    fields:
      sales_order_lines: {price: hidden, amount: hidden}
dashboards:
  sales:
    label: 销售
    widgets:
      - type: bar
        title: 畅销商品 TOP2
        entity: sales_order_lines
        filter: parent.docstatus = "submitted" AND YEAR(parent.order_date) = YEAR(TODAY())
        group_by: {item: item}
        values: {amount: SUM(amount), qty: SUM(qty)}
        sort: -amount
        limit: 2
      - type: table
        title: 按数量
        entity: sales_order_lines
        filter: parent.docstatus = "submitted"
        group_by: {item: item}
        values: {qty: SUM(qty), lines: COUNT()}
        sort: -qty
"""


class Sales:
    """Items 螺栓, 螺母, 垫圈. Submitted in 2026 (the clock's year):
    east order 1 on 01-10: 螺栓 10 × 2.50 = 25.00, 螺母 100 × 0.30 = 30.00
    west order 2 on 02-11: 螺栓 4 × 2.50 = 10.00, 垫圈 1000 × 0.02 = 20.00
    east order 3 on 03-01: 垫圈 600 × 0.02 = 12.00
    Submitted in 2025: 螺母 1000 × 0.30 = 300.00 (counts in no 2026 widget).
    A draft (螺栓 999 × 9.00) and a cancelled order (螺母 999 × 9.00) count nowhere."""

    def __init__(self, records):
        self.records = records
        system = records.system()
        self.items = {name: system.create("item", {"code": code, "name": name})["id"]
                      for code, name in [("I1", "螺栓"), ("I2", "螺母"), ("I3", "垫圈")]}

        def order(day, region, lines, *, submit=True):
            rows = [{"item": self.items[name], "qty": qty, "price": price} for name, qty, price in lines]
            return system.create("sales_order", {"order_date": day, "region": region, "lines": rows}, submit=submit)

        order("2026-01-10", "east", [("螺栓", "10", "2.50"), ("螺母", "100", "0.30")])
        order("2026-02-11", "west", [("螺栓", "4", "2.50"), ("垫圈", "1000", "0.02")])
        order("2026-03-01", "east", [("垫圈", "600", "0.02")])
        order("2025-12-30", "east", [("螺母", "1000", "0.30")])
        order("2026-03-02", "east", [("螺栓", "999", "9.00")], submit=False)
        cancelled = order("2026-03-03", "east", [("螺母", "999", "9.00")])
        system.cancel("sales_order", cancelled["id"], version=cancelled["version"])

    def data(self, name, *roles):
        session = self.records.session(make_user(self.records, name, *roles))
        return dashboard_data(session, self.records.app.dashboards["sales"])


@pytest.fixture
def sales(make_records):
    return Sales(make_records(_app_from_text(APP)))


def table(data):
    return [(row.labels, row.values) for row in data.rows]


@pytest.mark.both_dbs
def test_items_ranked_by_what_was_sold_this_year(sales):
    top, by_qty = sales.data("mia", "manager")
    # 螺栓 25.00 + 10.00 = 35.00 (qty 14), 垫圈 20.00 + 12.00 = 32.00 (qty 1600), 螺母 30.00 cut by the limit
    assert top.headings == ["item", "amount", "qty"]
    assert table(top) == [(("螺栓",), (D("35.00"), D("14.000"))), (("垫圈",), (D("32.00"), D("1600.000")))]
    assert [row.keys for row in top.rows] == [(sales.items["螺栓"],), (sales.items["垫圈"],)]
    # all submitted years: 垫圈 1600 in 2 lines, 螺母 100 + 1000 = 1100 in 2, 螺栓 14 in 2
    assert table(by_qty) == [(("垫圈",), (D("1600.000"), 2)), (("螺母",), (D("1100.000"), 2)),
                             (("螺栓",), (D("14.000"), 2))]


@pytest.mark.both_dbs
def test_the_documents_row_rules_apply_to_their_rows(sales):
    top, by_qty = sales.data("eve", "east_sales")
    # east only: 螺母 30.00 (order 1), 螺栓 25.00 (order 1), 垫圈 12.00 (order 3); in all years 螺母 also 1000
    assert table(top) == [(("螺母",), (D("30.00"), D("100.000"))), (("螺栓",), (D("25.00"), D("10.000")))]
    assert table(by_qty) == [(("螺母",), (D("1100.000"), 2)), (("垫圈",), (D("600.000"), 1)),
                             (("螺栓",), (D("10.000"), 1))]


@pytest.mark.both_dbs
def test_a_hidden_row_field_shows_no_numbers(sales):
    top, by_qty = sales.data("sid", "no_prices")
    assert top.denied and top.rows == [] and "sales_order_lines.amount" in top.problem
    assert not by_qty.denied and [row.values[0] for row in by_qty.rows] == [D("1600.000"), D("1100.000"),
                                                                           D("14.000")]
