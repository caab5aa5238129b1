"""Dashboard numbers (engine.web.dashboard_data) on SQLite and PostgreSQL: every widget type computed by hand,
sorting and limits, threshold colours, the user's row rules, hidden fields and unreadable entities, dashboards
for some roles only, and widgets over the inventory tables."""

from __future__ import annotations

import functools
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.context import Clock
from engine.db import create_engine
from engine.errors import PermissionDenied
from engine.records import Records
from engine.web import dashboard_data as dashboard_data_module
from engine.web.dashboard_data import dashboard_data, threshold_colour, visible_dashboards, widget_data
from tests.migrated import migrate_new
from tests.service_helpers import NOW, D, _app_from_text, make_user, schema_of

pytest_plugins = ["tests.service_fixtures"]

BOARD_APP = """
name: board
title: 看板测试
stock: {item: item, warehouse: warehouse}
entities:
  customer:
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true}
      name: string
  item:
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true}
      name: string
      safety_stock: {type: decimal, scale: 3}
  warehouse:
    key: code
    fields:
      code: {type: string, required: true, unique: true}
  sales_order:
    kind: document
    fields:
      customer: {type: link, link: customer, required: true}
      order_date: {type: date, required: true}
      region: {type: choice, options: {east: {zh: 华东, en: East}, west: {zh: 华西, en: West}}}
      total: money
      cost: money
      margin: {type: money, formula: "total - COALESCE(cost, 0)"}
roles:
  manager:
    permissions: {sales_order: read, customer: read, item: read}
  east_sales:
    permissions: {sales_order: read, customer: read}
    rows:
      sales_order: region = "east"
  secretive:
    permissions: {sales_order: read, customer: read}
    fields:
      sales_order: {total: hidden}
  outsider:
    permissions: {customer: read}
  stock_keeper:
    permissions: {item: read, warehouse: read}
dashboards:
  sales:
    label: {zh: 销售, en: Sales}
    roles: [manager, east_sales, secretive, outsider]
    widgets:
      - type: metric
        title: {zh: 销售额, en: Sales}
        entity: sales_order
        filter: docstatus = "submitted"
        values: {amount: SUM(total)}
      - type: bar
        title: 客户 TOP2
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {customer: customer}
        values: {amount: SUM(total)}
        sort: -amount
        limit: 2
        thresholds: [{above: 100, color: orange}, {above: 320, color: red}]
      - type: line
        title: 月度
        entity: sales_order
        filter: docstatus = "submitted" AND order_date > DATEADD(TODAY(), -12, "month")
        group_by: {month: YEAR(order_date) * 100 + MONTH(order_date)}
        values: {amount: SUM(total)}
        sort: month
      - type: table
        title: 区域
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {region: region}
        values: {orders: COUNT(), amount: SUM(total), avg_margin: AVG(margin), biggest: MAX(total)}
        sort: -avg_margin
      - type: metric
        title: 订单数
        entity: sales_order
        filter: docstatus = "submitted"
        values: {orders: COUNT()}
      - type: bar
        title: 加权
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {customer: customer}
        values: {weighted: SUM(total * 2)}
        sort: -weighted
        limit: 2
  stock:
    label: 库存
    roles: [stock_keeper]
    widgets:
      - type: bar
        title: 库存水位
        entity: stock_balance
        group_by: {item: item}
        values: {on_hand: SUM(on_hand)}
        sort: -on_hand
        thresholds: [{below: 10, color: red}, {above: 10, below: 50, color: orange}]
      - type: metric
        title: 低于安全库存
        entity: stock_balance
        filter: available < item.safety_stock
        values: {lines: COUNT()}
  open:
    label: 公开
    widgets:
      - type: metric
        title: 客户数
        entity: customer
        values: {customers: COUNT()}
  bands:
    label: 分档
    roles: [manager]
    widgets:
      - type: table
        title: 金额分档
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {band: "ROUND(total * 10, 0)"}
        values: {orders: COUNT()}
"""


def board_app():
    return _app_from_text(BOARD_APP)


