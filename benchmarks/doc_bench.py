"""Documents: create + submit sales orders through jxc's service layer vs hand-written SQLAlchemy Core.

apps/no_stock, master data (customers, items), then N sales orders of 5 lines (1000; --quick: 100), on a
SQLite file in a temporary folder and on PostgreSQL in fresh schemas dropped afterwards:

- jxc: `session.create("sales_order", {...}, submit=True)` (save and submit) through a system session: values
  coerced, defaults (order date, tax rate from the item), formulas (line amounts, tax, totals), validations,
  link checks, audit entries, a gap-free number from the naming series. One transaction, like raw's; the
  statement counts are still measured for a separate create and a separate submit;
- raw: what a hand-written app does for the same document: the same values computed in plain Python
  (Decimal, half-up rounding, the item's tax rate from master data it has in memory), then one transaction
  with a numbering update (`UPDATE ... SET last = last + 1 RETURNING last`), an insert for the header and an
  executemany for the lines. No validation, no audit log.

Both runs must leave the same documents (same numbers, totals and lines; compared after the run), else the
benchmark fails: timing different work would be meaningless. Each side has its own database; timing is
time.perf_counter summed over turns of 10 orders, raw then jxc, so a busy machine slows both alike.
overhead = jxc / raw (goal <= 3.0).

Statements: a `before_cursor_execute` listener counts what one create and one submit of a 5-line order send
(SQLite's BEGIN included; COMMIT is not a statement), with 10 orders in the history and again with all N (one
more order on each side, untimed), to show that a submit costs the same however long the history is (goal
<= 30). The hand-written app's statements per document are shown beside them.

The last line printed is a JSON object. `--profile` prints where jxc's time goes (cProfile, SQLite).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Engine

from dsl.loader import load_app
from dsl.model import App
from engine.context import Clock
from engine.db import create_engine, prepare_database
from engine.records import Records

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "apps" / "no_stock"
PG_URL = os.environ.get("JXC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL_OVERHEAD = 3.0
GOAL_STATEMENTS = 30
LINES = 5
CHUNK = 10  # orders per turn; the first statement count is taken after the first turn
CUSTOMERS = 20
ITEMS = 50
CENT = Decimal("0.01")
COMPARED_HEADER = ("doc_no", "docstatus", "customer", "order_date", "subtotal", "tax", "total", "delivery_status",
                   "paid_amount", "unpaid_amount", "per_delivered", "remark")
COMPARED_LINE = ("idx", "item", "qty", "price", "discount", "tax_rate", "amount", "tax", "amount_with_tax",
                 "delivered_qty")

# --- the work ----------------------------------------------------------------------------------------------


def plan(orders: int) -> list[dict[str, Any]]:
    """The orders both sides write, as a client sends them (text values, as from a form or JSON)."""
    planned = []
    for number in range(orders):
        lines = []
        for line in range(LINES):
            item = (number * 7 + line * 11) % ITEMS + 1
            lines.append({"item": item, "qty": str(1 + (number + line) % 9) + ".5" * (line % 2),
                          "price": f"{10 + (number * 3 + line) % 90}.{(number + line * 13) % 100:02d}",
                          **({"discount": "0.05"} if line == 3 else {})})
        planned.append({"customer": number % CUSTOMERS + 1, "remark": f"bench {number + 1}", "lines": lines})
    return planned


def create_master_data(records: Records) -> dict[int, Decimal]:
    """Customers and items (ids 1..CUSTOMERS, 1..ITEMS); the items' tax rates by id."""
    session = records.system()
    for number in range(1, CUSTOMERS + 1):
        session.create("customer", {"code": f"C{number:03d}", "name": f"客户{number}"})
    rates = {}
    for number in range(1, ITEMS + 1):
        rate = "9%" if number % 4 == 0 else "13%"
        item = session.create("item", {"code": f"I{number:03d}", "name": f"商品{number}", "sale_price": "12.30",
                                       "tax_rate": rate})
        rates[item["id"]] = item["tax_rate"]
    return rates


