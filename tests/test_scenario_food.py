"""A week of a frozen-food plant on apps/food, driven through the service layer by the people who do the work, on
SQLite and PostgreSQL: an approved purchase order received in two batches, a sales order shipped first-expiry-
first-out (the expired and the nearly expired batches left behind), an expired batch refused, a customer's
return, and a stock count. After every step the inventory's books are checked (`jxc stock verify`); what is
asserted is what the users see: quantities, batches, values, statuses, refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import ValidationFailed, Vetoed
from engine.stock.count import approve_variances, enter_counts, start_count, submit_count
from tests.apps_helpers import (
    assert_books_consistent,
    batches_taken,
    clock,
    food_app,
    ledger_costs,
    lines_of,
    stock_of,
)
from tests.service_helpers import D, make_user, problems

pytest_plugins = ["tests.service_fixtures"]


@pytest.mark.both_dbs
def test_a_week_at_a_frozen_food_plant(make_records):
    app = food_app()
    food = make_records(app, clock=clock(app))  # today is 2026-11-25
    system = food.system()

    def person(name, role, full_name, **fields):
        return food.session(make_user(food, name, role, full_name=full_name, **fields))

    liu = person("liu", "data_clerk", "刘资料")
    zhou = person("zhouqiang", "stock_manager", "周强")
    zhao = person("zhaomin", "purchaser", "赵敏")
    qian_jl = person("qianjl", "purchase_manager", "钱经理")
    wang = person("wang", "general_manager", "王总")
    sun = person("sunli", "sales_manager", "孙丽")

    # --- master data ---------------------------------------------------------------------------------------------
    frozen = zhou.create("warehouse", {"code": "WH-C", "name": "冷冻库", "storage": "frozen"})["id"]
    bay = zhou.create("location", {"code": "C-01-01", "name": "冷冻库 1 号位", "warehouse": frozen})["id"]
    keeper = person("qianwei", "warehouse_keeper", "钱伟", warehouses=[frozen])
    quality = person("zheng", "quality", "郑品控")
    dumplings = liu.create("item", {"code": "FG-DUMP", "name": "鲜虾仁水饺", "spec": "1kg×10袋/箱", "unit": "box",
                                    "storage": "frozen", "shelf_life_days": 365, "min_remaining_shelf_life_days": 120,
                                    "safety_stock": "50", "reorder_level": "80", "sale_price": "260.00",
                                    "purchase_price": "165.00"})
    assert dumplings["has_batch"] is True  # food is kept in batches by default
    dumplings = dumplings["id"]
    packer = liu.create("supplier", {"code": "S005", "name": "湖州速冻食品代工厂"})["id"]
    yonghui = liu.create("customer", {"code": "C001", "name": "永辉超市华东区", "credit_limit": "300000",
                                      "payment_days": 45, "min_remaining_days": 120})["id"]
    laodifang = liu.create("customer", {"code": "C002", "name": "杭州老地方餐饮", "credit_limit": "20000"})["id"]

    # opening stock, loaded by jxc: one batch already expired, one expiring in 20 days
    system.create("goods_receipt", {"warehouse": frozen, "receipt_date": dt.date(2025, 12, 20), "remark": "期初库存",
                                    "lines": [
        {"item": dumplings, "qty": "20", "unit_cost": "150.00", "batch_no": "DP251120",
         "production_date": dt.date(2025, 11, 20), "location": bay},
        {"item": dumplings, "qty": "30", "unit_cost": "150.00", "batch_no": "DP251215",
         "production_date": dt.date(2025, 12, 15), "location": bay}]}, submit=True)
    assert stock_of(food, dumplings, frozen) == {"on_hand": D("50"), "reserved": D("0"), "available": D("50"),
                                                 "value": D("7500.00")}
    assert_books_consistent(food)

    # --- buying: 400 boxes, 74,580 with VAT: the department head agrees, the general manager approves ------------
    order = zhao.create("purchase_order", {"supplier": packer, "expected_date": dt.date(2026, 11, 27),
                                           "lines": [{"item": dumplings, "qty": "400"}]})
    assert (order["lines"][0]["price"], order["total"]) == (D("165.00"), D("74580.00"))
    order = zhao.transition("purchase_order", order["id"], "request", version=order["version"])
    order = qian_jl.transition("purchase_order", order["id"], "escalate", version=order["version"], comment="同意")
    order = wang.transition("purchase_order", order["id"], "approve_gm", version=order["version"])
    assert (order["doc_no"], order["docstatus"]) == ("PO-202611-0001", "submitted")

    # --- receiving in two batches: the keeper fills in the warehouse, batch and production date ----------------
    first = keeper.make_from("goods_receipt", "purchase_order", order["id"], {"warehouse": frozen, "lines": [
        {"qty": "150", "batch_no": "DP261020", "production_date": dt.date(2026, 10, 20), "location": bay}]})
    assert lines_of(first, "expiry") == [dt.date(2027, 10, 20)]  # production date + 365 days
    first = keeper.submit("goods_receipt", first["id"], version=first["version"])
    assert qian_jl.get("purchase_order", order["id"])["receipt_status"] == "partial"
    second = keeper.make_from("goods_receipt", "purchase_order", order["id"], {"warehouse": frozen, "lines": [
        {"batch_no": "DP261111", "production_date": dt.date(2026, 11, 11), "location": bay}]})
    assert lines_of(second, "qty") == [D("250.000")]  # what the order still expects
    keeper.submit("goods_receipt", second["id"], version=second["version"])
    order = qian_jl.get("purchase_order", order["id"])
    assert (order["receipt_status"], order["per_received"]) == ("done", D("1.0000"))
    # 50 boxes at 150 and 400 at 165: 73,500, an average of 163.33 a box
    assert stock_of(food, dumplings, frozen) == {"on_hand": D("450"), "reserved": D("0"), "available": D("450"),
                                                 "value": D("73500.00")}
    assert stock_of(food, dumplings, frozen, "DP261111")["on_hand"] == D("250")
    assert_books_consistent(food)

    # --- selling: 200 boxes to Yonghui, shipped without naming a batch --------------------------------------------
    sale = sun.create("sales_order", {"customer": yonghui, "contract_no": "YH-2026-FD-0318", "lines": [
        {"item": dumplings, "qty": "200"}]}, submit=True)
    assert sale["total"] == D("58760.00")
    shipment = keeper.make_from("sales_shipment", "sales_order", sale["id"], {"warehouse": frozen,
                                                                              "carrier": "自有冷链车 浙F·D1234"})
    assert (shipment["contract_no"], lines_of(shipment, "batch_no")) == ("YH-2026-FD-0318", [None])
    shipment = keeper.submit("sales_shipment", shipment["id"], version=shipment["version"])
    # first expiry first out: DP251120 has expired and DP251215 has 20 days left (the plant ships nothing with
    # less than 30), so the 200 boxes come from DP261020 (150) and then DP261111 (50)
    assert batches_taken(food, "sales_shipment", shipment["id"]) == {"DP261020": D("-150"), "DP261111": D("-50")}
    assert sum(value for _, _, value in ledger_costs(food, "sales_shipment", shipment["id"])) == D("-32666.67")
    assert stock_of(food, dumplings, frozen) == {"on_hand": D("250"), "reserved": D("0"), "available": D("250"),
                                                 "value": D("40833.33")}
    assert [stock_of(food, dumplings, frozen, batch)["on_hand"] for batch in ("DP251120", "DP251215", "DP261111")] \
        == [D("20"), D("30"), D("200")]
    sale = sun.get("sales_order", sale["id"])
    assert (lines_of(sale, "shipped_qty"), sale["shipment_status"]) == ([D("200.000")], "done")
    assert_books_consistent(food)

    # --- an expired batch does not leave, whatever expiry is typed in ---------------------------------------------
    small = sun.create("sales_order", {"customer": laodifang, "lines": [{"item": dumplings, "qty": "10"}]},
                       submit=True)
    late = keeper.make_from("sales_shipment", "sales_order", small["id"], {"warehouse": frozen, "lines": [
        {"batch_no": "DP251120", "expiry": dt.date(2027, 12, 1), "location": bay}]})
    with pytest.raises(ValidationFailed) as caught:
        keeper.submit("sales_shipment", late["id"], version=late["version"])
    assert problems(caught.value) == {"lines[0]": "物料 FG-DUMP 鲜虾仁水饺 的批次 DP251120 已于 2026-11-20 过期，不能在 "
                                                  "2026-11-25 出库"}
    with pytest.raises(ValidationFailed) as caught:  # nor as samples
        quality.create("stock_issue", {"warehouse": frozen, "purpose": "sample", "recipient": "郑品控",
                                       "lines": [{"item": dumplings, "qty": "2", "batch_no": "DP251120"}]}, submit=True)
    assert "已于 2026-11-20 过期" in problems(caught.value)["lines[0]"]
    assert stock_of(food, dumplings, frozen)["on_hand"] == D("250")  # nothing moved
    assert_books_consistent(food)

    # --- Yonghui sends back 10 boxes of DP261111 (thawed in their store) -------------------------------------------
    back = sun.make_from("sales_return", "sales_shipment", shipment["id"], {"reason": "quality", "lines": [
        {"qty": "10", "batch_no": "DP261111"}]})
    assert (back["shipment_no"], back["contract_no"], back["warehouse"]) \
        == (shipment["doc_no"], "YH-2026-FD-0318", frozen)
    back = keeper.submit("sales_return", back["id"], version=back["version"])
    assert stock_of(food, dumplings, frozen, "DP261111")["on_hand"] == D("210")
    assert stock_of(food, dumplings, frozen) == {"on_hand": D("260"), "reserved": D("0"), "available": D("260"),
                                                 "value": D("42466.66")}  # back at the average, 163.33 a box
    assert keeper.get("sales_shipment", shipment["id"])["lines"][0]["returned_qty"] == D("10.000")
    assert_books_consistent(food)

    # --- the month-end count: two boxes of DP261111 missing, five of DP251215 -------------------------------------
    count = start_count(zhou, warehouse=frozen, values={"counted_by": "钱伟"})
    book = {line["batch_no"]: line for line in count["lines"]}
    assert {batch: line["expected_qty"] for batch, line in book.items()} \
        == {"DP251120": D("20.000"), "DP251215": D("30.000"), "DP261111": D("210.000")}
    count = enter_counts(keeper, count["id"], {book["DP251120"]["id"]: "20", book["DP251215"]["id"]: "25",
                                               book["DP261111"]["id"]: "208"}, version=count["version"])
    assert count["lines_off"] == 1  # 5 of 30 is 16.7 %, beyond the 3 % tolerance; 2 of 210 is within
    with pytest.raises(Vetoed) as vetoed:  # a line beyond the tolerance is recounted or approved first
        submit_count(zhou, count["id"], version=count["version"])
    assert vetoed.value.message == "第 2 行（鲜虾仁水饺）差异 -16.67% 超出 ±3% 的容差：请复盘或批准差异"
    count = approve_variances(zhou, count["id"], [book["DP251215"]["id"]], version=count["version"])
    count = submit_count(zhou, count["id"], version=count["version"])
    assert (count["docstatus"], count["accuracy"]) == ("submitted", D("0.6667"))
    assert [stock_of(food, dumplings, frozen, batch)["on_hand"] for batch in ("DP251120", "DP251215", "DP261111")] \
        == [D("20"), D("25"), D("208")]
    assert stock_of(food, dumplings, frozen)["on_hand"] == D("253")
    assert_books_consistent(food)