class Board:
    """Three customers and their orders: 甲 350.50 (east 100.00 in January, west 250.50 in February),
    乙 80.25 (east, February), 丙 300.00 (east, March); a draft and a cancelled order count nowhere."""

    def __init__(self, records):
        self.records = records
        system = records.system()
        self.a = system.create("customer", {"code": "A", "name": "甲"})["id"]
        self.b = system.create("customer", {"code": "B", "name": "乙"})["id"]
        self.c = system.create("customer", {"code": "C", "name": "丙"})["id"]
        for customer, day, region, total, cost in [
            (self.a, "2026-01-10", "east", "100.00", "60"), (self.a, "2026-02-11", "west", "250.50", "200"),
            (self.b, "2026-02-20", "east", "80.25", None), (self.c, "2026-03-01", "east", "300.00", "100"),
        ]:
            system.create("sales_order", {"customer": customer, "order_date": day, "region": region,
                                          "total": total, "cost": cost}, submit=True)
        system.create("sales_order", {"customer": self.b, "order_date": "2026-03-02", "region": "east",
                                      "total": "999"})
        cancelled = system.create("sales_order", {"customer": self.c, "order_date": "2026-03-03",
                                                  "region": "west", "total": "5000"}, submit=True)
        system.cancel("sales_order", cancelled["id"], version=cancelled["version"])

    def session(self, name, *roles):
        return self.records.session(make_user(self.records, name, *roles))

    def data(self, session, board="sales", locale="zh-CN"):
        return dashboard_data(session, self.records.app.dashboards[board], locale)


@pytest.fixture
def board(make_records):
    return Board(make_records(board_app()))


def table(data):
    return [(row.labels, row.values) for row in data.rows]


@pytest.mark.both_dbs
def test_every_widget_type_computed_by_hand(board):
    metric, bar, line, regions, count, weighted = board.data(board.session("mia", "manager"))
    assert table(metric) == [((), (D("730.75"),))]
    assert bar.title == "客户 TOP2" and bar.groups == ["customer"] and bar.values == ["amount"]
    assert table(bar) == [(("甲",), (D("350.50"),)), (("丙",), (D("300.00"),))]  # 乙 (80.25) is cut by limit 2
    assert [row.keys for row in bar.rows] == [(board.a,), (board.c,)]
    assert [row.colours for row in bar.rows] == [("red",), ("orange",)]
    assert table(line) == [(("202601",), (D("100.00"),)), (("202602",), (D("330.75"),)),
                           (("202603",), (D("300.00"),))]
    # AVG over east's margins 40.00, 80.25, 200.00 and west's 50.50; sorted by it, largest first
    assert table(regions) == [(("华东",), (3, D("480.25"), D("106.75"), D("300.00"))),
                              (("华西",), (1, D("250.50"), D("50.50"), D("250.50")))]
    assert table(count) == [((), (4,))]
    assert table(weighted) == [(("甲",), (D("701.00"),)), (("丙",), (D("600.00"),))]


@pytest.mark.both_dbs
@pytest.mark.both_dbs
def test_groups_that_are_computed_decimals_sort_as_numbers(board):
    (bands,) = board.data(board.session("mia", "manager"), "bands")
    # 80.25 → 803, 100.00 → 1000, 250.50 → 2505, 300.00 → 3000: as numbers, not as text ("1000" < "803")
    assert [(row.keys[0], row.values[0]) for row in bands.rows] == [(D("803"), 1), (D("1000"), 1), (D("2505"), 1),
                                                                    (D("3000"), 1)]


@pytest.mark.both_dbs
def test_labels_follow_the_language(board):
    data = board.data(board.session("mia", "manager"), locale="en")
    assert data[0].title == "Sales"
    assert [row.labels for row in data[3].rows] == [("East",), ("West",)]


@pytest.mark.both_dbs
def test_row_rules_limit_what_is_counted(board):
    metric, bar, line, regions, count, _ = board.data(board.session("eve", "east_sales"))
    assert table(metric) == [((), (D("480.25"),))]
    assert table(bar) == [(("丙",), (D("300.00"),)), (("甲",), (D("100.00"),))]
    assert table(line) == [(("202601",), (D("100.00"),)), (("202602",), (D("80.25"),)), (("202603",), (D("300.00"),))]
    assert table(regions) == [(("华东",), (3, D("480.25"), D("106.75"), D("300.00")))]
    assert table(count) == [((), (3,))]