def run_jxc(records: Records, orders: list[dict[str, Any]]) -> None:
    """Each order saved and submitted in one call and one transaction, as the form's 保存并提交 does."""
    session = records.system()
    for values in orders:
        session.create("sales_order", values, submit=True)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def run_raw(engine: Engine, app: App, records: Records, orders: list[dict[str, Any]],
            rates: dict[int, Decimal]) -> None:
    """The hand-written app: compute, then one transaction per document."""
    schema = records.schema
    header, lines_table, series = schema.tables["sales_order"], schema.tables["sales_order_lines"], schema.series
    assert series is not None
    clock = records.clock
    qty_unit = Decimal("0.001")
    for values in orders:
        now = clock.now()
        today = now.date()
        key = f"sales_order:SO-{today:%Y%m}-{{####}}"
        rows = []
        for idx, given in enumerate(values["lines"], start=1):
            qty = Decimal(given["qty"]).quantize(qty_unit, rounding=ROUND_HALF_UP)
            price = money(Decimal(given["price"]))
            discount = Decimal(given.get("discount", "0")).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            rate = rates[given["item"]]
            amount = money(qty * price * (1 - discount))
            tax = money(amount * rate)
            rows.append({"idx": idx, "item": given["item"], "qty": qty, "price": price, "discount": discount,
                         "tax_rate": rate, "amount": amount, "tax": tax, "amount_with_tax": amount + tax,
                         "delivered_qty": Decimal("0.000")})
        subtotal = sum((row["amount"] for row in rows), Decimal("0.00"))
        tax = sum((row["tax"] for row in rows), Decimal("0.00"))
        with engine.begin() as connection:
            last = connection.execute(update(series).where(series.c.key == key).values(last=series.c.last + 1)
                                      .returning(series.c.last)).scalar_one()
            order_id = connection.execute(insert(header).values(
                doc_no=f"SO-{today:%Y%m}-{last:04d}", docstatus="submitted", created_at=now, modified_at=now,
                version=2, customer=values["customer"], order_date=today, remark=values["remark"],
                subtotal=subtotal, tax=tax, total=subtotal + tax, delivery_status="pending",
                paid_amount=Decimal("0.00"), unpaid_amount=subtotal + tax).returning(header.c.id)).scalar_one()
            for row in rows:
                row["parent_id"] = order_id
            connection.execute(insert(lines_table), rows)


# --- measuring ---------------------------------------------------------------------------------------------


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def measured_order(records: Records, values: dict[str, Any]) -> tuple[int, int]:
    """Statements sent by one create and by one submit of this order."""
    session = records.system()
    with counting(records.engine) as statements:
        order = session.create("sales_order", values)
    created = len(statements)
    with counting(records.engine) as statements:
        session.submit("sales_order", order["id"], version=order["version"])
    return created, len(statements)


def timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def documents(engine: Engine, records: Records) -> list[tuple[Any, ...]]:
    header, lines = records.schema.tables["sales_order"], records.schema.tables["sales_order_lines"]
    with engine.connect() as connection:
        heads = {row.id: tuple(getattr(row, name) for name in COMPARED_HEADER)
                 for row in connection.execute(select(header))}
        found: dict[int, list[tuple[Any, ...]]] = {}
        for row in connection.execute(select(lines).order_by(lines.c.parent_id, lines.c.idx)):
            found.setdefault(row.parent_id, []).append(tuple(getattr(row, name) for name in COMPARED_LINE))
    return sorted((*head, tuple(found.get(order_id, []))) for order_id, head in heads.items())


def compare(jxc: list[tuple[Any, ...]], raw: list[tuple[Any, ...]], orders: int) -> None:
    if len(jxc) != orders or len(raw) != orders:
        raise SystemExit(f"expected {orders} documents on both sides, found jxc {len(jxc)}, raw {len(raw)}")
    for mine, theirs in zip(jxc, raw, strict=True):
        if mine != theirs:
            raise SystemExit(f"jxc and the hand-written baseline wrote different documents:\n  jxc {mine}\n"
                             f"  raw {theirs}")


def side(app: App, engine: Engine, clock: Clock) -> tuple[Records, dict[int, Decimal]]:
    """Tables and master data in one database (untimed)."""
    records = Records(app, engine, clock=clock)
    records.schema.metadata.create_all(engine)
    prepare_database(engine)
    return records, create_master_data(records)


def bench_database(kind: str, make_engine: Callable[[str], Engine], app: App, orders: int,
                   profile: bool) -> dict[str, Any]:
    """Raw and jxc in turns, CHUNK orders at a time (so a busy machine slows both alike); the statements of
    one more order on each side after the first chunk and after all orders (untimed, compared too)."""
    clock = Clock(app.timezone)
    planned = plan(orders + 2)
    measured = planned[orders:]
    raw_engine, jxc_engine = make_engine("raw"), make_engine("jxc")
    raw_records, rates = side(app, raw_engine, clock)
    records, _ = side(app, jxc_engine, clock)
    assert raw_records.schema.series is not None
    with raw_engine.begin() as connection:  # the hand-written app's counter row, made at installation
        connection.execute(insert(raw_records.schema.series).values(
            key=f"sales_order:SO-{clock.today():%Y%m}-{{####}}", last=0))

    def measure(values: dict[str, Any]) -> tuple[int, int, int]:
        with counting(raw_engine) as statements:
            run_raw(raw_engine, app, raw_records, [values], rates)
        return (*measured_order(records, values), len(statements))

    profiler = cProfile.Profile() if profile else None
    raw_s = jxc_s = 0.0
    counts = {}
    gc.collect()
    for start in range(0, orders, CHUNK):
        chunk = planned[start:min(start + CHUNK, orders)]
        raw_s += timed(lambda chunk=chunk: run_raw(raw_engine, app, raw_records, chunk, rates))
        if profiler:
            profiler.enable()
        jxc_s += timed(lambda chunk=chunk: run_jxc(records, chunk))
        if profiler:
            profiler.disable()
        if start == 0:
            counts["first"] = measure(measured[0])  # with 10 orders in the history
    counts["last"] = measure(measured[1])  # with all N

    compare(documents(jxc_engine, records), documents(raw_engine, raw_records), orders + 2)
    jxc_engine.dispose()
    raw_engine.dispose()
    if profiler:
        for order, top in (("cumulative", 45), ("tottime", 30)):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
            print(f"--- cProfile of the jxc run on {kind} ({order}) ---\n{out.getvalue()}", file=sys.stderr)
    return {"jxc_s": jxc_s, "raw_s": raw_s, "create_first": counts["first"][0], "submit_first": counts["first"][1],
            "create_last": counts["last"][0], "submit_last": counts["last"][1], "raw_statements": counts["last"][2]}


