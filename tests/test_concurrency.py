"""Concurrency, proven rather than assumed: parallel clients through the service layer, each on its own
connection, against real PostgreSQL (and SQLite, which lets one writer in at a time).

- parallel creates + submits get unique, gap-free document numbers;
- read-then-update with the record's version never loses an update (the loser gets Conflict and retries);
- two users saving the same record: one wins, the other is told who changed it;
- submits that roll back (a plugin's veto, a plugin failing after the number was taken) leave no gap.

The PostgreSQL tests use their own schema and an engine whose pool holds a connection for every client
(`pg_engine`); they run in the normal suite, like every `both_dbs` test, and fail when the server is not
reachable. All tests here share one xdist group, so their threads do not compete with each other.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from dsl.loader import load_app
from dsl.model import App
from engine import hookimpl
from engine.context import Clock
from engine.db import create_engine, prepare_database
from engine.errors import Conflict, Vetoed
from engine.naming import peek
from engine.plugins import plugin_manager
from engine.records import Records
from engine.users import add_user, load_user
from tests.conftest import PG_URL

pytestmark = pytest.mark.xdist_group("concurrency")

APP_DIR = Path(__file__).parent.parent / "apps" / "no_stock"
NOW = dt.datetime(2026, 3, 15, 9, 30)
PREFIX = "SO-202603-"
CLIENTS = 8
ORDERS_PER_CLIENT = 10
ITEMS = 5


@pytest.fixture(scope="module")
def app() -> App:
    return load_app(APP_DIR)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh schema on the PostgreSQL server, and an engine with a pooled connection for every client."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (set JXC_TEST_PG_URL): {error.orig}")
    engine = create_engine(PG_URL, pool_size=CLIENTS + 2, max_overflow=0, pool_timeout=20,
                           connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'concurrency.sqlite'}", pool_size=CLIENTS, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


def setup_records(app: App, engine: Engine, **options: Any) -> tuple[Records, int, list[int]]:
    """Tables, one customer and a few items; the customer's id and the items' ids."""
    records = Records(app, engine, clock=Clock(app.timezone, fixed=NOW), **options)
    records.schema.metadata.create_all(engine)
    prepare_database(engine)
    session = records.system()
    customer = session.create("customer", {"code": "C001", "name": "华东商贸"})
    items = [session.create("item", {"code": f"I{n:03d}", "name": f"商品{n}", "sale_price": f"{n}0.00"})["id"]
             for n in range(1, ITEMS + 1)]
    return records, customer["id"], items


def order_values(customer: int, items: list[int], client: int, number: int, remark: str = "") -> dict[str, Any]:
    return {"customer": customer, "remark": remark or f"client {client} order {number}",
            "lines": [{"item": item, "qty": str(client + number + 1), "price": f"{index + 1}.50"}
                      for index, item in enumerate(items)]}


class PoolWatch:
    """How many pooled connections were checked out at once: proof that the clients really ran in parallel."""

    def __init__(self, engine: Engine) -> None:
        self.lock = threading.Lock()
        self.in_use = self.most = 0
        event.listen(engine.pool, "checkout", self._checkout)
        event.listen(engine.pool, "checkin", self._checkin)

    def _checkout(self, *_: Any) -> None:
        with self.lock:
            self.in_use += 1
            self.most = max(self.most, self.in_use)

    def _checkin(self, *_: Any) -> None:
        with self.lock:
            self.in_use -= 1


def in_parallel(clients: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run work(0..clients-1) in threads released together; results and the exceptions raised."""
    start = threading.Barrier(clients)

    def client(number: int) -> Any:
        start.wait(timeout=30)
        return work(number)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, number) for number in range(clients)]
        results, errors = [], []
        for future in futures:
            error = future.exception(timeout=120)
            if error is None:
                results.append(future.result())
            else:
                errors.append(error)
    return results, errors


