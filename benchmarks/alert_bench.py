"""Alerts: a low-stock rule over N item balances, evaluated set-wise in SQL vs record by record in Python.

A small app with stock settings and one scheduled alert, `available < item.safety_stock` on stock_balance
(scope of the rule: every balance). N balances (100,000; --quick: 20,000) = N/4 items × 4 warehouses,
inserted with SQLAlchemy Core; 2% are below their item's safety stock. On a SQLite file and on PostgreSQL
(a fresh schema, dropped afterwards):

- jxc (set-wise): `AlertEngine.evaluate` as the worker runs it: one SELECT of the due records (the condition
  compiled to SQL, left-joined with the episodes in jxc_alert_state) and one UPDATE closing the episodes that
  cleared; then episodes and messages for what fired;
- baseline (per record): the same rule as an app without SQL compilation would run it: load every balance and
  its linked item, evaluate the compiled Python formula on each record, compare with the stored episodes
  (`evaluate(..., python=True)`, which jxc itself uses only for conditions without a SQL form).

Two situations, each timed in a transaction that is rolled back, best of 3:
- steady (the daily check: the low balances were already reported, nothing new): `rule_eval_ms`, and
  `speedup_vs_per_record` = baseline / jxc (goal >= 20);
- firing (first run: 2% of the balances open an episode; messages rendered and queued the same way on both
  sides).
Both sides must find the same records, else the benchmark fails. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsl.loader import load_app  # noqa: E402
from engine.alerts import engine_for  # noqa: E402
from engine.context import Clock  # noqa: E402
from engine.db import create_engine, prepare_database  # noqa: E402
from engine.migrate import migrate  # noqa: E402
from engine.records import Records  # noqa: E402
from engine.users import add_user  # noqa: E402

PG_URL = os.environ.get("JXC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL_SPEEDUP = 20.0
WAREHOUSES = 4
LOW_EVERY = 50  # one balance in 50 is below safety stock (2%)
NOW = dt.datetime(2026, 3, 5, 8, 0)
APP = """\
name: alert_bench
title: 预警基准
stock: {item: item, warehouse: warehouse, safety_stock: safety_stock}
entities:
  item:
    key: code
    title: name
    fields: {code: {type: string, unique: true}, name: string, safety_stock: {type: decimal, scale: 3}}
  warehouse:
    key: code
    fields: {code: string}
roles:
  purchaser: {permissions: {item: all}}
alerts:
  low_stock:
    label: 库存低于安全库存
    scope: stock_balance
    condition: available < item.safety_stock
    schedule: daily 08:00
    recipients: {roles: [purchaser]}
    channels: [inbox]
    message: "{{ record.item }} 在 {{ record.warehouse }} 的可用库存 {{ record.available }}，低于安全库存。{{ link }}"