@pytest.mark.both_dbs
def test_a_hidden_field_or_an_unreadable_entity_shows_no_numbers(board):
    data = board.data(board.session("sid", "secretive"))
    denied = [widget.title for widget in data if widget.denied]
    assert denied == ["销售额", "客户 TOP2", "月度", "区域", "加权"]
    assert all(not widget.rows for widget in data if widget.denied)
    assert "sales_order.total" in data[0].problem
    assert table(data[4]) == [((), (4,))]  # counting orders uses no hidden field
    outsider = board.data(board.session("otto", "outsider"))
    assert all(widget.denied and "may not read" in widget.problem for widget in outsider)


@pytest.mark.both_dbs
def test_a_dashboard_is_only_for_its_roles(board):
    keeper = board.session("kim", "stock_keeper")
    with pytest.raises(PermissionDenied, match="may not see the dashboard 销售"):
        board.data(keeper)
    assert [d.name for d in visible_dashboards(board.records.app, keeper.user)] == ["stock", "open"]
    manager = board.session("mia", "manager")
    assert [d.name for d in visible_dashboards(board.records.app, manager.user)] == ["sales", "open", "bands"]
    assert table(board.data(manager, "open")[0]) == [((), (3,))]  # no roles: for everyone...
    assert board.data(keeper, "open")[0].denied  # ...who may read what it counts
    admin = board.records.system()
    assert [d.name for d in visible_dashboards(board.records.app, admin.user)] == ["sales", "stock", "open", "bands"]


@pytest.mark.both_dbs
def test_widgets_over_stock_balances(make_records):
    records = make_records(board_app())
    system = records.system()
    ids = {code: system.create("item", {"code": code, "name": name, "safety_stock": safety})["id"]
           for code, name, safety in [("I1", "螺栓", "20"), ("I2", "螺母", "5"), ("I3", "垫圈", None)]}
    w1 = system.create("warehouse", {"code": "W1"})["id"]
    w2 = system.create("warehouse", {"code": "W2"})["id"]
    balance = records.schema.table("stock_balance")
    with records.engine.begin() as connection:  # what the inventory engine keeps; written here directly
        for item, warehouse, on_hand, reserved in [("I1", w1, "8", "0"), ("I1", w2, "4", "0"),
                                                   ("I2", w1, "60", "57"), ("I3", w1, "5", "0")]:
            connection.execute(balance.insert().values(
                item=ids[item], warehouse=warehouse, batch_key=0, on_hand=D(on_hand), reserved=D(reserved),
                available=D(on_hand) - D(reserved), value=D("0"), updated_at=NOW))
    keeper = records.session(make_user(records, "kim", "stock_keeper"))
    levels, below = dashboard_data(keeper, records.app.dashboards["stock"])
    assert table(levels) == [(("螺母",), (D("60"),)), (("螺栓",), (D("12"),)), (("垫圈",), (D("5"),))]
    assert [row.colours for row in levels.rows] == [(None,), ("orange",), ("red",)]
    assert table(below) == [((), (3,))]  # I1 in both warehouses, I2 (3 available < 5); I3 has no safety stock


@pytest.mark.both_dbs
def test_nothing_to_count(make_records):
    records = make_records(board_app())
    session = records.session(make_user(records, "mia", "manager"))
    metric, bar, line, regions, count, _ = dashboard_data(session, records.app.dashboards["sales"])
    assert table(metric) == [((), (D("0"),))]
    assert bar.rows == [] and line.rows == [] and regions.rows == []
    assert table(count) == [((), (0,))]


@pytest.mark.both_dbs
def test_a_widget_without_a_limit_shows_a_bounded_number_of_groups(board, monkeypatch):
    monkeypatch.setattr(dashboard_data_module, "MAX_ROWS", 2)
    _, bar, line, regions, _, _ = board.data(board.session("mia", "manager"))
    assert len(regions.rows) == 2 and not regions.truncated  # two regions: all shown
    assert table(line) == [(("202601",), (D("100.00"),)), (("202602",), (D("330.75"),))] and line.truncated
    # its own limit of 2: nothing is missing
    assert len(bar.rows) == 2 and not bar.truncated