def numbers_of(records: Records) -> list[int]:
    """The numbers of every submitted sales order, from the database, in order."""
    table = records.schema.tables["sales_order"]
    with records.engine.connect() as connection:
        found = connection.execute(select(table.c.doc_no).where(table.c.docstatus == "submitted")).scalars().all()
    assert all(number.startswith(PREFIX) for number in found), found
    return sorted(int(number.removeprefix(PREFIX)) for number in found)


def given_out(records: Records, app: App) -> int:
    naming = app.entities["sales_order"].naming
    assert naming is not None
    with records.engine.connect() as connection:
        return peek(connection, records.schema, naming, "sales_order", NOW.date())


def create_and_submit(records: Records, customer: int, items: list[int], clients: int,
                      orders: int) -> tuple[list[Any], list[BaseException]]:
    def client(number: int) -> list[str]:
        session = records.system()
        numbers = []
        for index in range(orders):
            order = session.create("sales_order", order_values(customer, items, number, index))
            submitted = session.submit("sales_order", order["id"], version=order["version"])
            assert submitted["docstatus"] == "submitted" and len(submitted["lines"]) == len(items)
            numbers.append(submitted["doc_no"])
        return numbers

    return in_parallel(clients, client)


# --- (a) gap-free numbers -------------------------------------------------------------------------------------


def check_gap_free(records: Records, app: App, results: list[list[str]], expected: int) -> None:
    handed = [number for numbers in results for number in numbers]
    assert len(handed) == len(set(handed)) == expected, "a number was given twice"
    assert sorted(int(number.removeprefix(PREFIX)) for number in handed) == list(range(1, expected + 1))
    assert numbers_of(records) == list(range(1, expected + 1))
    assert given_out(records, app) == expected
    lines = records.schema.tables["sales_order_lines"]
    with records.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(lines)).scalar_one() == expected * ITEMS


def test_parallel_clients_get_unique_gap_free_numbers_on_postgresql(app, pg_engine):
    records, customer, items = setup_records(app, pg_engine)
    watch = PoolWatch(pg_engine)
    results, errors = create_and_submit(records, customer, items, CLIENTS, ORDERS_PER_CLIENT)
    assert errors == []
    check_gap_free(records, app, results, CLIENTS * ORDERS_PER_CLIENT)
    assert watch.most >= 2, "the clients never held connections at the same time"


def test_parallel_writers_on_sqlite_wait_for_each_other_and_get_gap_free_numbers(app, sqlite_engine):
    records, customer, items = setup_records(app, sqlite_engine)
    watch = PoolWatch(sqlite_engine)
    results, errors = create_and_submit(records, customer, items, 4, ORDERS_PER_CLIENT)
    assert errors == [], [str(error) for error in errors]  # no "database is locked"
    check_gap_free(records, app, results, 4 * ORDERS_PER_CLIENT)
    assert watch.most >= 2, "the clients never held connections at the same time"


# --- (b) no lost update ----------------------------------------------------------------------------------------


def test_read_then_update_with_version_loses_no_update(app, pg_engine):
    records, customer, _ = setup_records(app, pg_engine)
    iterations = 10
    conflicts = [0] * CLIENTS

    def client(number: int) -> None:
        session = records.system()
        for _ in range(iterations):
            while True:
                current = session.get("customer", customer)
                try:
                    session.update("customer", customer, {"payment_days": current["payment_days"] + 1},
                                   version=current["version"])
                    break
                except Conflict:
                    conflicts[number] += 1

    before = records.system().get("customer", customer)
    _, errors = in_parallel(CLIENTS, client)
    assert errors == []
    after = records.system().get("customer", customer)
    assert after["payment_days"] == before["payment_days"] + CLIENTS * iterations
    assert after["version"] == before["version"] + CLIENTS * iterations
    updates = [entry for entry in records.system().history("customer", customer) if entry["action"] == "update"]
    assert len(updates) == CLIENTS * iterations
    # each logged change goes up by exactly one from the value before it: no write was based on a stale read
    steps = [tuple(entry["changes"]["payment_days"]) for entry in updates]
    assert all(new == old + 1 for old, new in steps), steps


