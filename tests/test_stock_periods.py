"""Closing stock periods: the balances frozen at a month's end, postings dated in a closed month refused, and the
refusals a user meets when closing."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy
from sqlalchemy import func, select

from dsl.loader import load_app
from engine.context import Clock
from engine.db import create_engine, prepare_database
from engine.errors import ServiceError
from engine.migrate import migrate
from engine.records import Records
from engine.stock.periods import PeriodClosed, PeriodRefused, close_period, closed_until, ensure_open
from tests.conftest import PG_URL
from tests.migrated import migrate_new
from tests.service_helpers import APPS
from tests.stock_services_helpers import TODAY, FoodWorld, build_food_world, trade_september_october

NOW = dt.datetime(2026, 11, 20, 9, 0)


@functools.cache
def _food():
    return load_app(APPS / "food")


@pytest.fixture
def food(db_engine) -> Records:
    records = Records(_food(), db_engine, clock=Clock(fixed=NOW))
    migrate_new(records.app, db_engine)  # SQLite: a copy of apps/food migrated once
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


# --- with postings -------------------------------------------------------------------------------------------


@pytest.fixture
def traded(db_engine) -> FoodWorld:
    world = build_food_world(db_engine)
    trade_september_october(world)
    return world


def _close_world(world: FoodWorld, until: dt.date):
    with world.records.engine.begin() as connection:
        return close_period(connection, world.records.schema.stock, until, today=TODAY,
                            now=dt.datetime.combine(TODAY, dt.time(9)))


def _frozen(world: FoodWorld, closing) -> dict[tuple[str, str, str | None], tuple[Decimal, Decimal, Decimal]]:
    stock = world.records.schema.stock
    frozen, batch = stock["period_balance"], stock["batch"]
    items = {v: k for k, v in world.items.items()}
    places = {v: k for k, v in world.warehouses.items()}
    with world.records.engine.connect() as connection:
        rows = connection.execute(select(frozen, batch.c.batch_no).outerjoin(batch, batch.c.id == frozen.c.batch_key)
                                  .where(frozen.c.period == closing.id)).mappings().all()
    return {(items[r["item"]], places[r["warehouse"]], r["batch_no"]): (r["qty"], r["value"], r["rate"]) for r in rows}


@pytest.mark.both_dbs
def test_closing_stores_each_batchs_balance_with_the_moving_average_rate(traded: FoodWorld) -> None:
    september = _close_world(traded, dt.date(2026, 9, 30))
    assert _frozen(traded, september) == {
        ("FLOUR", "A", "F1"): (Decimal(100), Decimal("400.00"), Decimal("4.333333")),  # 650.00 / 150
        ("FLOUR", "A", "F2"): (Decimal(50), Decimal("250.00"), Decimal("4.333333")),
        ("SUGAR", "A", "S1"): (Decimal(10), Decimal("30.00"), Decimal("3.000000")),
    }
    october = _close_world(traded, dt.date(2026, 10, 31))  # September's balances plus October's entries
    assert _frozen(traded, october) == {
        ("FLOUR", "A", "F1"): (Decimal(50), Decimal("183.33"), Decimal("4.333250")),  # 346.66 / 80
        ("FLOUR", "A", "F2"): (Decimal(30), Decimal("163.33"), Decimal("4.333250")),
        ("FLOUR", "B", "F2"): (Decimal(20), Decimal("86.67"), Decimal("4.333500")),
        ("SUGAR", "A", "S1"): (Decimal(10), Decimal("30.00"), Decimal("3.000000")),
    }
    assert october.rows == 4
    assert traded.verified().consistent


@pytest.mark.both_dbs
def test_an_item_sold_out_keeps_one_row_with_its_last_rate(traded: FoodWorld) -> None:
    _close_world(traded, dt.date(2026, 9, 30))
    traded.ship("C1", "SUGAR", 10, on=dt.date(2026, 10, 20), batch="S1")
    october = _close_world(traded, dt.date(2026, 10, 31))
    assert _frozen(traded, october)[("SUGAR", "A", "S1")] == (Decimal(0), Decimal("0.00"), Decimal("3.000000"))


@pytest.mark.both_dbs
def test_a_document_dated_in_a_closed_month_is_refused_and_nothing_is_written(traded: FoodWorld) -> None:
    _close_world(traded, dt.date(2026, 10, 31))
    ledger = traded.records.schema.stock["ledger"]
    with traded.records.engine.connect() as connection:
        entries = connection.execute(select(func.count()).select_from(ledger)).scalar()
    with pytest.raises(ServiceError) as refused:
        traded.ship("C1", "FLOUR", 5, on=dt.date(2026, 10, 30), batch="F1")
    assert "库存已结账至 2026-10-31，不能记入 2026-10-30 的库存变动" in refused.value.message
    shipments = traded.records.schema.tables["sales_shipment"]
    with traded.records.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ledger)).scalar() == entries
        assert connection.execute(select(func.count()).select_from(shipments)).scalar() == 3  # the refused one is not
    traded.ship("C1", "FLOUR", 5, on=dt.date(2026, 11, 1), batch="F1")  # the next month is open
    assert traded.verified().consistent


@pytest.fixture
def pg_food() -> Iterator[Records]:
    """apps/food on a fresh PostgreSQL schema: the locking between closings and postings is PostgreSQL's (on
    SQLite one writer runs at a time, BEGIN IMMEDIATE, so nothing is ever in flight)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(engine)
        records = Records(_food(), engine, clock=Clock(fixed=NOW))
        migrate(records.app, engine)
        yield records
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def test_a_closing_waits_for_postings_in_flight_and_later_postings_see_it(pg_food: Records) -> None:
    stock, engine = pg_food.schema.stock, pg_food.engine
    failures: list[BaseException] = []

    def close_october() -> None:
        try:
            _close(pg_food, dt.date(2026, 10, 31))
        except BaseException as error:  # reported below: a thread's exception would otherwise be lost
            failures.append(error)

    closing = threading.Thread(target=close_october)
    with engine.connect() as posting:
        transaction = posting.begin()
        try:
            ensure_open(posting, stock, dt.date(2026, 10, 20))  # a posting dated in October, not yet committed
            closing.start()
            closing.join(timeout=1.0)
            waited = closing.is_alive()
        finally:
            transaction.commit()
    closing.join(timeout=10)
    assert waited, "the closing did not wait for the posting in flight"
    assert not closing.is_alive() and not failures
    with engine.begin() as connection:
        assert closed_until(connection, stock) == dt.date(2026, 10, 31)
        with pytest.raises(PeriodClosed):
            ensure_open(connection, stock, dt.date(2026, 10, 20))
