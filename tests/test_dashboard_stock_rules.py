"""Stock widgets (`stock_balance`) count only the warehouses a user's row rules on warehouses let them see:
a keeper of W1 (the warehouse lists its keepers) sees W1's stock, not W2's. On SQLite and PostgreSQL, numbers
by hand."""

from __future__ import annotations

import pytest

from engine.web.dashboard_data import dashboard_data
from tests.service_helpers import NOW, D, _app_from_text, make_user

pytest_plugins = ["tests.service_fixtures"]

APP = """
name: stock_board
title: 库存看板
stock: {item: item, warehouse: warehouse}
entities:
  item:
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true}
      name: string
  warehouse:
    key: code
    fields:
      code: {type: string, required: true, unique: true}
      keepers: {type: link, link: user, many: true}
roles:
  keeper:
    permissions: {item: read, warehouse: read}
    rows:
      warehouse: CURRENT_USER() IN keepers
  stock_manager:
    permissions: {item: read, warehouse: read}
  boss:
    permissions: {item: read}
dashboards:
  stock:
    label: 库存
    roles: [keeper, stock_manager, boss]
    widgets:
      - type: bar
        title: 库存水位
        entity: stock_balance
        group_by: {item: item}
        values: {on_hand: SUM(on_hand)}
        sort: -on_hand
      - type: table
        title: 按仓库
        entity: stock_balance
        group_by: {warehouse: warehouse}
        values: {on_hand: SUM(on_hand), lines: COUNT()}
        sort: warehouse
"""


class Stock:
    """Balances: 螺栓 8 in W1 and 4 in W2; 螺母 60 in W1; 垫圈 30 in W2; W3 holds 螺栓 1."""

    def __init__(self, records):
        self.records = records
        system = records.system()
        self.items = {code: system.create("item", {"code": code, "name": name})["id"]
                      for code, name in [("I1", "螺栓"), ("I2", "螺母"), ("I3", "垫圈")]}
        self.warehouses = {code: system.create("warehouse", {"code": code})["id"] for code in ("W1", "W2", "W3")}
        balance = records.schema.table("stock_balance")
        with records.engine.begin() as connection:  # what the inventory engine keeps; written here directly
            for item, warehouse, on_hand in [("I1", "W1", "8"), ("I1", "W2", "4"), ("I2", "W1", "60"),
                                             ("I3", "W2", "30"), ("I1", "W3", "1")]:
                connection.execute(balance.insert().values(
                    item=self.items[item], warehouse=self.warehouses[warehouse], batch_key=0, on_hand=D(on_hand),
                    reserved=D("0"), available=D(on_hand), value=D("0"), updated_at=NOW))

    def data(self, name, *roles, warehouses=()):
        user = make_user(self.records, name, *roles)
        system = self.records.system()
        for code in warehouses:  # the user becomes one of the warehouse's keepers
            found = system.get("warehouse", self.warehouses[code])
            keepers = [*(found.get("keepers") or []), user.id]
            system.update("warehouse", found["id"], {"keepers": keepers}, version=found["version"])
        return dashboard_data(self.records.session(user), self.records.app.dashboards["stock"])


@pytest.fixture
def stock(make_records):
    return Stock(make_records(_app_from_text(APP)))


def table(data):
    return [(row.labels, row.values) for row in data.rows]


@pytest.mark.both_dbs
def test_a_keeper_counts_only_the_stock_of_their_warehouses(stock):
    levels, by_warehouse = stock.data("kim", "keeper", warehouses=["W1"])
    assert table(levels) == [(("螺母",), (D("60"),)), (("螺栓",), (D("8"),))]
    assert table(by_warehouse) == [(("W1",), (D("68"), 2))]
    levels, by_warehouse = stock.data("kai", "keeper", warehouses=["W2", "W3"])
    assert table(levels) == [(("垫圈",), (D("30"),)), (("螺栓",), (D("5"),))]  # 4 in W2 + 1 in W3
    assert table(by_warehouse) == [(("W2",), (D("34"), 2)), (("W3",), (D("1"), 1))]


@pytest.mark.both_dbs
def test_a_keeper_without_warehouses_counts_nothing(stock):
    levels, by_warehouse = stock.data("new", "keeper")
    assert levels.rows == [] and by_warehouse.rows == [] and not levels.denied


@pytest.mark.both_dbs
def test_without_a_row_rule_every_warehouse_counts(stock):
    everything = [(("螺母",), (D("60"),)), (("垫圈",), (D("30"),)), (("螺栓",), (D("13"),))]
    levels, by_warehouse = stock.data("mia", "stock_manager")
    assert table(levels) == everything
    assert [row.values for row in by_warehouse.rows] == [(D("68"), 2), (D("34"), 2), (D("1"), 1)]
    # a manager who may not read warehouses at all: the dashboard's roles alone decide, as before
    levels, _ = stock.data("bo", "boss")
    assert table(levels) == everything
    # a keeper who is also a stock manager: the roles' rights add up
    levels, _ = stock.data("both", "keeper", "stock_manager", warehouses=["W1"])
    assert table(levels) == everything
