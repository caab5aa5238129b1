"""Stock reports through a user's session: numbers computed by hand from trade_september_october (see
tests/stock_services_helpers.py), and what a user without the right to see costs gets."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import pytest

from dsl.loader import load_app
from engine.errors import InvalidQuery, NotFound, PermissionDenied
from engine.stock.reports import StockReports
from tests.service_helpers import APPS, make_user
from tests.stock_services_helpers import FoodWorld, build_food_world, trade_september_october

D = dt.date


@pytest.fixture
def traded(db_engine) -> FoodWorld:
    world = build_food_world(db_engine)
    trade_september_october(world)
    return world


def _manager(world: FoodWorld) -> StockReports:
    return StockReports(world.records.session(make_user(world.records, "wang", "stock_manager")))


def _pick(rows: list[dict], *names: str) -> list[tuple]:
    return [tuple(row[name] for name in names) for row in rows]


@pytest.mark.both_dbs
def test_balances_by_item_by_warehouse_and_by_batch(traded: FoodWorld) -> None:
    reports = _manager(traded)
    assert _pick(reports.balances(by=["item"]), "item_code", "on_hand", "reserved", "available", "value") == [
        ("FLOUR", Decimal(100), Decimal(0), Decimal(100), Decimal("433.33")),
        ("SUGAR", Decimal(10), Decimal(0), Decimal(10), Decimal("30.00"))]
    assert _pick(reports.balances(), "item_code", "warehouse_code", "on_hand", "value") == [
        ("FLOUR", "A", Decimal(80), Decimal("346.66")), ("FLOUR", "B", Decimal(20), Decimal("86.67")),
        ("SUGAR", "A", Decimal(10), Decimal("30.00"))]
    by_batch = reports.balances(by=["item", "batch"])
    assert _pick(by_batch, "item_name", "batch_no", "on_hand", "value") == [
        ("面粉", "F1", Decimal(50), Decimal("183.33")), ("面粉", "F2", Decimal(50), Decimal("250.00")),
        ("白糖", "S1", Decimal(10), Decimal("30.00"))]
    assert by_batch[0]["expiry"] == D(2026, 9, 10) + dt.timedelta(days=300)
    assert _pick(reports.balances(by=["batch"]), "batch_no", "item_code", "on_hand") == [
        ("F1", "FLOUR", Decimal(50)), ("F2", "FLOUR", Decimal(50)), ("S1", "SUGAR", Decimal(10))]
    assert _pick(reports.balances(by=["warehouse"], warehouse=traded.warehouses["B"]), "warehouse_name", "on_hand") \
        == [("仓库B", Decimal(20))]
    with pytest.raises(InvalidQuery, match="not shelf"):
        reports.balances(by=["shelf"])


@pytest.mark.both_dbs
def test_the_item_ledger_runs_the_quantity_on_from_the_opening_balance(traded: FoodWorld) -> None:
    reports = _manager(traded)
    october = reports.item_ledger(traded.items["FLOUR"], start=D(2026, 10, 1), end=D(2026, 10, 31))
    assert october.opening == Decimal(150)
    assert _pick(october.rows, "warehouse_code", "doc_no", "qty", "qty_after", "value_change") == [
        ("A", "XC-202610-0001", Decimal(-30), Decimal(120), Decimal("-130.00")),
        ("A", "DB-202610-0001", Decimal(-20), Decimal(100), Decimal("-86.67")),
        ("B", "DB-202610-0001", Decimal(20), Decimal(120), Decimal("86.67")),
        ("A", "XC-202610-0003", Decimal(-20), Decimal(100), Decimal("-86.67"))]
    assert october.rows[0]["document"] == "销售出库单"
    assert october.rows[0]["batch_no"] == "F1"
    in_a = reports.item_ledger(traded.items["FLOUR"], warehouse=traded.warehouses["A"], start=D(2026, 10, 6))
    assert in_a.opening == Decimal(120)
    assert _pick(in_a.rows, "qty_after") == [(Decimal(100),), (Decimal(80),)]
    everything = reports.item_ledger(traded.items["SUGAR"], limit=2)
    assert everything.opening == 0 and everything.more
    with pytest.raises(NotFound, match="there is no item with id 999"):
        reports.item_ledger(999)
    assert _pick(everything.rows, "qty", "qty_after", "reverses") == [
        (Decimal(10), Decimal(10), None), (Decimal(-4), Decimal(6), None)]


@pytest.mark.both_dbs
def test_stock_value_now_and_at_a_months_end(traded: FoodWorld) -> None:
    reports = _manager(traded)
    now = reports.stock_value()
    assert _pick(now.rows, "item_code", "qty", "value", "rate") == [
        ("FLOUR", Decimal(100), Decimal("433.33"), Decimal("4.333300")),
        ("SUGAR", Decimal(10), Decimal("30.00"), Decimal("3.000000"))]
    assert now.total == Decimal("463.33")
    september = reports.stock_value(on_date=D(2026, 9, 30))
    assert _pick(september.rows, "item_code", "qty", "value") == [
        ("FLOUR", Decimal(150), Decimal("650.00")), ("SUGAR", Decimal(10), Decimal("30.00"))]
    assert september.total == Decimal("680.00")
    assert reports.stock_value(warehouse=traded.warehouses["B"]).total == Decimal("86.67")


@pytest.mark.both_dbs
def test_near_expiry_lists_batches_in_stock_soonest_first_expired_flagged(traded: FoodWorld) -> None:
    traded.receive("SUGAR", 3, "2.00", batch="S0", on=D(2026, 9, 1), warehouse="B", expiry=D(2026, 11, 15))
    traded.receive("SUGAR", 5, "3.20", batch="S2", on=D(2026, 11, 1), warehouse="B", expiry=D(2026, 11, 30))
    traded.at(D(2026, 11, 20))
    reports = _manager(traded)
    assert _pick(reports.near_expiry(30), "batch_no", "warehouse_code", "expiry", "days_left", "expired", "on_hand",
                 "value") == [
        ("S0", "B", D(2026, 11, 15), -5, True, Decimal(3), Decimal("6.00")),
        ("S2", "B", D(2026, 11, 30), 10, False, Decimal(5), Decimal("16.00"))]
    assert _pick(reports.near_expiry(0), "batch_no") == [("S0",)]
    assert reports.near_expiry(30, warehouse=traded.warehouses["A"]) == []


@pytest.mark.both_dbs
def test_slow_movers_count_idle_days_from_the_last_issue_not_transfers_or_cancelled_ones(traded: FoodWorld) -> None:
    reports = _manager(traded)  # today is 2026-11-20
    # FLOUR in A last went out 10-09 (42 days); FLOUR in B only came in by transfer 10-06 (45 days); SUGAR's one
    # shipment was cancelled, so it has been idle since its receipt 09-21 (60 days).
    rows = reports.slow_movers(42)
    assert _pick(rows, "item_code", "warehouse_code", "idle_days", "on_hand", "value") == [
        ("SUGAR", "A", 60, Decimal(10), Decimal("30.00")),
        ("FLOUR", "B", 45, Decimal(20), Decimal("86.67")),
        ("FLOUR", "A", 42, Decimal(80), Decimal("346.66"))]
    assert rows[2]["last_out"].date() == D(2026, 10, 9) and rows[0]["last_out"] is None
    assert _pick(reports.slow_movers(43), "item_code", "warehouse_code") == [("SUGAR", "A"), ("FLOUR", "B")]
    assert _pick(reports.slow_movers(60), "item_code") == [("SUGAR",)]
    assert reports.slow_movers(61) == []


@pytest.mark.both_dbs
def test_turnover_days_are_the_daily_average_value_over_the_daily_cost_issued(traded: FoodWorld) -> None:
    reports = _manager(traded)
    october = reports.turnover(D(2026, 10, 1), D(2026, 10, 31))
    assert october.days == 31
    # FLOUR: 650.00 for 4 days, 520.00 for 4, 433.33 for 23 → 14646.59 / 31 = 472.47; issued 130.00 + 86.67
    # (the transfer is no issue); 472.47 × 31 / 216.67 = 67.6 days.
    # SUGAR: 30.00 for 6 days, 18.00 on 10-07, 30.00 for 24 → 918 / 31 = 29.61; the one issue was cancelled.
    assert _pick(october.rows, "item_code", "average_value", "issued_value", "turnover_days") == [
        ("FLOUR", Decimal("472.47"), Decimal("216.67"), Decimal("67.6")),
        ("SUGAR", Decimal("29.61"), Decimal("0.00"), None)]
    assert (october.average_value, october.issued_value, october.turnover_days) == \
        (Decimal("502.08"), Decimal("216.67"), Decimal("71.8"))  # 502.08 × 31 / 216.67
    with pytest.raises(InvalidQuery, match="ends"):
        reports.turnover(D(2026, 10, 31), D(2026, 10, 1))


@pytest.mark.both_dbs
def test_a_keeper_who_may_not_see_costs_gets_quantities_only_and_a_stranger_nothing(traded: FoodWorld) -> None:
    keeper = StockReports(traded.records.session(make_user(
        traded.records, "li", "warehouse_keeper", warehouses=[traded.warehouses["A"], traded.warehouses["B"]])))
    rows = keeper.balances(by=["item"])
    assert _pick(rows, "item_code", "on_hand") == [("FLOUR", Decimal(100)), ("SUGAR", Decimal(10))]
    assert "value" not in rows[0]
    assert all("value_change" not in row and "unit_cost" not in row
               for row in keeper.item_ledger(traded.items["FLOUR"]).rows)
    with pytest.raises(PermissionDenied, match="li 无权查看库存成本与金额"):
        keeper.stock_value()
    with pytest.raises(PermissionDenied, match="li 无权查看库存成本与金额"):
        keeper.turnover(D(2026, 10, 1), D(2026, 10, 31))
    stranger = StockReports(traded.records.session(make_user(traded.records, "zhao")))
    with pytest.raises(PermissionDenied):
        stranger.balances()
    # the food app's keepers see only the warehouses they look after
    keeper_b = StockReports(traded.records.session(make_user(traded.records, "sun", "warehouse_keeper",
                                                             warehouses=[traded.warehouses["B"]])))
    everywhere = StockReports(traded.records.system())
    assert _pick(keeper_b.balances(by=["item"]), "item_code", "on_hand") == _pick(
        everywhere.balances(by=["item"], warehouse=traded.warehouses["B"]), "item_code", "on_hand")
    new_keeper = StockReports(traded.records.session(make_user(traded.records, "wu", "warehouse_keeper")))
    assert new_keeper.balances(by=["item"]) == []  # no warehouse assigned yet: nothing to see


FENCED_ROLE = """
roles:
  keeper_a:
    label: A 库库管
    permissions:
      item: read
      warehouse: read
      goods_receipt: read
    rows:
      warehouse: code = "A"
