"""Batches: created on receipt (expiry entered or production date + shelf life), required for batch-tracked
items, allocated first-expired-first-out when an issue names none (split over batches), expired batches
refused, near-expiry ones kept from shipments to customers."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.stock.fefo import suggest_batches
from engine.stock.refusals import NotEnoughStock, StockRefused
from tests.service_helpers import NOW, problems
from tests.stock_helpers import D

pytest_plugins = ["tests.service_fixtures", "tests.stock_helpers"]
pytestmark = pytest.mark.both_dbs

TODAY = NOW.date()


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def milk_world(stock, *, has_batch=True):
    """Milk in three batches: L-LATE (expires in 56 days), L-SOON (in 15 days), L-OLD (expired 4 days ago)."""
    milk, main = stock.item("M1", name="牛奶", has_batch=has_batch, shelf_life_days=90), stock.warehouse("WH1")
    stock.receive(main, (milk, 10, "3.00", "L-LATE", day(56)), (milk, 4, "3.00", "L-SOON", day(15)),
                  (milk, 5, "3.00", "L-OLD", day(-4)), date=day(-60))
    return milk, main


def test_a_receipt_creates_its_batches_with_expiry_from_production_date_and_shelf_life(stock):
    milk, main = stock.item("M1", has_batch=True, shelf_life_days=90), stock.warehouse("WH1")
    stock.receive(main, (milk, 10, "3.00", "L1", None, day(-10)))
    batch = stock.batch(milk, "L1")
    assert batch["expiry"] == day(80) and batch["production_date"] == day(-10) and batch["on_hand"] == D(10)
    assert stock.on_hand(milk, main, batch["id"]) == D(10)
    stock.receive(main, (milk, 5, "3.00", "L1", day(80)))  # the same batch again: one batch, more in it
    assert stock.batch(milk, "L1")["on_hand"] == D(15)


def test_a_batch_tracked_item_cannot_come_in_without_a_batch(stock):
    milk, main = stock.item("M1", has_batch=True), stock.warehouse("WH1")
    with pytest.raises(StockRefused) as refused:
        stock.adjust(main, (milk, 3))
    assert problems(refused.value) == {"lines[0]": "物料 M1 物料M1 实行批次管理，必须填写批次号"}
    assert stock.on_hand(milk) == 0


def test_an_issue_without_a_batch_takes_the_earliest_expiry_first_split_over_batches(stock):
    milk, main = milk_world(stock, has_batch=False)  # not required, but received in batches: still FEFO
    branch = stock.warehouse("WH2")
    stock.transfer(main, branch, (milk, 12))
    moved = [row for row in stock.ledger(milk) if row["source_entity"] == "stock_transfer" and row["qty"] < 0]
    batches = {stock.batch(milk, name)["id"]: name for name in ("L-LATE", "L-SOON", "L-OLD")}
    assert [(batches[row["batch"]], row["qty"]) for row in moved] == [("L-SOON", D(-4)), ("L-LATE", D(-8))]
    soon, late = stock.batch(milk, "L-SOON")["id"], stock.batch(milk, "L-LATE")["id"]
    assert (stock.on_hand(milk, main, soon), stock.on_hand(milk, main, late)) == (0, D(2))
    assert (stock.on_hand(milk, branch, soon), stock.on_hand(milk, branch, late)) == (D(4), D(8))  # same batches
    assert stock.batch(milk, "L-SOON")["on_hand"] == D(4)  # a batch's total over warehouses: moved, not gone


def test_shipments_to_customers_skip_batches_too_close_to_expiry(stock):
    milk, main = milk_world(stock)
    delivery = stock.deliver(main, (milk, 6))
    moved = [row for row in stock.ledger(milk) if (row["source_entity"], row["source_id"]) == ("delivery", delivery["id"])]
    assert [(row["batch"], row["qty"]) for row in moved] == [(stock.batch(milk, "L-LATE")["id"], D(-6))]
    with pytest.raises(NotEnoughStock) as refused:
        stock.deliver(main, (milk, 5))
    assert "可出库的批次库存不足：可用 4（另有 9 已过期或临期，不能出库），需要 5" in str(refused.value)


def test_an_expired_batch_is_refused_by_name_for_a_customer(stock):
    milk, main = milk_world(stock)
    with pytest.raises(StockRefused) as refused:
        stock.deliver(main, (milk, 1, "L-OLD"))
    assert problems(refused.value) == {"lines[0]": f"物料 M1 牛奶 的批次 L-OLD 已于 {day(-4)} 过期，不能在 {TODAY} 出库"}
    for purpose in ("use", "sample"):  # nor used inside or given away as samples: only written off
        with pytest.raises(StockRefused) as refused:
            stock.issue(main, (milk, 1, "L-OLD"), purpose=purpose)
        assert "已于" in str(refused.value) and "过期" in str(refused.value)
    assert stock.batch(milk, "L-OLD")["on_hand"] == D(5)


def test_expired_stock_can_be_scrapped_and_counted_off(stock):
    """The expired batch must leave the books somehow: a scrap issue naming it and a count that finds less of it
    are accepted (write-offs are the only documents that may take an expired batch out)."""
    from engine.stock.count import approve_variances, enter_counts, start_count, submit_count

    milk, main = milk_world(stock)
    stock.issue(main, (milk, 2, "L-OLD"), purpose="scrap", reason="过期报废")
    assert stock.batch(milk, "L-OLD")["on_hand"] == D(3)
    session = stock.session
    count = start_count(session, warehouse=main)
    old = next(line for line in count["lines"] if line["batch_no"] == "L-OLD")
    count = enter_counts(session, count["id"], {line["id"]: "0" if line is old else line["expected_qty"]
                                                for line in count["lines"]}, version=count["version"])
    count = approve_variances(session, count["id"], [old["id"]], version=count["version"])
    submit_count(session, count["id"], version=count["version"])
    assert stock.batch(milk, "L-OLD")["on_hand"] == D(0)
    assert stock.on_hand(milk, main) == D(14)


def test_a_near_expiry_batch_may_be_used_inside_but_not_shipped(stock):
    milk, main = milk_world(stock)
    stock.issue(main, (milk, 1, "L-SOON"))
    with pytest.raises(StockRefused) as refused:
        stock.deliver(main, (milk, 1, "L-SOON"))
    assert "批次 L-SOON 于 2026-03-20 到期，剩余保质期不足 30 天，不能发货" in str(refused.value)


def test_an_issue_of_more_than_a_batch_holds_is_refused(stock):
    milk, main = milk_world(stock)
    with pytest.raises(NotEnoughStock) as refused:
        stock.issue(main, (milk, 5, "L-SOON"))
    assert "批次 L-SOON 在仓库" in str(refused.value) and "现有 4，需要 5" in str(refused.value)


def test_an_unknown_batch_is_refused(stock):
    milk, main = milk_world(stock)
    with pytest.raises(StockRefused) as refused:
        stock.issue(main, (milk, 1, "NOPE"))
    assert "没有批次 NOPE" in str(refused.value)


def test_suggest_batches_gives_the_fefo_plan_for_forms(stock):
    milk, main = milk_world(stock)
    with stock.records.engine.connect() as connection:
        plan = suggest_batches(connection, milk, main, D(12), TODAY)
        shipping = suggest_batches(connection, milk, main, D(12), TODAY, min_remaining_days=30)
    assert [(s.batch_no, s.qty) for s in plan] == [("L-SOON", D(4)), ("L-LATE", D(8))]
    assert [(s.batch_no, s.qty) for s in shipping] == [("L-LATE", D(10))]  # short: only what may leave


def test_cancel_puts_the_batches_back(stock):
    milk, main = milk_world(stock)
    delivery = stock.deliver(main, (milk, 6))
    stock.cancel("delivery", delivery)
    assert stock.batch(milk, "L-LATE")["on_hand"] == D(10)
    assert stock.on_hand(milk, main) == D(19)


def test_an_items_own_minimum_shelf_life_overrides_the_apps(stock):
    milk, main = stock.item("M1", has_batch=True, min_shelf_life=10), stock.warehouse("WH1")
    stock.receive(main, (milk, 4, "3.00", "L-SOON", day(15)), (milk, 4, "3.00", "L-LATE", day(56)))
    delivery = stock.deliver(main, (milk, 6))  # 15 days left is enough for this item (the app asks 30)
    moved = [row for row in stock.ledger(milk) if (row["source_entity"], row["source_id"]) == ("delivery", delivery["id"])]
    assert [row["qty"] for row in moved] == [D(-4), D(-2)]
    assert moved[0]["batch"] == stock.batch(milk, "L-SOON")["id"]
