"""As-of-date balances: what was in stock at the end of any day, the same with or without closed months."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.db import create_engine
from engine.stock.asof import balances_as_of
from engine.stock.periods import close_period
from tests.stock_services_helpers import TODAY, FoodWorld, batch_id, build_food_world, trade_september_october

D = dt.date


@pytest.fixture
def traded(db_engine) -> FoodWorld:
    world = build_food_world(db_engine)
    trade_september_october(world)
    return world


def _as_of(world: FoodWorld, day: dt.date, **options) -> list[tuple]:
    with world.records.engine.connect() as connection:
        return [(b.item, b.warehouse, b.batch_key, b.qty, b.value)
                for b in balances_as_of(connection, world.records.schema.stock, day, **options)]


@pytest.mark.both_dbs
def test_the_balance_at_the_end_of_a_day_counts_that_whole_day(traded: FoodWorld) -> None:
    flour, sugar, a, b = traded.items["FLOUR"], traded.items["SUGAR"], traded.warehouses["A"], traded.warehouses["B"]
    f1, f2, s1 = (batch_id(traded, "FLOUR", "F1"), batch_id(traded, "FLOUR", "F2"), batch_id(traded, "SUGAR", "S1"))
    assert _as_of(traded, D(2026, 9, 9)) == []
    assert _as_of(traded, D(2026, 9, 10)) == [(flour, a, f1, Decimal(100), Decimal("400.00"))]
    assert _as_of(traded, D(2026, 10, 6)) == [
        (flour, a, f1, Decimal(70), Decimal("270.00")),
        (flour, a, f2, Decimal(30), Decimal("163.33")),
        (flour, b, f2, Decimal(20), Decimal("86.67")),
        (sugar, a, s1, Decimal(10), Decimal("30.00")),
    ]
    assert _as_of(traded, D(2026, 10, 7), item=sugar) == [(sugar, a, s1, Decimal(6), Decimal("18.00"))]
    assert _as_of(traded, D(2026, 10, 8), item=sugar) == [(sugar, a, s1, Decimal(10), Decimal("30.00"))]
    assert _as_of(traded, D(2026, 10, 31), item=flour, by_batch=False) == [
        (flour, a, 0, Decimal(80), Decimal("346.66")), (flour, b, 0, Decimal(20), Decimal("86.67"))]
    assert _as_of(traded, D(2026, 10, 31), warehouse=b) == [(flour, b, f2, Decimal(20), Decimal("86.67"))]


@pytest.mark.both_dbs
def test_closed_months_change_no_answer_only_where_the_sums_start(traded: FoodWorld) -> None:
    days = [D(2026, 9, 1) + dt.timedelta(days=n) for n in range((TODAY - D(2026, 9, 1)).days + 1)]
    before = {day: _as_of(traded, day) for day in days}
    per_item = {day: _as_of(traded, day, item=traded.items["FLOUR"], by_batch=False) for day in days}
    now = dt.datetime.combine(TODAY, dt.time(9))
    with traded.records.engine.begin() as connection:
        close_period(connection, traded.records.schema.stock, D(2026, 9, 30), today=TODAY, now=now)
        close_period(connection, traded.records.schema.stock, D(2026, 10, 31), today=TODAY, now=now)
    assert {day: _as_of(traded, day) for day in days} == before
    assert {day: _as_of(traded, day, item=traded.items["FLOUR"], by_batch=False) for day in days} == per_item
    traded.ship("C1", "FLOUR", 5, on=D(2026, 11, 3), batch="F1")  # after the closings, from the stored balances on
    assert _as_of(traded, D(2026, 11, 3), item=traded.items["FLOUR"], warehouse=traded.warehouses["A"],
                  by_batch=False) == [(traded.items["FLOUR"], traded.warehouses["A"], 0, Decimal(75), Decimal("324.99"))]


@st.composite
def _trading(draw) -> list[tuple[int, str, int]]:
    """Days (from 1 September) with a receipt or a shipment of FLOUR; shipments never take more than is there."""
    moves, stock = [], 0
    for day in sorted(draw(st.lists(st.integers(0, 75), min_size=1, max_size=8))):
        if stock and draw(st.booleans()):
            qty = draw(st.integers(1, stock))
            moves.append((day, "ship", qty))
            stock -= qty
        else:
            qty = draw(st.integers(1, 20))
            moves.append((day, "receive", qty))
            stock += qty
    return moves


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moves=_trading(), close_october=st.booleans())
def test_as_of_any_day_is_what_was_received_less_what_was_shipped_by_then(moves, close_october: bool) -> None:
    start = D(2026, 9, 1)
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/asof.sqlite")
        try:
            world = build_food_world(engine)
            for number, (day, kind, qty) in enumerate(moves):
                on = start + dt.timedelta(days=day)
                if kind == "receive":
                    world.receive("FLOUR", qty, "2.00", batch=f"B{number}", on=on)
                else:
                    world.ship("C1", "FLOUR", qty, on=on)
            now = dt.datetime.combine(TODAY, dt.time(9))
            with engine.begin() as connection:
                close_period(connection, world.records.schema.stock, D(2026, 9, 30), today=TODAY, now=now)
                if close_october:
                    close_period(connection, world.records.schema.stock, D(2026, 10, 31), today=TODAY, now=now)
            for offset in range(0, 80, 3):
                day = start + dt.timedelta(days=offset)
                expected = sum(qty if kind == "receive" else -qty for d, kind, qty in moves if d <= offset)
                found = sum((row[3] for row in _as_of(world, day, by_batch=False)), Decimal(0))
                assert found == expected, (day, moves)
        finally:
            engine.dispose()


COVERING = ["item", "warehouse", "posted_at", "id", "batch", "qty", "value_change"]


def _ledger_indexes(engine) -> dict[str, list[str]]:
    from sqlalchemy import inspect

    return {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("jxc_stock_ledger")}


@pytest.mark.both_dbs
def test_a_database_made_before_the_covering_ledger_index_gets_it_when_migrated(traded: FoodWorld) -> None:
    """As-of balances sum qty and value per item × warehouse in time order from the index alone; a database
    that still has the narrow (item, warehouse, posted_at, id) index is brought up to the covering one."""
    from engine.migrate import migrate

    engine = traded.records.engine
    assert COVERING in _ledger_indexes(engine).values()
    covering = [name for name, columns in _ledger_indexes(engine).items() if columns == COVERING]
    with engine.begin() as connection:  # what a database made before looked like
        for name in covering:
            connection.exec_driver_sql(f"DROP INDEX {name}")
        connection.exec_driver_sql("CREATE INDEX ix_jxc_stock_ledger_item_time ON jxc_stock_ledger "
                                   "(item, warehouse, posted_at, id)")
    migrate(traded.records.app, engine)
    indexes = _ledger_indexes(engine)
    assert COVERING in indexes.values()
    # the narrow index is gone; the issues' partial index has the same columns
    assert "ix_jxc_stock_ledger_item_time" not in indexes
    assert indexes["ix_jxc_stock_ledger_issues"] == ["item", "warehouse", "posted_at", "id"]
    assert _as_of(traded, D(2026, 9, 10)) == [(traded.items["FLOUR"], traded.warehouses["A"],
                                               batch_id(traded, "FLOUR", "F1"), Decimal(100), Decimal("400.00"))]
