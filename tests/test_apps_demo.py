"""`jxc demo` loads the industry apps on SQLite and PostgreSQL, and the stock it leaves behind is what the demo
data tells: consistent books, batches taken first-expiry-first-out, materials reserved by the picking list,
and the alerts the demo was written to show (a batch near expiry, flour below its safety stock)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import select

from engine.alerts import engine_for
from engine.cli import main
from engine.startup import Started, start
from tests.apps_helpers import TODAY, assert_books_consistent, batches_taken, stock_of
from tests.conftest import PG_URL

APPS = Path(__file__).parent.parent / "apps"
D = Decimal


@pytest.fixture
def database_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh schema on the test PostgreSQL server."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'demo.sqlite'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def load_demo(app: str, url: str, capsys: pytest.CaptureFixture[str]) -> Started:
    code = main(["demo", str(APPS / app), "--db", url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("demo data: created ")
    code = main(["stock", "verify", str(APPS / app), "--db", url])  # what an admin runs to check the books
    out = capsys.readouterr().out
    assert (code, out.split("（")[0]) == (0, "库存账全部一致"), out
    return start(APPS / app, url)


def ids(started: Started, entity: str) -> dict[str, int]:
    table = started.records.schema.tables[entity]
    key = started.app.entities[entity].key
    with started.engine.connect() as connection:
        return {row[0]: row[1] for row in connection.execute(select(table.c[key], table.c.id))}


def document(started: Started, entity: str, **where: object) -> int:
    table = started.records.schema.tables[entity]
    with started.engine.connect() as connection:
        return connection.execute(select(table.c.id).where(*(table.c[k] == v for k, v in where.items()))).scalar_one()


@pytest.mark.both_dbs
def test_the_food_demo_ships_first_expiry_first_and_alerts_on_butter_and_flour(database_url, capsys):
    food = load_demo("food", database_url, capsys)
    try:
        records = food.records
        assert_books_consistent(records)
        item, house = ids(food, "item"), ids(food, "warehouse")
        # the dumplings left without a batch: the older batch first, then the newer one
        shipment = document(food, "sales_shipment", warehouse=house["WH-C"])
        assert batches_taken(records, "sales_shipment", shipment) == {"DP261020": D("-60"), "DP261111": D("-60")}
        assert stock_of(records, item["FG-DUMP"], house["WH-C"]) == {
            "on_hand": D("240"), "reserved": D("0"), "available": D("240"), "value": D("40200.00")}
        assert stock_of(records, item["RM-BUTTER"], house["WH-R"], "NZ260615")["on_hand"] == D("50")
        assert stock_of(records, item["RM-FLOUR"], house["WH-A"])["on_hand"] == D("400")
        alerts = engine_for(records)
        with records.engine.begin() as connection:
            near = alerts.evaluate("near_expiry", connection, now=TODAY)
            low = alerts.evaluate("low_stock", connection, now=TODAY)
        assert (near.fired, low.fired) == (1, 1)  # butter NZ260615 (17 days left); flour 400 kg of 1,000
        code = main(["demo", str(APPS / "food"), "--db", database_url])  # a second run changes nothing
        assert (code, capsys.readouterr().out.strip()) == (0, "demo data: created nothing new; 43 already loaded")
        assert_books_consistent(records)
    finally:
        food.close()


@pytest.mark.both_dbs
def test_the_discrete_demo_reserves_for_the_order_and_issues_after_receiving(database_url, capsys):
    mfg = load_demo("discrete_mfg", database_url, capsys)
    try:
        records = mfg.records
        assert_books_consistent(records)
        item, house = ids(mfg, "item"), ids(mfg, "warehouse")
        # the picking list holds the bolts and bushings for contract GL-PJ-2026-1107
        assert stock_of(records, item["RM-BOLT10"], house["WH-RM"]) == {
            "on_hand": D("20000"), "reserved": D("6060"), "available": D("13940"), "value": D("9000.00")}
        assert stock_of(records, item["RM-BUSH"], house["WH-RM"])["available"] == D("1000")
        # steel went to the press shop from its only coil; the blanks came in and went on to assembly
        assert stock_of(records, item["RM-SPCC20"], house["WH-RM"], "BG2611-0452")["on_hand"] == D("8926.5")
        assert stock_of(records, item["SF-BRK01"], house["WH-WIP"]) == {
            "on_hand": D("200"), "reserved": D("0"), "available": D("200"), "value": D("2500.00")}
        assert stock_of(records, item["FG-XJ01"], house["WH-FG"]) == {
            "on_hand": D("300"), "reserved": D("0"), "available": D("300"), "value": D("12720.00")}
    finally:
        mfg.close()
