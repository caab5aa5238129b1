"""Backdated postings: valued at the stock's state on their own date, the later issues of that item ×
warehouse revalued in the same transaction; closed periods refuse them and give the starting state; FIFO
items refuse them."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.stock.periods import PeriodClosed, close_period
from engine.stock.refusals import StockRefused
from tests.service_helpers import NOW
from tests.stock_helpers import D

pytest_plugins = ["tests.service_fixtures", "tests.stock_helpers"]
pytestmark = pytest.mark.both_dbs

TODAY = NOW.date()  # 2026-03-05


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def entries(stock, item, entity):
    return [row for row in stock.ledger(item) if row["source_entity"] == entity]


def test_a_backdated_receipt_revalues_the_later_issues(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-10))
    stock.issue(main, (bolt, 5), date=day(-5))
    assert entries(stock, bolt, "stock_issue")[0]["value_change"] == D("-5.00")
    stock.receive(main, (bolt, 10, "4.00"), date=day(-7))  # 10 @ 1 + 10 @ 4 before the issue: 2.50 each
    issue = entries(stock, bolt, "stock_issue")[0]
    assert (issue["unit_cost"], issue["value_change"]) == (D("2.5"), D("-12.50"))
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(15), D("37.50"))
    assert stock.ledger_sum(bolt, main) == (D(15), D("37.50"))


def test_a_backdated_issue_is_valued_at_the_rate_of_its_day_and_later_issues_follow(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-10))
    stock.receive(main, (bolt, 10, "3.00"), date=day(-2))
    stock.issue(main, (bolt, 6), date=day(-1))  # at 2.00
    stock.issue(main, (bolt, 4), date=day(-5))  # backdated: at 1.00; the later issue is now 6 @ (36 / 16)
    early, late = sorted(entries(stock, bolt, "stock_issue"), key=lambda row: row["posted_at"])
    assert early["value_change"] == D("-4.00")
    assert (late["unit_cost"], late["value_change"]) == (D("2.25"), D("-13.50"))
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(10), D("22.50"))
    assert stock.ledger_sum(bolt, main) == (D(10), D("22.50"))


def test_only_the_backdated_item_and_warehouse_are_revalued(stock):
    bolt, nut, main, branch = stock.item("B1"), stock.item("N1"), stock.warehouse("WH1"), stock.warehouse("WH2")
    for item in (bolt, nut):
        for house in (main, branch):
            stock.receive(house, (item, 10, "1.00"), date=day(-10))
            stock.issue(house, (item, 5), date=day(-5))
    before = {row["id"]: row["value_change"] for row in stock.ledger()}
    stock.receive(main, (bolt, 10, "4.00"), date=day(-7))
    changed = {row["id"] for row in stock.ledger() if row["id"] in before and before[row["id"]] != row["value_change"]}
    assert changed == {row["id"] for row in entries(stock, bolt, "stock_issue") if row["warehouse"] == main}


def test_a_posting_dated_in_a_closed_period_is_refused(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=dt.date(2026, 1, 10))
    with stock.records.engine.begin() as connection:
        close_period(connection, stock.tables, dt.date(2026, 1, 31), today=TODAY, now=NOW)
    with pytest.raises(PeriodClosed) as refused:
        stock.receive(main, (bolt, 1, "1.00"), date=dt.date(2026, 1, 31))
    assert "2026-01-31" in str(refused.value)
    assert stock.on_hand(bolt, main) == D(10)


def test_backdating_after_a_closed_period_starts_from_its_frozen_balance(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=dt.date(2026, 1, 10))
    with stock.records.engine.begin() as connection:
        close_period(connection, stock.tables, dt.date(2026, 1, 31), today=TODAY, now=NOW)
    stock.issue(main, (bolt, 5), date=dt.date(2026, 2, 20))
    stock.receive(main, (bolt, 10, "4.00"), date=dt.date(2026, 2, 10))
    issue = entries(stock, bolt, "stock_issue")[0]
    assert issue["value_change"] == D("-12.50")
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(15), D("37.50"))


def test_fifo_items_refuse_a_movement_dated_before_later_ones(stock):
    bolt, main = stock.item("B1", valuation="fifo"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-2))
    with pytest.raises(StockRefused) as refused:
        stock.receive(main, (bolt, 10, "1.00"), date=day(-5))
    assert "先进先出" in str(refused.value)
    assert stock.on_hand(bolt, main) == D(10)


def test_cancelling_a_revalued_issue_reverses_its_new_value(stock):
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-10))
    issue = stock.issue(main, (bolt, 5), date=day(-5))
    stock.receive(main, (bolt, 10, "4.00"), date=day(-7))
    stock.cancel("stock_issue", issue)
    original, reversal = entries(stock, bolt, "stock_issue")
    assert (reversal["reverses"], reversal["value_change"]) == (original["id"], D("12.50"))
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(20), D("50.00"))


def test_a_backdated_issue_before_the_stock_came_in_is_refused(stock):
    from engine.stock.refusals import NotEnoughStock

    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-2))
    with pytest.raises(NotEnoughStock) as refused:  # 10 today, none on day -5
        stock.issue(main, (bolt, 4), date=day(-5))
    assert "库存不足：可用 0，需要 4" in str(refused.value)
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(10), D("10.00"))
    assert entries(stock, bolt, "stock_issue") == []


def test_a_backdated_issue_may_not_take_what_a_later_issue_needed(stock):
    from engine.stock.refusals import NotEnoughStock

    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-10))
    stock.issue(main, (bolt, 8), date=day(-2))
    stock.receive(main, (bolt, 20, "1.00"), date=day(-1))
    # 10 on day -5 and 22 today, but the issue of day -2 needs 8 of the 10: only 2 could have left on day -5
    with pytest.raises(NotEnoughStock) as refused:
        stock.issue(main, (bolt, 3), date=day(-5))
    assert "库存不足：可用 2，需要 3" in str(refused.value)
    stock.issue(main, (bolt, 2), date=day(-5))
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(20), D("20.00"))
    assert stock.ledger_sum(bolt, main) == (D(20), D("20.00"))


def test_a_backdated_issue_may_go_negative_where_negative_stock_is_allowed(make_stock):
    stock = make_stock(negative=True)
    bolt, main = stock.item("B1"), stock.warehouse("WH1")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-2))
    stock.issue(main, (bolt, 4), date=day(-5))
    assert stock.on_hand(bolt, main) == D(6)


def test_a_backdated_posting_before_a_later_transfer_out_is_refused_until_the_transfer_is_cancelled(stock):
    """Revaluing the transfer's out-leg would leave its in-leg in the other warehouse at the old cost (books that no
    longer agree): the backdated receipt is refused with the transfer named; once it is cancelled, it goes in."""
    bolt, main, branch = stock.item("B1"), stock.warehouse("WH1"), stock.warehouse("WH2")
    stock.receive(main, (bolt, 10, "1.00"), date=day(-10))
    transfer = stock.transfer(main, branch, (bolt, 4), date=day(-3))
    with pytest.raises(StockRefused) as refused:
        stock.receive(main, (bolt, 10, "3.00"), date=day(-5))
    assert f"已由调拨单 {transfer['doc_no']} 调出仓库" in str(refused.value)
    assert (stock.value(bolt, main), stock.value(bolt, branch)) == (D("6.00"), D("4.00"))
    stock.receive(branch, (bolt, 1, "2.00"), date=day(-5))  # the warehouse it went to has no later transfer out
    stock.cancel("stock_transfer", transfer)
    stock.receive(main, (bolt, 10, "3.00"), date=day(-5))
    assert (stock.on_hand(bolt, main), stock.value(bolt, main)) == (D(20), D("40.00"))
    assert (stock.on_hand(bolt, branch), stock.value(bolt, branch)) == (D(1), D("2.00"))
    assert stock.ledger_sum(bolt, main) == (D(20), D("40.00"))
