"""`verify`: consistent books say so; every kind of damage is named with its place and both numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import update

from engine.stock.periods import close_period
from tests.stock_services_helpers import FoodWorld, build_food_world

D = dt.date


@pytest.fixture
def world(db_engine) -> FoodWorld:
    world = build_food_world(db_engine)
    world.receive("FLOUR", 100, "4.00", batch="F1", on=D(2026, 9, 10))
    world.receive("FLOUR", 50, "5.00", batch="F2", on=D(2026, 9, 20))
    world.receive("SUGAR", 10, "3.00", batch="S1", on=D(2026, 9, 21))
    world.ship("C1", "FLOUR", 30, on=D(2026, 10, 5), batch="F1")
    world.transfer("FLOUR", 20, on=D(2026, 10, 6), batch="F2")
    shipped = world.ship("C2", "SUGAR", 4, on=D(2026, 10, 7), batch="S1")
    world.cancel("sales_shipment", shipped, on=D(2026, 10, 8))
    return world


def _update(world: FoodWorld, table: str, values: dict, **where) -> None:
    stock = world.records.schema.stock[table]
    with world.records.engine.begin() as connection:
        condition = [stock.c[name] == value for name, value in where.items()]
        assert connection.execute(update(stock).where(*condition).values(**values)).rowcount == 1


def _batch_id(world: FoodWorld, item: str, batch_no: str) -> int:
    from sqlalchemy import select

    batch = world.records.schema.stock["batch"]
    with world.records.engine.connect() as connection:
        return connection.execute(select(batch.c.id).where(batch.c.batch_no == batch_no,
                                                           batch.c.item == world.items[item])).scalar_one()


@pytest.mark.both_dbs
def test_books_kept_by_postings_and_cancels_are_consistent(world: FoodWorld) -> None:
    result = world.verified()
    assert result.consistent, result.lines()
    assert result.checked["ledger_entries"] == 8  # 3 receipts, a shipment, a transfer (2), a shipment and its reversal
    assert result.checked["batches"] == 3
    assert result.lines()[0].startswith("库存账全部一致（已检查 ")


@pytest.mark.both_dbs
def test_a_balance_changed_behind_the_ledgers_back_is_named_with_both_numbers(world: FoodWorld) -> None:
    f1 = _batch_id(world, "FLOUR", "F1")
    _update(world, "balance", {"on_hand": Decimal(75), "available": Decimal(75)},
            item=world.items["FLOUR"], warehouse=world.warehouses["A"], batch_key=f1)
    result = world.verified()
    assert not result.consistent
    checks = {(p.check, p.item, p.warehouse, p.batch): (p.expected, p.found) for p in result.problems}
    assert checks[("balance_qty", world.items["FLOUR"], world.warehouses["A"], f1)] == (Decimal(70), Decimal(75))
    assert checks[("batch_on_hand", world.items["FLOUR"], None, f1)] == (Decimal(75), Decimal(70))  # batch says 70
    assert len(result.problems) == 2
    messages = "\n".join(result.lines())
    assert "发现 2 处不一致" in messages
    assert "物料 FLOUR 面粉, 仓库 A 仓库A, 批次 F1: 库存余额的数量 75 与台账合计 70 不符" in messages


@pytest.mark.both_dbs
def test_a_wrong_value_available_or_reserved_is_found(world: FoodWorld) -> None:
    s1 = _batch_id(world, "SUGAR", "S1")
    sugar, a = world.items["SUGAR"], world.warehouses["A"]
    _update(world, "balance", {"value": Decimal("31.00")}, item=sugar, warehouse=a, batch_key=s1)
    _update(world, "balance", {"reserved": Decimal(2), "available": Decimal(-2)}, item=sugar, warehouse=a, batch_key=0)
    found = {(p.check, p.expected, p.found) for p in world.verified().problems}
    assert found == {("balance_value", Decimal("30.00"), Decimal("31.00")),
                     ("reserved", Decimal(0), Decimal(2))}  # no reservation holds the 2 reserved
    _update(world, "balance", {"available": Decimal(5)}, item=sugar, warehouse=a, batch_key=s1)
    assert ("available", Decimal(10), Decimal(5)) in {(p.check, p.expected, p.found)
                                                       for p in world.verified().problems}


@pytest.mark.both_dbs
def test_negative_or_over_reserved_stock_is_refused_where_the_app_refuses_it(world: FoodWorld) -> None:
    sugar, a = world.items["SUGAR"], world.warehouses["A"]
    s1 = _batch_id(world, "SUGAR", "S1")
    _update(world, "balance", {"on_hand": Decimal(-1), "available": Decimal(-1)}, item=sugar, warehouse=a,
            batch_key=s1)
    negative = [p for p in world.verified().problems if p.check == "negative"]
    assert [(p.item, p.warehouse, p.found) for p in negative] == [(sugar, a, Decimal(-1))]
    assert "库存为负 -1，而该物料不允许负库存" in negative[0].message
    _update(world, "balance", {"on_hand": Decimal(10), "available": Decimal(10)}, item=sugar, warehouse=a,
            batch_key=s1)
    _update(world, "balance", {"reserved": Decimal(12), "available": Decimal(-12)}, item=sugar, warehouse=a,
            batch_key=0)
    over = [(p.expected, p.found) for p in world.verified().problems if p.check == "over_reserved"]
    assert over == [(Decimal(10), Decimal(12))]


@pytest.mark.both_dbs
def test_an_entry_changed_inside_a_closed_month_is_found(world: FoodWorld) -> None:
    with world.records.engine.begin() as connection:
        close_period(connection, world.records.schema.stock, D(2026, 9, 30), today=D(2026, 11, 20),
                     now=dt.datetime(2026, 11, 20, 9))
    assert world.verified().consistent
    ledger = world.records.schema.stock["ledger"]
    with world.records.engine.begin() as connection:  # the sugar receipt of 21 September, tampered with
        connection.execute(update(ledger).where(ledger.c.item == world.items["SUGAR"], ledger.c.qty == 10)
                           .values(value_change=Decimal("33.00")))
    problems = world.verified().problems
    assert {p.check for p in problems} == {"period_value", "balance_value"}
    period = next(p for p in problems if p.check == "period_value")
    assert (period.expected, period.found) == (Decimal("33.00"), Decimal("30.00"))
    assert "结账至 2026-09-30 时冻结的金额 30 与台账 33 不符" in period.message


@pytest.mark.both_dbs
def test_reservations_held_and_partly_released_add_up_and_a_lost_release_is_found(db_engine) -> None:
    from engine.context import Clock
    from engine.migrate import migrate
    from engine.records import Records
    from engine.stock.verify import verify
    from tests.stock_count_helpers import build_world, mfg_app

    app = mfg_app()
    records = Records(app, db_engine, clock=Clock(app.timezone, fixed=dt.datetime(2026, 11, 20, 9)))
    migrate(app, db_engine)
    world = build_world(records)
    world.receive("BOLT", 100)
    session = world.session
    picking = session.create("production_picking", {"warehouse": world.warehouses["A"],
                                                    "lines": [{"item": world.items["BOLT"], "qty": "30"}]}, submit=True)
    issue = session.make_from("production_issue", "production_picking", picking["id"])
    issue = session.update("production_issue", issue["id"], {"lines": [{**issue["lines"][0], "qty": "10"}]},
                           version=issue["version"])
    session.submit("production_issue", issue["id"], version=issue["version"])

    def problems() -> set[tuple]:
        with db_engine.connect() as connection:
            return {(p.check, p.expected, p.found) for p in verify(connection, app, records.schema).problems}

    assert problems() == set()  # 30 reserved, 10 issued from the picking: 20 still held, on hand 90
    reservation = records.schema.stock["reservation"]
    with db_engine.begin() as connection:
        connection.execute(update(reservation).values(released=Decimal(0)))
    assert problems() == {("reserved", Decimal(30), Decimal(20))}
