"""Parallel postings on PostgreSQL, proven: 16 clients (threads, each with its own Records, session and
connection) issuing the last units of an item, and mixed receipts and issues over several items whose lines
come in different orders. Stock never goes below zero, on hand always equals the ledger (no lost update),
no client meets a deadlock, and every refused submit got the clear "not enough stock" refusal."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy
from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Engine

from engine.context import Clock
from engine.db import create_engine, prepare_database
from engine.migrate import migrate
from engine.records import Records
from engine.stock.refusals import NotEnoughStock
from tests.conftest import PG_URL
from tests.service_helpers import NOW
from tests.stock_helpers import D, Stock, stock_app

pytestmark = pytest.mark.xdist_group("concurrency")

CLIENTS = 16


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh schema, and an engine whose pool holds a connection for every client."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (set JXC_TEST_PG_URL): {error.orig}")
    engine = create_engine(PG_URL, pool_size=CLIENTS + 2, max_overflow=0, pool_timeout=60,
                           connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def client(engine: Engine) -> Stock:
    """One client: its own service layer on the shared database."""
    app = stock_app()
    return Stock(Records(app, engine, clock=Clock(app.timezone, fixed=NOW)))


def run_together(jobs: list, engine: Engine) -> list[BaseException | None]:
    """Run every job in its own thread with its own client, all released at once; what each raised."""
    barrier = threading.Barrier(len(jobs))

    def run(job) -> BaseException | None:
        mine = client(engine)
        barrier.wait()
        try:
            job(mine)
        except Exception as error:  # collected, not hidden: the test asserts what each client raised
            return error
        return None

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def check_books(stock: Stock) -> None:
    """Every balance equals its ledger, nothing is below zero, batches agree."""
    balance, ledger = stock.tables["balance"], stock.tables["ledger"]
    with stock.records.engine.connect() as connection:
        books = {(row.item, row.warehouse, row.batch_key): (row.on_hand, row.value)
                 for row in connection.execute(select(balance))}
        batch_key = func.coalesce(ledger.c.batch, literal_column("0"))
        sums = {(row[0], row[1], row[2]): (row[3], row[4]) for row in connection.execute(
            select(ledger.c.item, ledger.c.warehouse, batch_key, func.sum(ledger.c.qty),
                   func.sum(ledger.c.value_change)).group_by(ledger.c.item, ledger.c.warehouse, batch_key))}
    for key, (qty, value) in books.items():
        assert sums.get(key, (D(0), D(0))) == (qty, value), f"balance {key} differs from its ledger"
        assert qty >= 0, f"balance {key} went below zero: {qty}"


def test_sixteen_clients_issuing_the_last_units(pg_engine):
    setup = client(pg_engine)
    migrate(setup.records.app, pg_engine)
    bolt, main = setup.item("B1"), setup.warehouse("WH1")
    setup.receive(main, (bolt, 10, "2.00"))
    branch = setup.warehouse("WH2")
    setup.customer()
    # three kinds of document: each kind's numbering serializes its own submits, so the stock lock is what
    # keeps the kinds from overselling
    kinds = [lambda mine: mine.issue(main, (bolt, 1)), lambda mine: mine.deliver(main, (bolt, 1)),
             lambda mine: mine.transfer(main, branch, (bolt, 1))]
    errors = run_together([kinds[index % 3] for index in range(CLIENTS)], pg_engine)
    refused = [error for error in errors if error is not None]
    assert len(refused) == CLIENTS - 10
    for error in refused:  # nothing else: no deadlock, no lost update detected late, no database error
        assert isinstance(error, NotEnoughStock), repr(error)
        assert "库存不足：可用 0，需要 1" in str(error)
    assert setup.on_hand(bolt, main) == 0 and setup.value(bolt, main) == 0
    moved_away = setup.on_hand(bolt, branch) + sum((-row["qty"] for row in setup.ledger(bolt)
                                                     if row["source_entity"] in ("stock_issue", "delivery")), D(0))
    assert moved_away == D(10)
    check_books(setup)


def test_mixed_receipts_and_issues_in_different_orders_never_deadlock_or_lose_updates(pg_engine):
    setup = client(pg_engine)
    migrate(setup.records.app, pg_engine)
    houses = [setup.warehouse("WH1"), setup.warehouse("WH2")]
    items = [setup.item(f"I{n}") for n in range(4)]
    for house in houses:
        setup.receive(house, *[(item, 6, "1.00") for item in items])
    plans = random.Random(4).choices(["issue", "receive", "transfer"], weights=[5, 2, 2], k=CLIENTS * 3)

    def job_for(index: int):
        def job(mine: Stock) -> None:
            chooser = random.Random(index)
            for round_ in range(3):
                kind = plans[index * 3 + round_]
                lines = [(item, chooser.choice([1, 2, 3])) for item in chooser.sample(items, len(items))]
                house = chooser.choice(houses)
                try:
                    if kind == "issue":
                        mine.issue(house, *lines)
                    elif kind == "receive":
                        mine.receive(house, *[(item, qty, "3.00") for item, qty in lines])
                    else:
                        mine.transfer(house, houses[1 - houses.index(house)], *lines)
                except NotEnoughStock as error:
                    assert "库存不足" in str(error)
        return job

    errors = run_together([job_for(index) for index in range(CLIENTS)], pg_engine)
    assert errors == [None] * CLIENTS  # every refusal was a clear not-enough-stock one (caught in the job)
    check_books(setup)
    total = sum((setup.on_hand(item) for item in items), Decimal(0))
    received = sum((row["qty"] for row in setup.ledger() if row["qty"] > 0 and row["source_entity"] != "stock_transfer"),
                   Decimal(0))
    issued = sum((-row["qty"] for row in setup.ledger() if row["source_entity"] == "stock_issue"), Decimal(0))
    assert total == received - issued
