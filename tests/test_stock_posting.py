"""Posting on submit: ledger rows, balances, batches and values from the documents' stock effects; refusals
that name the item, the warehouse and the quantities; transfers; cancel writing exact reversals."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.stock.refusals import NotEnoughStock, StockRefused
from tests.service_helpers import NOW, problems
from tests.stock_helpers import D

pytest_plugins = ["tests.service_fixtures", "tests.stock_helpers"]
pytestmark = pytest.mark.both_dbs


def test_receipt_then_issue_moves_stock_and_values_it_at_moving_average(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "2.00"))
    stock.receive(main, (bolt, 10, "3.00"))
    assert stock.on_hand(bolt, main) == D(20) and stock.value(bolt, main) == D("50.00")
    issue = stock.issue(main, (bolt, 4))
    entry = stock.ledger(bolt)[-1]
    assert entry["qty"] == D(-4) and entry["unit_cost"] == D("2.5") and entry["value_change"] == D("-10.00")
    assert entry["source_entity"] == "stock_issue" and entry["doc_no"] == issue["doc_no"]
    assert stock.on_hand(bolt, main) == D(16) and stock.value(bolt, main) == D("40.00")
    assert stock.ledger_sum(bolt) == (D(16), D("40.00"))


def test_issuing_everything_takes_exactly_the_value_left(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 3, "1.00"))
    stock.receive(main, (bolt, 3, "1.01"))  # 6.03 / 6: the rate rounds, the last issue must not leave cents
    stock.issue(main, (bolt, 1))
    stock.issue(main, (bolt, 5))
    assert stock.on_hand(bolt, main) == 0 and stock.value(bolt, main) == 0


def test_not_enough_stock_is_refused_naming_item_warehouse_and_quantities(stock):
    bolt, main = stock.item("B1", name="螺栓"), stock.warehouse("WH1", "主仓")
    stock.receive(main, (bolt, 3, "1"))
    with pytest.raises(NotEnoughStock) as refused:
        stock.issue(main, (bolt, 2), (bolt, 2))
    assert problems(refused.value) == {"lines[1].qty": "物料 B1 螺栓 在仓库 WH1 主仓 库存不足：可用 1，需要 2"}
    assert stock.on_hand(bolt, main) == D(3) and len(stock.ledger(bolt)) == 1  # nothing of the issue written
    assert [row["docstatus"] for row in stock.session.list("stock_issue").rows] == ["draft"]


def test_refusal_speaks_english_in_an_english_app(make_stock):
    stock = make_stock(locale="en")
    bolt, main = stock.item("B1", name="Bolt"), stock.warehouse("WH1", "Main")
    with pytest.raises(NotEnoughStock) as refused:
        stock.issue(main, (bolt, 5))
    assert "not enough stock of B1 Bolt in WH1 Main: 0 available, 5 wanted" in str(refused.value)


def test_negative_stock_allowed_by_the_app_or_by_the_item(make_stock):
    stock = make_stock(negative=True)
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.issue(main, (bolt, 2))
    assert stock.on_hand(bolt, main) == D(-2)


def test_an_item_may_allow_negative_stock_when_the_app_does_not(stock):
    free, strict, main = stock.item("F1", allow_negative=True), stock.item("S1"), stock.warehouse("WH1")
    stock.issue(main, (free, 2))
    assert stock.on_hand(free, main) == D(-2)
    with pytest.raises(NotEnoughStock):
        stock.issue(main, (strict, 2))


def test_transfer_moves_stock_and_its_cost_between_warehouses(stock):
    bolt, main, branch = stock.item("B1"), stock.warehouse("WH1"), stock.warehouse("WH2")
    stock.receive(main, (bolt, 10, "2.00"))
    stock.receive(branch, (bolt, 10, "5.00"))
    stock.transfer(main, branch, (bolt, 4))
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(6), D("12.00"))
    assert (stock.on_hand(bolt, branch), stock.value(bolt, branch)) == (D(14), D("58.00"))
    out, into = stock.ledger(bolt)[-2:]
    assert (out["qty"], out["value_change"], into["qty"], into["value_change"]) == (D(-4), D("-8"), D(4), D(8))


def test_receipt_without_a_cost_comes_in_at_the_current_average(stock):
    bolt, main = stock.item("B1", purchase_price="0"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "4.00"))
    stock.adjust(main, (bolt, 2))
    assert stock.on_hand(bolt, main) == D(12) and stock.value(bolt, main) == D("48.00")


def test_cancel_writes_exact_reversals_and_restores_balances(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "2.00"))
    issue = stock.issue(main, (bolt, 3))
    stock.cancel("stock_issue", issue)
    original, reversal = stock.ledger(bolt)[-2:]
    assert reversal["reverses"] == original["id"]
    assert (reversal["qty"], reversal["value_change"]) == (-original["qty"], -original["value_change"])
    assert stock.on_hand(bolt, main) == D(10) and stock.value(bolt, main) == D("20.00")
    assert len(stock.ledger(bolt)) == 3  # nothing deleted


def test_cancelling_a_receipt_already_issued_is_refused(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    receipt = stock.receive(main, (bolt, 10, "2.00"))
    stock.issue(main, (bolt, 8))
    with pytest.raises(NotEnoughStock) as refused:
        stock.cancel("goods_receipt", receipt)
    assert "库存不足：可用 2，需要 10" in str(refused.value)
    assert stock.session.get("goods_receipt", receipt["id"])["docstatus"] == "submitted"
    assert stock.on_hand(bolt, main) == D(2)


def test_posting_date_comes_from_the_document(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 1, "1"), date=NOW.date() - dt.timedelta(days=3))
    stock.receive(main, (bolt, 1, "1"))
    first, second = stock.ledger(bolt)
    assert first["posted_at"] == dt.datetime.combine(NOW.date() - dt.timedelta(days=3), dt.time(23, 59, 59))
    assert second["posted_at"] == NOW


def test_fifo_items_issue_the_oldest_receipts_cost(stock):
    bolt, main = stock.item("B1", valuation="fifo"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 5, "1.00"))
    stock.receive(main, (bolt, 5, "3.00"))
    stock.issue(main, (bolt, 7))
    assert stock.ledger(bolt)[-1]["value_change"] == D("-11.00")  # 5 × 1 + 2 × 3
    assert stock.value(bolt, main) == D("9.00")
    issue = stock.issue(main, (bolt, 3))
    assert stock.ledger(bolt)[-1]["value_change"] == D("-9.00")
    stock.cancel("stock_issue", issue)
    stock.issue(main, (bolt, 3))
    assert stock.ledger(bolt)[-1]["value_change"] == D("-9.00")  # the returned layer is issued again


def test_whole_app_fifo_valuation(make_stock):
    stock = make_stock(valuation="fifo")
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 1, "1.00"), (bolt, 1, "5.00"))
    stock.issue(main, (bolt, 1))
    assert stock.value(bolt, main) == D("5.00")


def test_posting_fires_change_alerts_on_the_balances_it_moved(stock):
    bolt, main = stock.item("B1", safety_stock="5"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1"))

    def episodes():
        with stock.records.engine.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT COUNT(*) FROM jxc_alert_state WHERE alert = 'below_safety' AND active").scalar()

    assert episodes() == 0
    stock.issue(main, (bolt, 7))
    assert episodes() == 1
    stock.receive(main, (bolt, 10, "1"))
    assert episodes() == 0


def test_fifo_transfer_carries_the_layers_cost_and_cancel_restores_both_warehouses(stock):
    bolt, main, branch = stock.item("B1", valuation="fifo"), stock.warehouse("WH1"), stock.warehouse("WH2")
    stock.receive(main, (bolt, 2, "1.00"), (bolt, 2, "4.00"))
    transfer = stock.transfer(main, branch, (bolt, 3))
    assert (stock.value(bolt, main), stock.value(bolt, branch)) == (D("4.00"), D("6.00"))
    stock.cancel("stock_transfer", transfer)
    assert (stock.on_hand(bolt, main), stock.on_hand(bolt, branch)) == (D(4), D(0))
    assert (stock.value(bolt, main), stock.value(bolt, branch)) == (D("10.00"), D("0.00"))
    transfer = stock.transfer(main, branch, (bolt, 1))
    stock.issue(branch, (bolt, 1))
    assert stock.ledger(bolt)[-1]["value_change"] == D("-4.00")  # the branch's layer holds the carried cost
    with pytest.raises(NotEnoughStock):
        stock.cancel("stock_transfer", transfer)  # what it brought has left the branch


def test_quantities_beyond_what_the_ledger_holds_and_negative_costs_are_refused_by_line(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    with pytest.raises(StockRefused) as refused:
        stock.adjust(main, (bolt, "1000000000000"))
    assert list(problems(refused.value)) == ["lines[0].qty"]
    with pytest.raises(StockRefused) as refused:
        stock.receive(main, (bolt, "1", "-2"))
    assert problems(refused.value) == {"lines[0].unit_cost": "单位成本不能为负（-2）"}
    assert stock.ledger(bolt) == []
