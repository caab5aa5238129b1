"""Reservations: an order holds stock on submit (refused beyond what is available), a delivery made from it
takes the held quantity over, cancelling gives it back; STOCK(), AVAILABLE() and RESERVED() in formulas."""

from __future__ import annotations

import pytest

from engine.context import EngineContext
from engine.errors import ValidationFailed
from engine.stock.functions import available, reserved
from engine.stock.functions import stock as stock_on_hand
from engine.stock.refusals import NotEnoughStock
from tests.service_helpers import problems
from tests.stock_helpers import D

pytest_plugins = ["tests.service_fixtures", "tests.stock_helpers"]
pytestmark = pytest.mark.both_dbs


def world(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"))
    return bolt, main


def test_an_order_reserves_and_others_cannot_issue_what_it_holds(stock):
    bolt, main = world(stock)
    stock.order(main, (bolt, 7))
    assert stock.reserved(bolt, main) == D(7) and stock.on_hand(bolt, main) == D(10)
    with pytest.raises(NotEnoughStock) as refused:
        stock.issue(main, (bolt, 4))
    assert "可用 3（另有 7 已预留），需要 4" in str(refused.value)
    stock.issue(main, (bolt, 3))
    assert stock.on_hand(bolt, main) == D(7)


def test_reserving_more_than_is_available_is_refused(stock):
    bolt, main = world(stock)
    stock.order(main, (bolt, 6))
    with pytest.raises(NotEnoughStock) as refused:
        stock.order(main, (bolt, 5))
    assert "lines[0].qty" in str(refused.value) and "可用 4（另有 6 已预留），需要 5" in str(refused.value)
    assert stock.reserved(bolt, main) == D(6)


def test_a_delivery_made_from_the_order_takes_its_reservation_over(stock):
    bolt, main = world(stock)
    order = stock.order(main, (bolt, 10))  # everything is reserved for this order
    stock.deliver_from(order, {bolt: 4})
    assert (stock.on_hand(bolt, main), stock.reserved(bolt, main)) == (D(6), D(6))
    delivery = stock.deliver_from(order)
    assert (stock.on_hand(bolt, main), stock.reserved(bolt, main)) == (D(0), D(0))
    stock.cancel("delivery", delivery)  # the order holds its stock again
    assert (stock.on_hand(bolt, main), stock.reserved(bolt, main)) == (D(6), D(6))


def test_cancelling_the_order_releases_what_it_still_holds(stock):
    bolt, main = world(stock)
    order = stock.order(main, (bolt, 8))
    stock.cancel("customer_order", order)
    assert stock.reserved(bolt, main) == 0
    stock.issue(main, (bolt, 10))


def test_stock_functions_read_the_live_balances(stock):
    bolt, main = world(stock)
    other = stock.warehouse("WH2")
    stock.receive(other, (bolt, 5, "1.00"))
    stock.order(main, (bolt, 3))
    records = stock.records
    with records.engine.connect() as connection:
        context = EngineContext(connection, records.schema.table, records.clock, stock.session.user)
        assert stock_on_hand(context, bolt) == D(15) and stock_on_hand(context, bolt, main) == D(10)
        assert reserved(context, bolt, main) == D(3) and reserved(context, bolt, other) == 0
        assert available(context, bolt, main) == D(7) and available(context, bolt) == D(12)


def test_app_formulas_use_the_stock_functions_in_validations_and_computed_fields(stock):
    bolt, main = world(stock)
    stock.order(main, (bolt, 4))
    with pytest.raises(ValidationFailed) as refused:
        stock.order(main, (bolt, 11))
    assert problems(refused.value) == {"lines[0].qty": "订单数量超过现有库存"}
    draft = stock.session.create("customer_order", {"customer": stock.customer(), "warehouse": main,
                                                    "lines": [{"item": bolt, "qty": "1"}]})
    assert draft["lines"][0]["free"] == D(6)


def test_an_alert_over_items_uses_available_stock_in_sql_on_postgresql(stock):
    from engine.alerts import engine_for

    bolt, main = world(stock)
    nut = stock.item("N1", safety_stock="5")
    stock.session.update("item", bolt, {"safety_stock": "5"}, version=stock.session.get("item", bolt)["version"])
    stock.receive(main, (nut, 20, "1"))
    stock.order(main, (bolt, 6))  # bolt: 10 on hand, 4 available
    with stock.records.engine.begin() as connection:
        result = engine_for(stock.records).evaluate("low_total", connection)
    assert result.fired == 1
    assert result.in_python is (connection.dialect.name == "sqlite")  # PostgreSQL: one set-wise query
