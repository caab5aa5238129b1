"""A production order at a suspension-bracket maker on apps/discrete_mfg, driven through the service layer by the
people who do the work, on SQLite and PostgreSQL: steel and bolts bought and received, a picking list that
reserves them for the order (what is available drops, on hand does not), two issues made from it (each releases
what it takes), finished goods received from production, and a shipment bound to the customer's contract.
After every step the inventory's books are checked (`jxc stock verify`)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import ValidationFailed
from tests.apps_helpers import assert_books_consistent, batches_taken, clock, lines_of, mfg_app, stock_of
from tests.service_helpers import D, make_user, problems

pytest_plugins = ["tests.service_fixtures"]


@pytest.mark.both_dbs
def test_a_production_order_from_steel_to_shipment(make_records):
    app = mfg_app()
    mfg = make_records(app, clock=clock(app))  # today is 2026-11-25
    system = mfg.system()

    def person(name, role, full_name, **fields):
        return mfg.session(make_user(mfg, name, role, full_name=full_name, **fields))

    liu = person("liu", "data_clerk", "刘资料")
    chen = person("chenfang", "stock_manager", "陈芳")
    zhao = person("zhaomin", "purchaser", "赵敏")
    qian = person("qian", "purchase_manager", "钱经理")
    planner = person("xu", "production_planner", "徐计划")
    lead = person("wang", "workshop_lead", "王主任")
    sun = person("sunli", "sales_manager", "孙丽")

    # --- master data ---------------------------------------------------------------------------------------------
    raw = chen.create("warehouse", {"code": "WH-RM", "name": "原材料库"})["id"]
    goods = chen.create("warehouse", {"code": "WH-FG", "name": "成品库"})["id"]
    shelf = chen.create("location", {"code": "FG-01", "name": "成品区 01", "warehouse": goods})["id"]
    keeper = person("laoli", "warehouse_keeper", "老李", warehouses=[raw, goods])
    steel = liu.create("item", {"code": "RM-SPCC20", "name": "冷轧钢板", "unit": "kg", "item_type": "raw",
                                "has_batch": True, "purchase_price": "5.60"})["id"]
    bolt = liu.create("item", {"code": "RM-BOLT10", "name": "法兰螺栓", "item_type": "raw",
                               "purchase_price": "0.45"})["id"]
    bracket = liu.create("item", {"code": "FG-XJ01", "name": "悬挂支架总成", "unit": "set", "item_type": "finished",
                                  "has_batch": True, "sale_price": "68.00", "standard_cost": "42.40"})["id"]
    bom = planner.create("bom", {"code": "BOM-FG-XJ01", "product": bracket, "components": [
        {"item": steel, "qty_per": "3.4"}, {"item": bolt, "qty_per": "4"}]})["id"]
    supplier = system.create("supplier", {"code": "S001", "name": "宝钢浙江剪切配送中心"})["id"]
    geely = system.create("customer", {"code": "C001", "name": "吉利汽车零部件采购中心", "credit_limit": "500000"})["id"]

    # --- buying and receiving ----------------------------------------------------------------------------------------
    order = zhao.create("purchase_order", {"supplier": supplier, "lines": [
        {"item": steel, "qty": "2000"}, {"item": bolt, "qty": "5000"}]})
    assert order["total"] == D("15198.50")  # (11,200 + 2,250) × 1.13
    order = zhao.transition("purchase_order", order["id"], "request", version=order["version"])
    order = qian.transition("purchase_order", order["id"], "approve", version=order["version"])
    receipt = keeper.make_from("goods_receipt", "purchase_order", order["id"], {"warehouse": raw, "lines": [
        {"batch_no": "BG2611-0452", "supplier_batch": "26K0452"}, {}]})
    keeper.submit("goods_receipt", receipt["id"], version=receipt["version"])
    assert stock_of(mfg, steel, raw) == {"on_hand": D("2000"), "reserved": D("0"), "available": D("2000"),
                                         "value": D("11200.00")}
    assert stock_of(mfg, bolt, raw) == {"on_hand": D("5000"), "reserved": D("0"), "available": D("5000"),
                                        "value": D("2250.00")}
    assert_books_consistent(mfg)

    # --- the customer's order and the production order for it ---------------------------------------------------------
    sale = sun.create("sales_order", {"customer": geely, "contract_no": "GL-PJ-2026-1107", "lines": [
        {"item": bracket, "qty": "500"}]}, submit=True)
    assert sale["total"] == D("38420.00")
    production = planner.create("production_order", {
        "product": bracket, "bom": bom, "qty": "500", "customer": geely, "contract_no": "GL-PJ-2026-1107",
        "planned_end": dt.date(2026, 12, 1), "warehouse": raw, "fg_warehouse": goods, "workshop": "装配车间",
        "materials": [{"item": steel, "qty_required": "1700"}, {"item": bolt, "qty_required": "2000"}]})
    production = planner.transition("production_order", production["id"], "release", version=production["version"])
    assert (production["status"], production["docstatus"], production["kitting_status"]) \
        == ("released", "submitted", "pending")

    # --- the picking list reserves the materials: available drops, on hand does not -----------------------------------
    picking = lead.make_from("production_picking", "production_order", production["id"])
    assert (picking["production_no"], picking["contract_no"], picking["warehouse"]) \
        == (production["doc_no"], "GL-PJ-2026-1107", raw)
    assert lines_of(picking, "qty") == [D("1700.000"), D("2000.000")]
    picking = lead.submit("production_picking", picking["id"], version=picking["version"])
    assert stock_of(mfg, steel, raw) == {"on_hand": D("2000"), "reserved": D("1700"), "available": D("300"),
                                         "value": D("11200.00")}
    assert stock_of(mfg, bolt, raw) == {"on_hand": D("5000"), "reserved": D("2000"), "available": D("3000"),
                                        "value": D("2250.00")}
    assert planner.get("production_order", production["id"])["kitting_status"] == "done"
    assert_books_consistent(mfg)
    # what is reserved for the order is not for anyone else
    with pytest.raises(ValidationFailed) as caught:
        keeper.create("stock_issue", {"warehouse": raw, "purpose": "use", "recipient": "维修班", "lines": [
            {"item": steel, "qty": "400", "batch_no": "BG2611-0452"}]}, submit=True)
    assert problems(caught.value) == {"lines[0].qty": "物料 RM-SPCC20 冷轧钢板 在仓库 WH-RM 原材料库 库存不足：可用 300"
                                                      "（另有 1700 已预留），需要 400"}
    production = lead.transition("production_order", production["id"], "start",
                                 version=planner.get("production_order", production["id"])["version"])
    assert production["status"] == "in_progress"  # kitted: the workshop may start

    # --- the store issues against the picking list, in two goes ---------------------------------------------------------
    issue = keeper.make_from("production_issue", "production_picking", picking["id"], {
        "issued_by": "老李", "received_by": "王师傅", "lines": [{"qty": "1000"}, {}]})
    assert (issue["picking_no"], issue["production_no"]) == (picking["doc_no"], production["doc_no"])
    issue = keeper.submit("production_issue", issue["id"], version=issue["version"])
    assert batches_taken(mfg, "production_issue", issue["id"]) == {"BG2611-0452": D("-1000")}  # the only batch
    assert stock_of(mfg, steel, raw) == {"on_hand": D("1000"), "reserved": D("700"), "available": D("300"),
                                         "value": D("5600.00")}
    assert stock_of(mfg, bolt, raw) == {"on_hand": D("3000"), "reserved": D("0"), "available": D("3000"),
                                        "value": D("1350.00")}
    assert lead.get("production_picking", picking["id"])["issue_status"] == "partial"
    assert_books_consistent(mfg)
    rest = keeper.make_from("production_issue", "production_picking", picking["id"])
    assert [(line["item"], line["qty"]) for line in rest["lines"]] == [(steel, D("700.000"))]
    keeper.submit("production_issue", rest["id"], version=rest["version"])
    assert stock_of(mfg, steel, raw) == {"on_hand": D("300"), "reserved": D("0"), "available": D("300"),
                                         "value": D("1680.00")}
    assert lead.get("production_picking", picking["id"])["issue_status"] == "done"
    assert_books_consistent(mfg)

    # --- finished goods come in at their standard cost ---------------------------------------------------------------------
    finished = lead.make_from("finished_goods_receipt", "production_order", production["id"], {
        "inspector": "质检 郑工", "lines": [{"item": bracket, "qty": "500", "scrap_qty": "3",
                                              "batch_no": "XJ01-261125", "location": shelf}]})
    assert (finished["contract_no"], finished["warehouse"], lines_of(finished, "unit_cost")) \
        == ("GL-PJ-2026-1107", goods, [D("42.40")])
    keeper.submit("finished_goods_receipt", finished["id"], version=finished["version"])
    assert stock_of(mfg, bracket, goods) == {"on_hand": D("500"), "reserved": D("0"), "available": D("500"),
                                             "value": D("21200.00")}
    assert_books_consistent(mfg)

    # --- shipping 300 sets against the customer's contract -----------------------------------------------------------------
    shipment = keeper.make_from("sales_shipment", "sales_order", sale["id"], {
        "warehouse": goods, "carrier": "德邦物流 DPK202611250031", "lines": [{"qty": "300", "location": shelf}]})
    assert (shipment["contract_no"], shipment["so_no"]) == ("GL-PJ-2026-1107", sale["doc_no"])
    with pytest.raises(ValidationFailed) as caught:  # no shipment leaves without the customer's contract number
        keeper.update("sales_shipment", shipment["id"], {"contract_no": None}, version=shipment["version"])
    assert problems(caught.value) == {"contract_no": "is required"}
    shipment = keeper.submit("sales_shipment", shipment["id"], version=shipment["version"])
    assert batches_taken(mfg, "sales_shipment", shipment["id"]) == {"XJ01-261125": D("-300")}
    assert stock_of(mfg, bracket, goods) == {"on_hand": D("200"), "reserved": D("0"), "available": D("200"),
                                             "value": D("8480.00")}
    sale = sun.get("sales_order", sale["id"])
    assert (lines_of(sale, "shipped_qty"), sale["shipment_status"]) == ([D("300.000")], "partial")
    assert_books_consistent(mfg)