"""


def fill(records: Records, balances: int) -> int:
    """Items, warehouses and balances written with Core; how many balances are low."""
    schema = records.schema
    item, warehouse, balance = schema.tables["item"], schema.tables["warehouse"], schema.stock["balance"]
    items = balances // WAREHOUSES
    system = {"created_at": NOW, "modified_at": NOW, "version": 1}
    low = 0
    with records.engine.begin() as connection:
        connection.execute(insert(warehouse), [{"code": f"WH{n}", **system} for n in range(WAREHOUSES)])
        connection.execute(insert(item), [{"code": f"I{n:06d}", "name": f"物料{n}", "safety_stock": Decimal(10),
                                           **system} for n in range(items)])
        item_ids = list(connection.execute(select(item.c.id).order_by(item.c.id)).scalars())
        warehouse_ids = list(connection.execute(select(warehouse.c.id).order_by(warehouse.c.id)).scalars())
        rows = []
        for n in range(items * WAREHOUSES):
            is_low = n % LOW_EVERY == 0
            low += is_low
            available = Decimal("3.5") if is_low else Decimal(20 + n % 7)
            rows.append({"item": item_ids[n // WAREHOUSES], "warehouse": warehouse_ids[n % WAREHOUSES],
                         "batch_key": 0, "on_hand": available, "reserved": Decimal(0), "available": available,
                         "value": Decimal(0)})
        for start in range(0, len(rows), 10000):
            connection.execute(insert(balance), rows[start:start + 10000])
    add_user(records.engine, records.app, schema, "buyer", roles=["purchaser"])
    with records.engine.begin() as connection:  # statistics, as a database in use has them
        connection.exec_driver_sql("ANALYZE")
    return low


def timed(records: Records, *, python: bool, at: dt.datetime, turns: int = 3) -> tuple[float, Any]:
    """Best time of `turns` evaluations, each in a transaction rolled back afterwards."""
    alerts = engine_for(records)
    best, result = float("inf"), None
    for _ in range(turns):
        with records.engine.connect() as connection:
            transaction = connection.begin()
            started = time.perf_counter()
            result = alerts.evaluate("low_stock", connection, now=at, python=python)
            best = min(best, time.perf_counter() - started)
            transaction.rollback()
    return best * 1000, result


def bench_database(kind: str, engine: sqlalchemy.Engine, folder: Path, balances: int) -> dict[str, Any]:
    app = load_app(folder)
    records = Records(app, engine, clock=Clock(app.timezone, fixed=NOW))
    if kind == "postgresql":
        prepare_database(engine)
    migrate(app, engine)
    low = fill(records, balances)
    firing_sql, fired_sql = timed(records, python=False, at=NOW, turns=2)
    firing_py, fired_py = timed(records, python=True, at=NOW, turns=2)
    if not (fired_sql.fired == fired_py.fired == low and fired_sql.inbox == fired_py.inbox == low):
        raise SystemExit(f"{kind}: the two evaluations disagree: set-wise fired {fired_sql.fired}, per record "
                         f"{fired_py.fired}, expected {low}")
    with engine.begin() as connection:  # the first run, kept: from now on the low balances are known
        engine_for(records).evaluate("low_stock", connection, now=NOW)
    later = NOW + dt.timedelta(days=1)
    steady_sql, quiet_sql = timed(records, python=False, at=later)
    steady_py, quiet_py = timed(records, python=True, at=later)
    if (quiet_sql.fired, quiet_sql.cleared, quiet_py.fired, quiet_py.cleared) != (0, 0, 0, 0):
        raise SystemExit(f"{kind}: the steady run should fire and clear nothing: {quiet_sql} / {quiet_py}")
    return {"low": low, "steady_sql": steady_sql, "steady_py": steady_py, "firing_sql": firing_sql,
            "firing_py": firing_py}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 balances (under a minute)")
    parser.add_argument("--balances", type=int, help="number of balances (default 100,000; --quick 20,000)")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (default $JXC_TEST_PG_URL or local)")
    args = parser.parse_args(argv)
    balances = args.balances or (20_000 if args.quick else 100_000)
    if balances < WAREHOUSES * LOW_EVERY:
        parser.error(f"--balances must be at least {WAREHOUSES * LOW_EVERY}")
    started = time.perf_counter()
    found: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="jxc_alert_bench_") as temp:
        folder = Path(temp) / "alert_bench"
        folder.mkdir()
        (folder / "app.yaml").write_text(textwrap.dedent(APP), encoding="utf-8")
        engine = create_engine(f"sqlite:///{Path(temp) / 'bench.sqlite'}")
        try:
            found["sqlite"] = bench_database("sqlite", engine, folder, balances)
        finally:
            engine.dispose()
        found["pg"] = with_postgres(args.pg_url, lambda pg: bench_database("postgresql", pg, folder, balances))

    for name, key in (("SQLite", "sqlite"), ("PostgreSQL", "pg")):
        one = found[key]
        print(f"{name:<10}  {balances} balances, {one['low']} low  steady: set-wise {one['steady_sql']:8.1f} ms, "
              f"per record {one['steady_py']:8.1f} ms ({one['steady_py'] / one['steady_sql']:6.1f}x)  firing: "
              f"set-wise {one['firing_sql']:8.1f} ms, per record {one['firing_py']:8.1f} ms "
              f"({one['firing_py'] / one['firing_sql']:5.1f}x)")
    lite, pg = found["sqlite"], found["pg"]
    result = {
        "benchmark": "alerts",
        "balances": balances,
        "low_balances": lite["low"],
        "rule_eval_ms": round(max(lite["steady_sql"], pg["steady_sql"]), 1),
        "rule_eval_ms_sqlite": round(lite["steady_sql"], 1),
        "rule_eval_ms_pg": round(pg["steady_sql"], 1),
        "per_record_ms_sqlite": round(lite["steady_py"], 1),
        "per_record_ms_pg": round(pg["steady_py"], 1),
        "speedup_vs_per_record": round(min(lite["steady_py"] / lite["steady_sql"],
                                           pg["steady_py"] / pg["steady_sql"]), 1),
        "speedup_sqlite": round(lite["steady_py"] / lite["steady_sql"], 1),
        "speedup_pg": round(pg["steady_py"] / pg["steady_sql"], 1),
        "firing_ms_sqlite": round(lite["firing_sql"], 1),
        "firing_ms_pg": round(pg["firing_sql"], 1),
        "firing_speedup_sqlite": round(lite["firing_py"] / lite["firing_sql"], 1),
        "firing_speedup_pg": round(pg["firing_py"] / pg["firing_sql"], 1),
        "goal_speedup": GOAL_SPEEDUP,
        "total_s": round(time.perf_counter() - started, 1),
    }
    result["ok"] = result["speedup_vs_per_record"] >= GOAL_SPEEDUP
    print(json.dumps(result, ensure_ascii=False))
    return 0


def with_postgres(url: str, run: Callable[[sqlalchemy.Engine], dict[str, Any]]) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = sqlalchemy.create_engine(url)
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as error:
        raise SystemExit(f"PostgreSQL is not reachable at {url} (use --pg-url): {error.orig}") from None
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        return run(engine)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
