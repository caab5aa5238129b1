"""Stock counts (盘点): the books snapshotted, counts entered or scanned, the variance report, tolerance flags,
accuracy, and adjustments that are right even when stock moved while people counted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import ValidationFailed, Vetoed
from engine.plugins import plugin_manager
from engine.stock.count import (
    approve_variances,
    enter_counts,
    refresh_expected,
    scan_count,
    start_count,
    submit_count,
)
from engine.stock.count_report import variance_report
from tests.service_helpers import NOW, D
from tests.stock_count_helpers import World, build_world, mfg_app

pytest_plugins = ["tests.service_fixtures"]


@pytest.fixture
def world(make_records) -> World:
    return build_world(make_records(mfg_app()))


def counts_by_item(world: World, count: dict) -> dict[str, dict]:
    names = {item_id: code for code, item_id in world.items.items()}
    return {names[line["item"]] + (f"/{line['batch_no']}" if line["batch_no"] else ""): line
            for line in count["lines"]}


def count_all(world: World, count: dict, counted: dict[str, str]) -> dict:
    lines = counts_by_item(world, count)
    return enter_counts(world.session, count["id"], {lines[key]["id"]: qty for key, qty in counted.items()},
                        version=count["version"])


@pytest.mark.both_dbs
def test_a_count_starts_from_the_books_and_posts_the_differences(world):
    world.receive("BOLT", 100)
    world.receive("NUT", 50, cost="3.00")
    world.receive("PLATE", 20, warehouse="B")
    count = start_count(world.session, warehouse=world.warehouses["A"], values={"counted_by": "老王"})
    assert count["snapshot_at"] == NOW and count["counted_by"] == "老王" and count["docstatus"] == "draft"
    lines = counts_by_item(world, count)
    assert set(lines) == {"BOLT", "NUT"}  # PLATE is in warehouse B
    assert lines["BOLT"]["expected_qty"] == lines["BOLT"]["snapshot_qty"] == D("100")
    assert lines["NUT"]["counted_qty"] is None  # not counted yet

    count = count_all(world, count, {"BOLT": "98", "NUT": "50"})
    count = submit_count(world.session, count["id"], version=count["version"])
    assert count["docstatus"] == "submitted" and count["accuracy"] == D("1")
    assert world.on_hand("BOLT") == D("98") and world.on_hand("NUT") == D("50")
    assert world.on_hand("PLATE", "B") == D("20")


@pytest.mark.both_dbs
def test_stock_moved_while_counting_is_reconciled_not_adjusted_twice(world):
    world.receive("BOLT", 100)
    world.receive("NUT", 40)
    count = start_count(world.session, warehouse=world.warehouses["A"])
    world.issue("BOLT", 10)  # shipped after the snapshot, before the shelf was counted
    world.receive("NUT", 5)  # arrived meanwhile
    count = count_all(world, count, {"BOLT": "90", "NUT": "44"})

    with pytest.raises(Vetoed) as refused:  # a plain submit would post against stale books
        world.session.submit("stock_count", count["id"], version=count["version"])
    assert "盘点期间库存有变动" in refused.value.message and "第 1, 2 行" in refused.value.message

    count = submit_count(world.session, count["id"], version=count["version"])
    lines = counts_by_item(world, count)
    assert lines["BOLT"]["snapshot_qty"] == D("100") and lines["BOLT"]["expected_qty"] == D("90")
    assert lines["BOLT"]["difference"] == 0  # counted − expected at count time: nothing was lost
    assert lines["NUT"]["expected_qty"] == D("45") and lines["NUT"]["difference"] == D("-1")
    assert world.on_hand("BOLT") == D("90") and world.on_hand("NUT") == D("44")


def test_refreshing_shows_the_books_at_count_time_before_submitting(world):
    world.receive("BOLT", 100)
    count = start_count(world.session, warehouse=world.warehouses["A"])
    world.issue("BOLT", 30)
    count = count_all(world, count, {"BOLT": "70"})
    report = variance_report(world.session, count["id"])
    (line,) = report.lines
    assert (line.snapshot_qty, line.moved_since, line.expected_qty, line.difference) == (
        D("100"), D("-30"), D("70"), D("0"))
    count = refresh_expected(world.session, count["id"], version=count["version"])
    assert count["lines"][0]["expected_qty"] == D("70") and count["lines"][0]["within_tolerance"] is True
    count = world.session.submit("stock_count", count["id"], version=count["version"])  # the books agree now
    assert count["docstatus"] == "submitted" and world.on_hand("BOLT") == D("70")


@pytest.mark.both_dbs
def test_lines_beyond_the_tolerance_need_a_recount_or_approval(world):
    world.receive("BOLT", 500, cost="1.50")
    world.receive("NUT", 100)
    count = start_count(world.session, warehouse=world.warehouses["A"])
    count = count_all(world, count, {"BOLT": "380", "NUT": "103"})  # the article's 500 on the books, 380 found

    report = variance_report(world.session, count["id"])
    bolt, nut = report.lines
    assert (bolt.difference, bolt.percent, bolt.value, bolt.flag) == (D("-120"), D("-0.24"), D("-180.00"), "recount")
    assert (nut.difference, nut.percent, nut.within_tolerance, nut.flag) == (D("3"), D("0.03"), True, None)
    assert report.accuracy == D("0.5") and report.tolerance == D("0.03")

    with pytest.raises(Vetoed) as refused:
        submit_count(world.session, count["id"], version=count["version"])
    assert "第 1 行（物料BOLT）差异 -24% 超出 ±3% 的容差：请复盘或批准差异" in refused.value.message
    assert world.on_hand("BOLT") == D("500")  # nothing posted

    count = approve_variances(world.session, count["id"], [bolt.line_id], version=count["version"])
    count = submit_count(world.session, count["id"], version=count["version"])
    assert count["accuracy"] == D("0.5") and count["lines_off"] == 1
    assert world.on_hand("BOLT") == D("380") and world.on_hand("NUT") == D("103")
    assert variance_report(world.session, count["id"]).lines[0].flag == "approved"


def test_every_line_must_be_counted_and_counted_once(world):
    world.receive("BOLT", 10)
    world.receive("NUT", 10)
    count = start_count(world.session, warehouse=world.warehouses["A"])
    count = count_all(world, count, {"BOLT": "10"})
    with pytest.raises(Vetoed) as refused:
        submit_count(world.session, count["id"], version=count["version"])
    assert "第 2 行（物料NUT）还没有实盘数量" in refused.value.message
    rows = [{"id": line["id"]} for line in count["lines"]] + [{"item": world.items["BOLT"], "counted_qty": "1"}]
    count = world.session.update("stock_count", count["id"], {"lines": rows}, version=count["version"])
    with pytest.raises(Vetoed) as refused:
        submit_count(world.session, count["id"], version=count["version"])
    assert "第 3 行（物料BOLT）与第 1 行是同一物料、库位和批次，请合并" in refused.value.message


def test_a_count_can_be_limited_to_a_category_or_a_location(world):
    world.receive("BOLT", 10, location="A-1")
    world.receive("BOLT", 5, location="A-2")
    world.receive("PLATE", 7, location="A-1")
    by_category = start_count(world.session, warehouse=world.warehouses["A"], category=world.categories["STEEL"])
    assert [(line["item"], line["expected_qty"]) for line in by_category["lines"]] == [(world.items["PLATE"], 7)]

    at_location = start_count(world.session, warehouse=world.warehouses["A"], location=world.locations["A-2"])
    (line,) = at_location["lines"]
    assert (line["item"], line["location"], line["expected_qty"]) == (world.items["BOLT"], world.locations["A-2"], 5)
    at_location = count_all(world, at_location, {"BOLT": "4"})
    at_location = approve_variances(world.session, at_location["id"], [line["id"]], version=at_location["version"])
    submit_count(world.session, at_location["id"], version=at_location["version"])
    assert world.on_hand("BOLT") == D("14")  # one missing at A-2; A-1 untouched
    recount = start_count(world.session, warehouse=world.warehouses["A"], location=world.locations["A-1"])
    assert {row["item"]: row["expected_qty"] for row in recount["lines"]} == {
        world.items["BOLT"]: 10, world.items["PLATE"]: 7}


def test_batches_are_counted_one_by_one(world):
    world.receive("LOT", 30, batch="L1")
    world.receive("LOT", 20, batch="L2")
    count = start_count(world.session, warehouse=world.warehouses["A"])
    assert {key: line["expected_qty"] for key, line in counts_by_item(world, count).items()} == {
        "LOT/L1": 30, "LOT/L2": 20}
    count = count_all(world, count, {"LOT/L1": "30", "LOT/L2": "20.5"})
    count = approve_variances(world.session, count["id"], [count["lines"][1]["id"]], version=count["version"])
    submit_count(world.session, count["id"], version=count["version"])
    assert world.on_hand("LOT") == D("50.5")


def test_an_empty_scope_says_so(world):
    with pytest.raises(ValidationFailed) as refused:
        start_count(world.session, warehouse=world.warehouses["B"])
    assert "盘点范围内账面没有库存" in str(refused.value)
    with pytest.raises(ValidationFailed) as refused:
        start_count(world.session, warehouse=world.warehouses["B"], values={"snapshot_at": "2026-01-01"})
    assert "snapshot_at" in str(refused.value)


def test_scanning_counts_items_and_adds_what_was_not_on_the_books(world):
    world.receive("BOLT", 2)
    count = start_count(world.session, warehouse=world.warehouses["A"])
    manager = plugin_manager(entry_points=False)
    for _ in range(2):
        count = scan_count(world.session, manager, count["id"], "BOLT", version=count["version"])
    count = scan_count(world.session, manager, count["id"], "NUT", qty="12", version=count["version"])
    lines = counts_by_item(world, count)
    assert lines["BOLT"]["counted_qty"] == 2 and lines["NUT"]["counted_qty"] == 12
    assert lines["NUT"]["snapshot_qty"] == 0
    with pytest.raises(ValidationFailed) as refused:
        scan_count(world.session, manager, count["id"], "NOPE", version=count["version"])
    assert "找不到这个物料" in str(refused.value)
    count = approve_variances(world.session, count["id"], [lines["NUT"]["id"]], version=count["version"])
    submit_count(world.session, count["id"], version=count["version"])
    assert world.on_hand("NUT") == D("12")  # found stock is taken on the books


@pytest.mark.both_dbs
def test_cancelling_a_count_reverses_its_adjustments(world):
    world.receive("BOLT", 100)
    count = start_count(world.session, warehouse=world.warehouses["A"])
    count = count_all(world, count, {"BOLT": "99"})
    count = submit_count(world.session, count["id"], version=count["version"])
    assert world.on_hand("BOLT") == D("99")
    world.session.cancel("stock_count", count["id"], version=count["version"])
    assert world.on_hand("BOLT") == D("100")
    ledger = world.records.schema.stock["ledger"]
    with world.records.engine.connect() as connection:
        rows = connection.execute(select(ledger.c.qty).where(ledger.c.source_entity == "stock_count")
                                  .order_by(ledger.c.id)).scalars().all()
    assert rows == [D("-1"), D("1")]  # the adjustment and its reversal; nothing deleted



def test_keepers_count_their_own_warehouses_and_managers_approve_differences(world):
    from engine.errors import PermissionDenied
    from tests.service_helpers import make_user

    world.receive("BOLT", 100)
    world.receive("BOLT", 5, warehouse="B")
    keeper = world.records.session(make_user(world.records, "laoli", "warehouse_keeper",
                                             warehouses=[world.warehouses["A"]]))
    manager = world.records.session(make_user(world.records, "laozhang", "stock_manager"))
    with pytest.raises(PermissionDenied):
        start_count(keeper, warehouse=world.warehouses["B"])
    count = start_count(keeper, warehouse=world.warehouses["A"], values={"counted_by": "老李"})
    line = count["lines"][0]["id"]
    count = enter_counts(keeper, count["id"], {line: "90"}, version=count["version"])
    with pytest.raises(ValidationFailed) as refused:
        approve_variances(keeper, count["id"], [line], version=count["version"])
    assert "read-only" in str(refused.value)
    count = approve_variances(manager, count["id"], [line], version=count["version"])
    count = submit_count(keeper, count["id"], version=count["version"])
    assert count["docstatus"] == "submitted" and world.on_hand("BOLT") == D("90")


def test_a_count_made_by_hand_reads_the_books_before_it_is_submitted(world):
    world.receive("BOLT", 10)
    count = world.session.create("stock_count", {"warehouse": world.warehouses["A"], "lines": [
        {"item": world.items["BOLT"], "counted_qty": "10"}]})
    with pytest.raises(Vetoed) as refused:
        world.session.submit("stock_count", count["id"], version=count["version"])
    assert "第 1 行的账面数量与账面不符：请刷新账面数量后再提交" in refused.value.message
    count = submit_count(world.session, count["id"], version=count["version"])
    assert count["lines"][0]["expected_qty"] == D("10") and world.on_hand("BOLT") == D("10")
