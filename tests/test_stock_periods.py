"""Closing stock periods: the refusals a user meets, and postings dated in a closed period refused."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from sqlalchemy import func, select

from dsl.loader import load_app
from engine.context import Clock
from engine.migrate import migrate
from engine.records import Records
from engine.stock.periods import PeriodClosed, PeriodRefused, close_period, closed_until, ensure_open
from tests.service_helpers import APPS

NOW = dt.datetime(2026, 11, 20, 9, 0)


@functools.cache
def _food():
    return load_app(APPS / "food")


@pytest.fixture
def food(db_engine) -> Records:
    records = Records(_food(), db_engine, clock=Clock(fixed=NOW))
    migrate(records.app, db_engine)
    return records


def _close(records: Records, until: dt.date):
    with records.engine.begin() as connection:
        return close_period(connection, records.schema.stock, until, today=NOW.date(), now=NOW)


@pytest.mark.both_dbs
def test_a_closed_month_refuses_movements_dated_in_it_and_accepts_the_next_day(food: Records) -> None:
    closing = _close(food, dt.date(2026, 10, 31))
    assert closing.closed_until == dt.date(2026, 10, 31)
    with food.engine.begin() as connection:
        assert closed_until(connection, food.schema.stock) == dt.date(2026, 10, 31)
        with pytest.raises(PeriodClosed) as refused:
            ensure_open(connection, food.schema.stock, dt.datetime(2026, 10, 31, 23, 59))
        assert "库存已结账至 2026-10-31" in refused.value.message
        assert "use 2026-11-01 or later" in refused.value.message
        with pytest.raises(PeriodClosed):
            ensure_open(connection, food.schema.stock, dt.date(2025, 1, 1))
        ensure_open(connection, food.schema.stock, dt.datetime(2026, 11, 1, 0, 0))  # the day after is open


@pytest.mark.both_dbs
def test_nothing_closed_means_every_date_is_open(food: Records) -> None:
    with food.engine.begin() as connection:
        assert closed_until(connection, food.schema.stock) is None
        ensure_open(connection, food.schema.stock, dt.date(2001, 1, 1))


@pytest.mark.both_dbs
def test_reclosing_closing_backwards_a_month_not_over_or_not_a_month_end_is_refused(food: Records) -> None:
    _close(food, dt.date(2026, 9, 30))
    with pytest.raises(PeriodRefused, match="already closed until 2026-09-30"):
        _close(food, dt.date(2026, 9, 30))
    with pytest.raises(PeriodRefused, match="later than 2026-08-31; periods close in order"):
        _close(food, dt.date(2026, 8, 31))
    with pytest.raises(PeriodRefused, match=r"2026-10-15 is not \(that month ends 2026-10-31\)"):
        _close(food, dt.date(2026, 10, 15))
    with pytest.raises(PeriodRefused, match="the month of 2026-11-30 is not over yet"):
        _close(food, dt.date(2026, 11, 30))
    periods = food.schema.stock["period"]
    with food.engine.connect() as connection:  # the refusals wrote nothing
        assert connection.execute(select(func.count()).select_from(periods)).scalar() == 1
    assert _close(food, dt.date(2026, 10, 31)).closed_until == dt.date(2026, 10, 31)  # the next one is fine
