"""Returns on apps/food, through the service layer by the users who do them, on SQLite and PostgreSQL: a purchase
return (退货给供应商) is made from a goods receipt and a sales return (客户退货) from a shipment; each is limited to
what was received or shipped less what was already returned, moves the stock, and keeps its original's cost.
Also: a document made from another takes the values its mapping leaves open (the receipt's warehouse, batches)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import LifecycleError, ValidationFailed
from tests.apps_helpers import assert_books_consistent, clock, food_app, ledger_costs, lines_of, stock_of
from tests.service_helpers import D, make_user, problems

pytest_plugins = ["tests.service_fixtures"]
_batches = itertools.count(1)  # a new batch number for every receipt the property test makes


@pytest.fixture
def food(make_records):
    app = food_app()
    return make_records(app, clock=clock(app))


@pytest.fixture
def world(food):
    system = food.system()
    frozen = system.create("warehouse", {"code": "WH-C", "name": "冷冻库", "storage": "frozen"})
    returns = system.create("warehouse", {"code": "WH-Q", "name": "退货待检库", "storage": "frozen"})
    shrimp = system.create("item", {"code": "RM-SHRIMP", "name": "冷冻虾仁", "unit": "kg", "storage": "frozen",
                                    "shelf_life_days": 365, "purchase_price": "78.00", "tax_rate": "0.09"})
    dumplings = system.create("item", {"code": "FG-DUMP", "name": "鲜虾仁水饺", "unit": "box", "storage": "frozen",
                                       "shelf_life_days": 365, "sale_price": "260.00"})
    supplier = system.create("supplier", {"code": "S004", "name": "湛江国联水产"})
    customer = system.create("customer", {"code": "C001", "name": "永辉超市华东区", "credit_limit": "300000"})
    keeper = make_user(food, "qianwei", "warehouse_keeper", full_name="钱伟", warehouses=[frozen["id"], returns["id"]])
    return {"system": system, "frozen": frozen["id"], "returns": returns["id"], "shrimp": shrimp["id"],
            "dumplings": dumplings["id"], "supplier": supplier["id"], "customer": customer["id"],
            "keeper": food.session(keeper), "buyer": food.session(make_user(food, "zhaomin", "purchaser")),
            "manager": food.session(make_user(food, "qian", "purchase_manager")),
            "sales": food.session(make_user(food, "sunli", "sales_manager"))}


def approved_order(world, qty, price="78.00"):
    buyer, manager = world["buyer"], world["manager"]
    order = buyer.create("purchase_order", {"supplier": world["supplier"], "lines": [
        {"item": world["shrimp"], "qty": qty, "price": price}]})
    order = buyer.transition("purchase_order", order["id"], "request", version=order["version"])
    return manager.transition("purchase_order", order["id"], "approve", version=order["version"])


def send_back(world, entity, source, source_id, qty, maker="keeper"):
    """A return of `qty` from the first line of its original, made by `maker` and submitted by the keeper."""
    back = world[maker].make_from(entity, source, source_id, {"lines": [{"qty": qty}]})
    return world["keeper"].submit(entity, back["id"], version=back["version"])


def ship_forty_dumplings(world):
    """100 boxes of batch DP261111 received at 165.00 on Nov 12, 40 of them ordered and shipped to the customer on
    Nov 20: (the order, the shipment)."""
    keeper, sales, dumplings, frozen = world["keeper"], world["sales"], world["dumplings"], world["frozen"]
    world["system"].create("goods_receipt", {"warehouse": frozen, "receipt_date": dt.date(2026, 11, 12), "lines": [
        {"item": dumplings, "qty": "100", "unit_cost": "165.00", "batch_no": "DP261111",
         "production_date": dt.date(2026, 11, 11)}]}, submit=True)
    order = sales.create("sales_order", {"customer": world["customer"], "lines": [{"item": dumplings, "qty": "40"}]},
                         submit=True)
    shipment = keeper.make_from("sales_shipment", "sales_order", order["id"], {
        "warehouse": frozen, "ship_date": dt.date(2026, 11, 20),
        "lines": [{"batch_no": "DP261111", "expiry": dt.date(2027, 11, 11)}]})
    return order, keeper.submit("sales_shipment", shipment["id"], version=shipment["version"])


def receive(world, order, qty, batch, produced):
    line = {"qty": qty, "batch_no": batch, "production_date": produced}
    receipt = world["keeper"].make_from("goods_receipt", "purchase_order", order["id"],
                                        {"warehouse": world["frozen"], "lines": [line]})
    return world["keeper"].submit("goods_receipt", receipt["id"], version=receipt["version"])


@pytest.mark.both_dbs
def test_a_receipt_made_from_an_order_takes_the_warehouse_and_batches_the_order_cannot_give(food, world):
    order = approved_order(world, "100")
    keeper = world["keeper"]
    with pytest.raises(ValidationFailed) as caught:  # the order knows no warehouse, batch or dates
        keeper.make_from("goods_receipt", "purchase_order", order["id"])
    assert problems(caught.value) == {"warehouse": "is required", "lines[0].batch_no": "is required",
                                      "lines[0].production_date": "is required", "lines[0].expiry": "is required"}
    with pytest.raises(ValidationFailed) as caught:  # what the mapping fills in is not the user's to give
        keeper.make_from("goods_receipt", "purchase_order", order["id"],
                         {"warehouse": world["frozen"], "po_no": "PO-FAKE", "lines": [{"made_from_line": 1}]})
    assert problems(caught.value) == {"po_no": "is read-only", "lines[0].made_from_line": "is set by jxc and cannot "
                                                                                          "be given"}
    receipt = keeper.make_from("goods_receipt", "purchase_order", order["id"], {
        "warehouse": world["frozen"], "lines": [{"qty": "60", "batch_no": "GL261028",
                                                 "production_date": dt.date(2026, 10, 28)}]})
    assert (receipt["po_no"], receipt["warehouse"], lines_of(receipt, "qty")) \
        == (order["doc_no"], world["frozen"], [D("60.000")])
    assert lines_of(receipt, "expiry") == [dt.date(2027, 10, 28)]  # production date + the item's 365 days
    receipt = keeper.submit("goods_receipt", receipt["id"], version=receipt["version"])
    order = world["manager"].get("purchase_order", order["id"])
    assert (lines_of(order, "received_qty"), order["receipt_status"]) == ([D("60.000")], "partial")


@pytest.mark.both_dbs
def test_a_purchase_return_takes_back_at_most_what_was_received_less_what_went_back_at_the_receipt_cost(food, world):
    keeper, manager = world["keeper"], world["manager"]
    order = approved_order(world, "200")
    first = receive(world, order, "100", "GL261010", dt.date(2026, 10, 10))
    receive(world, order, "100", "GL261028", dt.date(2026, 10, 28))
    shrimp, frozen = world["shrimp"], world["frozen"]
    # the receipts' cost is the order's price: hidden from the keeper, carried over by the mapping
    assert stock_of(food, shrimp, frozen)["value"] == D("15600.00")

    back = keeper.make_from("purchase_return", "goods_receipt", first["id"], {"reason": "quality"})
    assert (back["supplier"], back["warehouse"], back["receipt_no"], back["po_no"]) \
        == (world["supplier"], frozen, first["doc_no"], order["doc_no"])
    assert [(line["qty"], line["batch_no"]) for line in back["lines"]] == [(D("100.000"), "GL261010")]
    back = keeper.update("purchase_return", back["id"], {"lines": [{"id": back["lines"][0]["id"], "qty": "101"}]},
                         version=back["version"])
    with pytest.raises(ValidationFailed) as caught:
        keeper.submit("purchase_return", back["id"], version=back["version"])
    assert problems(caught.value) == {"lines[0].qty": "this would make line 1 of goods_receipt 101 of 100"}
    back = keeper.update("purchase_return", back["id"], {"lines": [{"id": back["lines"][0]["id"], "qty": "30"}]},
                         version=back["version"])
    back = keeper.submit("purchase_return", back["id"], version=back["version"])
    assert back["doc_no"].startswith("CT-202611-")
    assert manager.get("goods_receipt", first["id"])["lines"][0]["returned_qty"] == D("30.000")
    assert ledger_costs(food, "purchase_return", back["id"]) == [(D("-30"), D("78.00"), D("-2340.00"))]
    assert stock_of(food, shrimp, frozen) == {"on_hand": D("170"), "reserved": D("0"), "available": D("170"),
                                              "value": D("13260.00")}
    assert stock_of(food, shrimp, frozen, "GL261010")["on_hand"] == D("70")
    assert_books_consistent(food)

    rest = keeper.draft_from("purchase_return", "goods_receipt", first["id"])
    assert [line["qty"] for line in rest["lines"]] == ["70.000"]  # what is left to send back
    again = keeper.make_from("purchase_return", "goods_receipt", first["id"], {"lines": [{"qty": "71"}]})
    with pytest.raises(ValidationFailed) as caught:
        keeper.submit("purchase_return", again["id"], version=again["version"])
    assert problems(caught.value) == {"lines[0].qty": "this would make line 1 of goods_receipt 101 of 100"}

    with pytest.raises(LifecycleError) as refused:  # the receipt stays while a return made from it stands
        world["system"].cancel("goods_receipt", first["id"], version=manager.get("goods_receipt", first["id"])["version"])
    assert back["doc_no"] in refused.value.message
    cancelled = keeper.get("purchase_return", back["id"])
    world["system"].cancel("purchase_return", back["id"], version=cancelled["version"])
    assert manager.get("goods_receipt", first["id"])["lines"][0]["returned_qty"] == D("0.000")
    assert stock_of(food, shrimp, frozen)["on_hand"] == D("200")
    assert stock_of(food, shrimp, frozen)["value"] == D("15600.00")
    assert_books_consistent(food)


@pytest.mark.both_dbs
def test_returns_are_only_made_from_their_original(food, world):
    keeper = world["keeper"]
    with pytest.raises(ValidationFailed) as caught:
        keeper.create("purchase_return", {"supplier": world["supplier"], "warehouse": world["frozen"],
                                          "lines": [{"item": world["shrimp"], "qty": "5", "batch_no": "X"}]})
    assert problems(caught.value) == {"receipt_no": "is required"}
    with pytest.raises(ValidationFailed) as caught:
        keeper.create("sales_return", {"customer": world["customer"], "warehouse": world["frozen"],
                                       "shipment_no": "XC-202611-0001",
                                       "lines": [{"item": world["dumplings"], "qty": "5", "batch_no": "X"}]})
    assert problems(caught.value) == {"shipment_no": "is read-only"}


@pytest.mark.both_dbs
def test_a_sales_return_takes_back_at_most_what_was_shipped_less_what_came_back(food, world):
    keeper, sales = world["keeper"], world["sales"]
    dumplings, frozen, returns = world["dumplings"], world["frozen"], world["returns"]
    order, shipment = ship_forty_dumplings(world)
    assert stock_of(food, dumplings, frozen)["on_hand"] == D("60")

    # five boxes thawed on the way: they come back into the store they left, at what they cost there
    back = sales.make_from("sales_return", "sales_shipment", shipment["id"], {"reason": "damaged",
                                                                                "lines": [{"qty": "5"}]})
    assert (back["shipment_no"], back["so_no"], back["customer"], back["warehouse"]) \
        == (shipment["doc_no"], order["doc_no"], world["customer"], frozen)
    assert [(line["qty"], line["batch_no"]) for line in back["lines"]] == [(D("5.000"), "DP261111")]
    back = keeper.submit("sales_return", back["id"], version=back["version"])
    assert back["doc_no"].startswith("XT-202611-")
    assert keeper.get("sales_shipment", shipment["id"])["lines"][0]["returned_qty"] == D("5.000")
    assert stock_of(food, dumplings, frozen, "DP261111") == {"on_hand": D("65"), "reserved": D("0"),
                                                             "available": D("65"), "value": D("10725.00")}
    assert ledger_costs(food, "sales_return", back["id"]) == [(D("5"), D("165.00"), D("825.00"))]
    assert_books_consistent(food)

    # the rest goes into the returns store for inspection
    more = sales.make_from("sales_return", "sales_shipment", shipment["id"], {"warehouse": returns,
                                                                                "lines": [{"qty": "36"}]})
    with pytest.raises(ValidationFailed) as caught:  # 40 shipped, 5 already back
        keeper.submit("sales_return", more["id"], version=more["version"])
    assert problems(caught.value) == {"lines[0].qty": "this would make line 1 of sales_shipment 41 of 40"}
    more = sales.update("sales_return", more["id"], {"lines": [{"id": more["lines"][0]["id"], "qty": "35"}]},
                        version=more["version"])
    keeper.submit("sales_return", more["id"], version=more["version"])
    with pytest.raises(LifecycleError) as refused:
        sales.make_from("sales_return", "sales_shipment", shipment["id"])
    assert "nothing left" in refused.value.message
    assert (stock_of(food, dumplings, returns)["on_hand"], stock_of(food, dumplings, frozen)["on_hand"]) \
        == (D("35"), D("65"))
    assert_books_consistent(food)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(received=st.integers(min_value=1, max_value=12), attempts=st.lists(st.integers(min_value=1, max_value=8),
                                                                           min_size=1, max_size=5))
def test_returns_never_take_back_more_than_came_in(food, world, received, attempts):
    """Whatever the keeper tries to send back, in whatever portions, a receipt's returns add up to at most what it
    received, every refused one would have gone over, and the stock moves by exactly what was accepted."""
    keeper, shrimp, frozen = world["keeper"], world["shrimp"], world["frozen"]
    before = stock_of(food, shrimp, frozen)["on_hand"]
    receipt = world["system"].create("goods_receipt", {"warehouse": frozen, "supplier": world["supplier"], "lines": [
        {"item": shrimp, "qty": str(received), "unit_cost": "78.00", "batch_no": f"P{next(_batches)}",
         "production_date": dt.date(2026, 11, 1)}]}, submit=True)
    accepted = 0
    for qty in attempts:
        if accepted == received:  # nothing left: a return cannot even be made
            with pytest.raises(LifecycleError):
                keeper.make_from("purchase_return", "goods_receipt", receipt["id"])
            continue
        back = keeper.make_from("purchase_return", "goods_receipt", receipt["id"], {"lines": [{"qty": str(qty)}]})
        if accepted + qty <= received:
            keeper.submit("purchase_return", back["id"], version=back["version"])
            accepted += qty
        else:
            with pytest.raises(ValidationFailed):
                keeper.submit("purchase_return", back["id"], version=back["version"])  # stays a draft
    assert keeper.get("goods_receipt", receipt["id"])["lines"][0]["returned_qty"] == accepted
    assert stock_of(food, shrimp, frozen)["on_hand"] == before + received - accepted


@pytest.mark.both_dbs
def test_a_purchase_return_leaves_at_its_receipts_cost_not_the_average(food, world):
    """Shrimp bought at 78.00 and at 90.00 averages 84.00; sending back 30 kg of the 78.00 receipt takes
    30 × 78.00 = 2,340.00 off the books (not 30 × 84.00 = 2,520.00): 7,800 + 9,000 − 2,340 = 14,460.00."""
    shrimp, frozen = world["shrimp"], world["frozen"]
    cheap = receive(world, approved_order(world, "100"), "100", "GL261010", dt.date(2026, 10, 10))
    receive(world, approved_order(world, "100", price="90.00"), "100", "GL261028", dt.date(2026, 10, 28))
    assert stock_of(food, shrimp, frozen)["value"] == D("16800.00")
    back = send_back(world, "purchase_return", "goods_receipt", cheap["id"], "30")
    assert ledger_costs(food, "purchase_return", back["id"]) == [(D("-30"), D("78.00"), D("-2340.00"))]
    assert stock_of(food, shrimp, frozen)["value"] == D("14460.00")
    assert_books_consistent(food)


@pytest.mark.both_dbs
def test_a_sales_return_comes_back_at_what_its_shipment_cost_not_todays_average(food, world):
    """40 boxes shipped at 165.00; then 100 more arrive at 185.00 (average (60 × 165 + 100 × 185) / 160 = 177.50).
    5 boxes returned from that shipment come back at 165.00: 825.00, not 887.50."""
    system, dumplings, frozen = world["system"], world["dumplings"], world["frozen"]
    _, shipment = ship_forty_dumplings(world)
    system.create("goods_receipt", {"warehouse": frozen, "lines": [
        {"item": dumplings, "qty": "100", "unit_cost": "185.00", "batch_no": "DP261120",
         "production_date": dt.date(2026, 11, 20)}]}, submit=True)
    assert stock_of(food, dumplings, frozen)["value"] == D("28400.00")
    back = send_back(world, "sales_return", "sales_shipment", shipment["id"], "5", maker="sales")
    assert ledger_costs(food, "sales_return", back["id"]) == [(D("5"), D("165.00"), D("825.00"))]
    assert stock_of(food, dumplings, frozen)["value"] == D("29225.00")
    assert_books_consistent(food)


@pytest.mark.both_dbs
def test_a_purchase_return_keeps_its_receipts_cost_when_a_backdated_receipt_revalues_what_came_after(food, world):
    """100 kg at 78.00 (Nov 10) and 100 at 90.00 (Nov 20); 30 go back from the first at 78.00 (Nov 25). A receipt of
    100 at 60.00 entered afterwards for Nov 15 revalues the later issues, but the return still left at 78.00
    (at the new average it would be 30 × 76.00 = 2,280.00): 7,800 + 6,000 + 9,000 − 2,340 = 20,460.00."""
    system, shrimp, frozen = world["system"], world["shrimp"], world["frozen"]

    def receipt(day, cost, batch):
        return system.create("goods_receipt", {
            "warehouse": frozen, "supplier": world["supplier"], "receipt_date": day, "lines": [
                {"item": shrimp, "qty": "100", "unit_cost": cost, "batch_no": batch,
                 "production_date": dt.date(2026, 11, 1)}]}, submit=True)

    first = receipt(dt.date(2026, 11, 10), "78.00", "B1110")
    receipt(dt.date(2026, 11, 20), "90.00", "B1120")
    back = send_back(world, "purchase_return", "goods_receipt", first["id"], "30")
    receipt(dt.date(2026, 11, 15), "60.00", "B1115")
    assert ledger_costs(food, "purchase_return", back["id"]) == [(D("-30"), D("78.00"), D("-2340.00"))]
    assert stock_of(food, shrimp, frozen)["value"] == D("20460.00")
    assert_books_consistent(food)