"""


@pytest.fixture(scope="module")
def fenced_app(tmp_path_factory):
    """apps/food plus a role that sees warehouse A only (a row rule on the warehouse entity)."""
    root = tmp_path_factory.mktemp("apps")
    (root / "modules").symlink_to(APPS / "modules")
    folder = root / "fenced"
    shutil.copytree(APPS / "food", folder)
    (folder / "fenced.yaml").write_text(FENCED_ROLE, encoding="utf-8")
    return load_app(folder)


@pytest.mark.both_dbs
def test_row_rules_on_warehouses_limit_every_report_to_what_the_user_may_see(db_engine, fenced_app) -> None:
    world = build_food_world(db_engine, app=fenced_app)
    trade_september_october(world)
    reports = StockReports(world.records.session(make_user(world.records, "zhou", "keeper_a")))
    assert _pick(reports.balances(), "item_code", "warehouse_code", "on_hand") == [
        ("FLOUR", "A", Decimal(80)), ("SUGAR", "A", Decimal(10))]
    assert reports.stock_value().total == Decimal("376.66")  # 346.66 + 30.00: B's 86.67 is not theirs
    assert reports.stock_value(on_date=D(2026, 10, 31)).total == Decimal("376.66")
    ledger = reports.item_ledger(world.items["FLOUR"], start=D(2026, 10, 6))
    assert ledger.opening == Decimal(120)  # B held nothing before 10-06
    assert _pick(ledger.rows, "warehouse_code", "qty_after") == [("A", Decimal(100)), ("A", Decimal(80))]
    assert _pick(reports.slow_movers(43), "warehouse_code", "item_code") == [("A", "SUGAR")]
    assert [row["item_code"] for row in reports.turnover(D(2026, 10, 1), D(2026, 10, 31)).rows] == ["FLOUR", "SUGAR"]