def sqlite_engines(folder: Path) -> Callable[[str], Engine]:
    return lambda name: create_engine(f"sqlite:///{folder / f'{name}.sqlite'}")


@contextmanager
def postgres_engines(url: str) -> Iterator[Callable[[str], Engine]]:
    admin = sqlalchemy.create_engine(url)
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    made: list[str] = []

    def make(name: str) -> Engine:
        schema = f"{prefix}_{name}"
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        return create_engine(url, connect_args={"options": f"-csearch_path={schema}"})

    try:
        yield make
    finally:
        with admin.begin() as connection:
            for schema in made:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 orders (under a minute)")
    parser.add_argument("--orders", type=int, help="number of orders (default 1000; --quick 100)")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (default $JXC_TEST_PG_URL or local)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the jxc runs to stderr")
    args = parser.parse_args(argv)
    orders = args.orders or (100 if args.quick else 1000)
    if orders <= 10:
        parser.error("--orders must be more than 10 (a submit is measured after 10 orders)")
    app = load_app(APP)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="jxc_doc_bench_") as folder:
        lite = bench_database("sqlite", sqlite_engines(Path(folder)), app, orders, args.profile)
    try:
        with postgres_engines(args.pg_url) as make:
            pg = bench_database("postgresql", make, app, orders, args.profile)
    except sqlalchemy.exc.OperationalError as error:
        raise SystemExit(f"PostgreSQL is not reachable at {args.pg_url} (use --pg-url): {error.orig}") from None

    for name, found in (("SQLite", lite), ("PostgreSQL", pg)):
        print(f"{name:<10}  jxc {found['jxc_s']:7.3f} s  raw {found['raw_s']:7.3f} s  overhead "
              f"{found['jxc_s'] / found['raw_s']:5.2f}x  ({orders / found['jxc_s']:6.0f} vs "
              f"{orders / found['raw_s']:6.0f} orders/s)  statements: create {found['create_first']}/"
              f"{found['create_last']}, submit {found['submit_first']}/{found['submit_last']} (after 10/{orders} "
              f"orders), raw document {found['raw_statements']}")
    result = {
        "benchmark": "documents",
        "orders": orders,
        "lines_per_order": LINES,
        "jxc_sqlite_s": round(lite["jxc_s"], 3),
        "raw_sqlite_s": round(lite["raw_s"], 3),
        "overhead_sqlite": round(lite["jxc_s"] / lite["raw_s"], 2),
        "jxc_pg_s": round(pg["jxc_s"], 3),
        "raw_pg_s": round(pg["raw_s"], 3),
        "overhead_pg": round(pg["jxc_s"] / pg["raw_s"], 2),
        "statements_per_submit": max(lite["submit_last"], pg["submit_last"]),
        "statements_per_create": max(lite["create_last"], pg["create_last"]),
        "statements_per_submit_first": max(lite["submit_first"], pg["submit_first"]),
        "statements_per_submit_last": max(lite["submit_last"], pg["submit_last"]),
        "statements_per_submit_sqlite": lite["submit_last"],
        "statements_per_submit_pg": pg["submit_last"],
        "statements_per_create_sqlite": lite["create_last"],
        "statements_per_create_pg": pg["create_last"],
        "statements_per_raw_document_sqlite": lite["raw_statements"],
        "statements_per_raw_document_pg": pg["raw_statements"],
        "goal_overhead": GOAL_OVERHEAD,
        "goal_statements": GOAL_STATEMENTS,
        "total_s": round(time.perf_counter() - started, 1),
    }
    result["ok"] = (result["overhead_sqlite"] <= GOAL_OVERHEAD and result["overhead_pg"] <= GOAL_OVERHEAD
                    and result["statements_per_submit"] <= GOAL_STATEMENTS
                    and result["statements_per_submit_first"] == result["statements_per_submit_last"])
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