# --- (c) two users save the same record ----------------------------------------------------------------------


def test_of_two_users_saving_the_same_record_one_wins_and_the_other_is_told_who(app, pg_engine):
    records, customer, _ = setup_records(app, pg_engine)
    names = {"alice": "王丽", "bob": "李强"}
    users = {}
    for name, full_name in names.items():
        add_user(pg_engine, app, records.schema, name, roles=["sales_manager"], full_name=full_name)
        users[name] = load_user(pg_engine, app, records.schema, name)
    sessions = [records.session(users["alice"]), records.session(users["bob"])]
    opened = [session.get("customer", customer) for session in sessions]
    assert opened[0]["version"] == opened[1]["version"]

    def save(number: int) -> str:
        sessions[number].update("customer", customer, {"phone": f"021-0000000{number}"},
                                version=opened[number]["version"])
        return sessions[number].user.name

    winners, errors = in_parallel(2, save)
    assert len(winners) == 1 and len(errors) == 1, (winners, errors)
    assert isinstance(errors[0], Conflict), errors[0]
    winner = winners[0]
    loser = "bob" if winner == "alice" else "alice"
    message = str(errors[0])
    assert f"changed by {names[winner]}" in message and names[loser] not in message, message
    assert f"your version {opened[0]['version']}, now {opened[0]['version'] + 1}" in message, message
    saved = records.system().get("customer", customer)
    assert saved["phone"] == f"021-0000000{['alice', 'bob'].index(winner)}"
    assert saved["modified_by"] == users[winner].id


# --- (d) rolled-back submits give their numbers back ----------------------------------------------------------


class Refuser:
    """Vetoes orders marked "veto"; fails after the number was taken for orders marked "fail"."""

    @hookimpl
    def jxc_before_submit(self, entity, record):
        if entity.name == "sales_order" and record.get("remark") == "veto":
            return "the test plugin refuses this order"
        return None

    @hookimpl
    def jxc_after_submit(self, entity, record):
        if entity.name == "sales_order" and record.get("remark") == "fail":
            assert record["doc_no"].startswith(PREFIX)  # the number was taken: the rollback must give it back
            raise RuntimeError("the test plugin fails after the number was taken")


def test_submits_that_roll_back_leave_no_gap_in_the_numbers(app, pg_engine):
    manager = plugin_manager({"veto": Refuser()}, entry_points=False)
    records, customer, items = setup_records(app, pg_engine, plugins=manager)
    marks = ["ok", "veto", "fail", "ok"]

    def client(number: int) -> dict[str, int]:
        session = records.system()
        outcome = {"ok": 0, "veto": 0, "fail": 0}
        for index in range(ORDERS_PER_CLIENT):
            mark = marks[(number + index) % len(marks)]
            order = session.create("sales_order", order_values(customer, items, number, index, remark=mark))
            try:
                submitted = session.submit("sales_order", order["id"], version=order["version"])
            except Vetoed as error:
                assert mark == "veto" and "the test plugin refuses this order" in str(error)
                outcome["veto"] += 1
            except RuntimeError as error:
                assert mark == "fail" and "after the number was taken" in str(error)
                outcome["fail"] += 1
            else:
                assert mark == "ok" and submitted["docstatus"] == "submitted"
                outcome["ok"] += 1
        return outcome

    results, errors = in_parallel(CLIENTS, client)
    assert errors == []
    submitted = sum(result["ok"] for result in results)
    assert sum(result["veto"] for result in results) > 0 and sum(result["fail"] for result in results) > 0
    assert numbers_of(records) == list(range(1, submitted + 1))
    assert given_out(records, app) == submitted
    table = records.schema.tables["sales_order"]
    with pg_engine.connect() as connection:
        refused = connection.execute(select(table.c.docstatus, table.c.doc_no, table.c.version)
                                     .where(table.c.remark != "ok")).all()
    assert len(refused) == CLIENTS * ORDERS_PER_CLIENT - submitted
    assert set(refused) == {("draft", None, 1)}  # nothing of a refused submit was kept