def test_threshold_bands():
    bands = [{"below": 10, "color": "red"}, {"above": 10, "below": 50, "color": "orange"}]
    assert [threshold_colour(bands, D(v)) for v in ("-1", "9.99", "10", "49.999", "50")] == \
        ["red", "red", "orange", "orange", None]
    rising = [{"above": 100000, "color": "orange"}, {"above": 300000, "color": "red"}]
    assert [threshold_colour(rising, v) for v in (99999, 100000, 300000, None)] == [None, "orange", "red", None]
    # a colour is written into the page: anything but a name or #hex is ignored
    assert threshold_colour([{"above": 0, "color": "red;background:url(x)"}], 5) is None
    assert threshold_colour([{"above": 0, "color": "#c00"}], Decimal("0.5")) == "#c00"


totals = st.lists(st.tuples(st.sampled_from("ABCD"), st.decimals(min_value=0, max_value=10000, places=2)),
                  min_size=1, max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=totals)
def test_top_customers_by_hand(tmp_path, orders):
    """The top two by SUM(total) (sorted by the database) and by SUM(total * 2) (a computed decimal, which SQLite
    keeps as text and jxc sorts itself) agree with sums done by hand, ties broken by customer id."""
    app = board_app()
    engine = create_engine(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.sqlite'}")  # a fresh database each time
    records = Records(app, engine, schema=schema_of(app), clock=Clock(app.timezone, fixed=NOW))
    migrate_new(app, engine)  # a copy of the app migrated once
    system = records.system()
    ids = {code: system.create("customer", {"code": code, "name": code})["id"] for code in sorted({c for c, _ in orders})}
    sums: dict[str, Decimal] = {}
    for code, total in orders:
        system.create("sales_order", {"customer": ids[code], "order_date": "2026-03-01", "total": total},
                      submit=True)
        sums[code] = sums.get(code, Decimal(0)) + total
    expected = sorted(sums.items(), key=lambda item: (-item[1], ids[item[0]]))[:2]
    admin = records.system()
    bar = widget_data(admin, records.app.dashboards["sales"].widgets[1])
    weighted = widget_data(admin, records.app.dashboards["sales"].widgets[5])
    assert [(row.labels[0], row.values[0]) for row in bar.rows] == expected
    assert [(row.labels[0], row.values[0]) for row in weighted.rows] == [(code, 2 * total) for code, total in expected]
    engine.dispose()


@pytest.mark.both_dbs
@pytest.mark.parametrize("folder", ["food", "discrete_mfg"])
def test_every_dashboard_of_the_example_apps_runs_in_the_database(make_records, folder):
    """Every widget the example apps declare compiles to SQL and runs on their demo data, among them the issue's
    stock level by item, receivables aging and top 10 sellers."""
    from engine.demo import load_demo
    from tests.service_helpers import APPS

    records = make_records(_example(APPS / folder))
    load_demo(records)
    admin = records.system()
    computed = {name: dashboard_data(admin, board) for name, board in records.app.dashboards.items()}
    problems = [(name, data.title, data.problem) for name, widgets in computed.items() for data in widgets
                if data.problem]
    assert problems == []
    titles = {data.title: data for widgets in computed.values() for data in widgets}
    assert titles["实时库存水位"].groups == ["item"] and titles["实时库存水位"].rows
    assert titles["应收账龄分布"].groups == ["bucket"]
    assert titles["业务员业绩 TOP10"].groups == ["salesperson"]
    top_items = titles["畅销商品 TOP10"]  # over the order lines, reaching the order through `parent`
    assert top_items.groups == ["item"] and top_items.headings == ["物料", "价税合计"]
    assert top_items.rows and all(label != "—" for row in top_items.rows for label in row.labels)


@functools.cache
def _example(folder):
    from dsl.loader import load_app

    return load_app(folder)
