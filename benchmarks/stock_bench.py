"""Stock: goods receipts and deliveries posted through jxc's service layer vs hand-written SQLAlchemy Core;
as-of-date balances over a long ledger; a backdated receipt vs a current one.

apps/discrete_mfg, one warehouse, ITEMS items (no batches), a supplier and a customer; on a SQLite file in a
temporary folder and on PostgreSQL in fresh schemas dropped afterwards:

1. Documents (N = 1000; --quick 50): N goods receipts, then N sales shipments, of 5 lines each (after WARMUP of
   each posted untimed on both sides, as a running server has compiled its statements already), through
   `session.create(..., submit=True)` (save and submit: one transaction per document; the stock is posted in
   it: ledger rows, balances locked and updated, moving-average cost). receipts_per_s, deliveries_per_s.
   The baseline is what a hand-written app must do for the same books, one transaction per document: the
   header, its lines (executemany), the same ledger rows (executemany) and the balance rows updated (one
   executemany; a shipment reads the balances for its cost first). overhead_vs_raw = jxc / raw receipts time,
   SQLite and PostgreSQL in turns of 10 documents so a busy machine slows both alike; the larger is reported.
   statements_per_submit: what `session.submit` of one 5-line draft receipt sends (a before_cursor_execute
   listener; BEGIN included), with the whole history in place. receipt_cpu_ms_sqlite: the process's CPU time
   per receipt on SQLite (the database works in-process), which a machine shared with other work does not
   inflate the way it inflates wall-clock rates.
2. As-of (1,000,000 ledger rows; --quick 50,000): the rows are bulk-inserted (the point is reading them),
   spread over the 12 months before this one for ASOF_ITEMS items; months are closed the way an accountant
   does (jxc's close_period, untimed). asof_all_items_ms: every item's balance as of a day this month (the
   last closing plus the entries after it), best of 3. asof_no_closing_ms: the same with nothing closed (the
   whole ledger read), for comparison.
3. Backdated: one item gets BACKDATED_LATER entries (bulk, --quick 10,000) dated after a day D this month,
   then 1-line receipts dated D and dated today are posted in turns (5 each, --quick 3; median):
   backdated_ratio = backdated / current (goal <= 5: the cost must not grow with the history). The later
   entries alternate receipts of 2 and issues of 1, so every later issue's moving-average cost changes;
   backdated_ratio_receipts_only is the same with only receipts after the day; backdated_ratio_closed_history
   puts the entries in the 12 months before this one and closes them (what is after the day is only the
   documents of part 1): the cost must not grow with a long, closed history.

The last line printed is a JSON object. `--profile` prints where jxc's receipt time goes (cProfile, SQLite).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import pstats
import statistics
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
from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.engine import Engine

from dsl.loader import load_app
from dsl.model import App
from engine.context import SYSTEM, Clock
from engine.db import create_engine
from engine.migrate import migrate
from engine.records import Records

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "apps" / "discrete_mfg"
PG_URL = os.environ.get("JXC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOALS = {"receipts_per_s_sqlite": 150, "statements_per_submit": 40, "overhead_vs_raw": 3.0,
         "asof_all_items_ms": 1000, "backdated_ratio": 5.0}
LINES = 5
CHUNK = 10
WARMUP = 10  # documents of each kind posted untimed first, on both sides
ITEMS = 50
ASOF_ITEMS = 1000
CENT = Decimal("0.01")
RATE = Decimal("0.000001")


# --- master data and the documents -----------------------------------------------------------------------------


def master_data(records: Records) -> dict[str, Any]:
    session = records.system()
    warehouse = session.create("warehouse", {"code": "WH", "name": "成品库"})["id"]
    supplier = session.create("supplier", {"code": "S1", "name": "宁波钢材"})["id"]
    customer = session.create("customer", {"code": "C1", "name": "台州汽配"})["id"]
    items = [session.create("item", {"code": f"I{number:04d}", "name": f"物料{number}", "purchase_price": "2.00"}
                            )["id"] for number in range(1, ITEMS + 1)]
    return {"warehouse": warehouse, "supplier": supplier, "customer": customer, "items": items}


def receipts(data: dict[str, Any], count: int) -> list[dict[str, Any]]:
    items = data["items"]
    return [{"warehouse": data["warehouse"], "supplier": data["supplier"], "remark": f"bench {number}",
             "lines": [{"item": items[(number * 7 + line * 11) % len(items)], "qty": str(10 + (number + line) % 20),
                        "unit_cost": f"{2 + (number + line) % 5}.{(number * 3 + line) % 100:02d}"}
                       for line in range(LINES)]} for number in range(count)]


def shipments(data: dict[str, Any], count: int) -> list[dict[str, Any]]:
    items = data["items"]
    return [{"warehouse": data["warehouse"], "customer": data["customer"], "contract_no": f"HT-{number:05d}",
             "lines": [{"item": items[(number * 7 + line * 11) % len(items)], "qty": str(1 + (number + line) % 5)}
                       for line in range(LINES)]} for number in range(count)]


def run_jxc(records: Records, entity: str, documents: list[dict[str, Any]]) -> None:
    session = records.system()
    for values in documents:
        session.create(entity, values, submit=True)


# --- the hand-written app ---------------------------------------------------------------------------------------


class Raw:
    """Posts the same receipts and shipments the way a hand-written app would: no checks, no audit."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.schema = records.schema
        self.number = 0
        stock = self.schema.stock
        self.ledger, self.balance = stock["ledger"], stock["balance"]
        self.set_balance = update(self.balance).where(self.balance.c.id == bindparam("row_id")).values(
            on_hand=bindparam("on_hand"), available=bindparam("on_hand"), value=bindparam("value"))
        self.rows: dict[int, int] = {}  # item → balance row id

    def install(self, data: dict[str, Any]) -> None:
        with self.records.engine.begin() as connection:
            for item in data["items"]:
                self.rows[item] = connection.execute(insert(self.balance).values(
                    item=item, warehouse=data["warehouse"], batch_key=0, on_hand=0, reserved=0, available=0,
                    value=0).returning(self.balance.c.id)).scalar_one()

    def post(self, entity: str, documents: list[dict[str, Any]]) -> None:
        header, lines = self.schema.tables[entity], self.schema.tables[f"{entity}_lines"]
        sign = 1 if entity == "goods_receipt" else -1
        for values in documents:
            now = self.records.clock.now()
            self.number += 1
            rows = [{"idx": idx, "item": line["item"], "qty": Decimal(line["qty"]),
                     **({"unit_cost": Decimal(line["unit_cost"]),
                         "amount": _money(Decimal(line["qty"]) * Decimal(line["unit_cost"]))} if sign > 0 else {})}
                    for idx, line in enumerate(values["lines"], start=1)]
            extra = {"receipt_date": now.date(), "supplier": values["supplier"],
                     "total": sum((row["amount"] for row in rows), Decimal(0))} if sign > 0 else {
                "ship_date": now.date(), "customer": values["customer"], "contract_no": values["contract_no"]}
            with self.records.engine.begin() as connection:
                document = connection.execute(insert(header).values(
                    doc_no=f"RAW-{self.number:06d}", docstatus="submitted", created_at=now, modified_at=now,
                    version=2, warehouse=values["warehouse"], **extra).returning(header.c.id)).scalar_one()
                for row in rows:
                    row["parent_id"] = document
                connection.execute(insert(lines), rows)
                ids = sorted({row["item"] for row in rows})
                held = {row.item: row for row in connection.execute(
                    select(self.balance.c.item, self.balance.c.on_hand, self.balance.c.value)
                    .where(self.balance.c.id.in_([self.rows[item] for item in ids])))}
                qty = {item: held[item].on_hand for item in ids}
                value = {item: held[item].value for item in ids}
                entries = []
                for row in rows:
                    item = row["item"]
                    if sign > 0:
                        cost, change = row["unit_cost"], row["amount"]
                    else:
                        cost = (value[item] / qty[item]).quantize(RATE) if qty[item] else Decimal(0)
                        change = -_money(row["qty"] * cost)
                    qty[item] += sign * row["qty"]
                    value[item] += change
                    entries.append({"posted_at": now, "item": item, "warehouse": values["warehouse"],
                                    "qty": sign * row["qty"], "unit_cost": cost, "value_change": change,
                                    "source_entity": entity, "source_id": document, "source_line": row["idx"],
                                    "created_at": now})
                connection.execute(insert(self.ledger), _ledger_rows(self.ledger, entries))
                connection.execute(self.set_balance, [{"row_id": self.rows[item], "on_hand": qty[item],
                                                       "value": value[item]} for item in ids])


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _ledger_rows(ledger: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with every column of the ledger present (NULL where the row says nothing)."""
    names = [column.name for column in ledger.columns if column.name != "id"]
    return [{name: row.get(name) for name in names} for row in rows]


# --- measuring ---------------------------------------------------------------------------------------------------


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


def timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def started(app: App, engine: Engine, clock: Clock) -> Records:
    migrate(app, engine)
    return Records(app, engine, clock=clock)


def documents_bench(app: App, make_engine: Callable[[str], Engine], count: int, profile: bool) -> dict[str, Any]:
    clock = Clock(app.timezone)
    jxc, raw_records = started(app, make_engine("jxc"), clock), started(app, make_engine("raw"), clock)
    data, raw_data = master_data(jxc), master_data(raw_records)
    raw = Raw(raw_records)
    raw.install(raw_data)
    profiler = cProfile.Profile() if profile else None
    result: dict[str, Any] = {}
    for entity, make in (("goods_receipt", receipts), ("sales_shipment", shipments)):
        planned, raw_planned = make(data, count + WARMUP), make(raw_data, count + WARMUP)
        raw.post(entity, raw_planned[:WARMUP])  # untimed: a running server has its statements compiled already
        run_jxc(jxc, entity, planned[:WARMUP])
        planned, raw_planned = planned[WARMUP:], raw_planned[WARMUP:]
        jxc_s = raw_s = jxc_cpu = raw_cpu = 0.0
        gc.collect()
        for start in range(0, count, CHUNK):
            cpu = time.process_time()
            raw_s += timed(lambda s=start, e=entity, p=raw_planned: raw.post(e, p[s:s + CHUNK]))
            raw_cpu += time.process_time() - cpu
            if profiler and entity == "goods_receipt":
                profiler.enable()
            cpu = time.process_time()
            jxc_s += timed(lambda s=start, e=entity, p=planned: run_jxc(jxc, e, p[s:s + CHUNK]))
            jxc_cpu += time.process_time() - cpu
            if profiler:
                profiler.disable()
        result[entity] = {"jxc_s": jxc_s, "raw_s": raw_s, "jxc_cpu_ms": round(jxc_cpu / count * 1000, 2),
                          "raw_cpu_ms": round(raw_cpu / count * 1000, 2)}
    same_books(jxc, raw_records)
    session = jxc.system()
    draft = session.create("goods_receipt", receipts(data, 1)[0])
    with counting(jxc.engine) as statements:
        session.submit("goods_receipt", draft["id"], version=draft["version"])
    result["statements_per_submit"] = len(statements)
    with counting(jxc.engine) as statements:
        session.create("goods_receipt", receipts(data, 1)[0], submit=True)
    result["statements_per_save_and_submit"] = len(statements)
    result["backdated"] = backdated_bench(jxc, data, data["items"][0], kind="mixed")
    result["backdated_receipts_only"] = backdated_bench(jxc, data, data["items"][1], kind="receipts")
    result["backdated_closed_history"] = backdated_bench(jxc, data, data["items"][2], kind="history")
    if profiler:
        for order, top in (("cumulative", 50), ("tottime", 30)):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
            print(f"--- cProfile of jxc's receipts ({order}) ---\n{out.getvalue()}", file=sys.stderr)
    jxc.engine.dispose()
    raw_records.engine.dispose()
    return result


def same_books(jxc: Records, raw: Records) -> None:
    """Both sides must end with the same stock per item, else the timing compares different work."""
    def books(records: Records) -> list[tuple[Any, ...]]:
        balance = records.schema.stock["balance"]
        with records.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                select(balance.c.item, func.sum(balance.c.on_hand, type_=balance.c.on_hand.type))
                .group_by(balance.c.item).order_by(balance.c.item))]
    mine, theirs = books(jxc), books(raw)
    if mine != theirs:
        raise SystemExit(f"jxc and the hand-written baseline disagree on the stock:\n  jxc {mine}\n  raw {theirs}")


# --- backdated ------------------------------------------------------------------------------------------------


def backdated_bench(records: Records, data: dict[str, Any], item: int, *, kind: str) -> dict[str, Any]:
    """BACKDATED_LATER bulk entries for `item` (alternately +2 and -1, or all +2 for kind "receipts"), dated
    after a day D this month ("mixed", "receipts") or over the 12 months before this one, which are then
    closed ("history": the later entries are only today's documents). Then receipts dated D and today."""
    effect = records.app.entities["goods_receipt"].stock[0]
    if effect.date is None:
        return {"note": "goods_receipt's stock effect has no date: formula; backdating is not possible"}
    warehouse = data["warehouse"]
    now = records.clock.now()
    day = now.date().replace(day=1) if now.day > 2 else now.date() - dt.timedelta(days=1)
    first = dt.datetime.combine(day, dt.time(23, 59, 59)) + dt.timedelta(seconds=1)
    if kind == "history":
        last = now.date().replace(day=1) - dt.timedelta(days=1)
        first = dt.datetime.combine((last - dt.timedelta(days=364)).replace(day=1), dt.time())
        span = (dt.datetime.combine(last, dt.time(23, 59)) - first).total_seconds()
    else:
        span = (now - first).total_seconds() - 1
    entries = []
    for number in range(BACKDATED_LATER):
        qty = Decimal(2) if number % 2 == 0 or kind == "receipts" else Decimal(-1)
        entries.append({"posted_at": first + dt.timedelta(seconds=span * number / BACKDATED_LATER), "item": item,
                        "warehouse": warehouse, "qty": qty, "unit_cost": Decimal(2), "value_change": qty * 2,
                        "source_entity": "bench", "source_id": number, "created_at": now})
    stock = records.schema.stock
    ledger, balance = stock["ledger"], stock["balance"]
    with records.engine.begin() as connection:
        for start in range(0, BACKDATED_LATER, 10_000):
            connection.execute(insert(ledger), _ledger_rows(ledger, entries[start:start + 10_000]))
        net = sum((entry["qty"] for entry in entries), Decimal(0))
        connection.execute(update(balance).where(balance.c.item == item, balance.c.warehouse == warehouse,
                                                 balance.c.batch_key == 0)
                           .values(on_hand=balance.c.on_hand + net, available=balance.c.available + net,
                                   value=balance.c.value + net * 2))
        if kind == "history":
            from engine.stock.periods import close_period

            close_period(connection, stock, last, today=now.date(), now=now)
        after_day = (ledger.c.item == item, ledger.c.warehouse == warehouse,
                     ledger.c.posted_at > dt.datetime.combine(day, dt.time(23, 59, 59)))
        later = connection.execute(select(func.count()).select_from(ledger).where(*after_day)).scalar_one()
        later_issues = connection.execute(select(func.count()).select_from(ledger).where(
            *after_day, ledger.c.qty < 0)).scalar_one()
    session = records.system()

    def receipt(on: dt.date) -> float:
        values = {"warehouse": warehouse, "supplier": data["supplier"], "receipt_date": on.isoformat(),
                  "lines": [{"item": item, "qty": "3", "unit_cost": "2.50"}]}
        return timed(lambda: session.create("goods_receipt", values, submit=True))

    backdated, current = [], []
    for _ in range(BACKDATED_RUNS):
        backdated.append(receipt(day))
        current.append(receipt(now.date()))
    return {"later_entries": later, "later_issues": later_issues, "entries": BACKDATED_LATER,
            "backdated_ms": round(statistics.median(backdated) * 1000, 2),
            "current_ms": round(statistics.median(current) * 1000, 2),
            "ratio": round(statistics.median(backdated) / statistics.median(current), 2)}


# --- as of --------------------------------------------------------------------------------------------------


def asof_bench(app: App, engine: Engine, rows: int) -> dict[str, Any]:
    from engine.stock.asof import balances_as_of
    from engine.stock.periods import close_period

    clock = Clock(app.timezone)
    records = started(app, engine, clock)
    data = master_data(records)
    items = clone_items(records, data["items"][0], ASOF_ITEMS)
    ledger = records.schema.stock["ledger"]
    today = clock.today()
    start = (today.replace(day=1) - dt.timedelta(days=365)).replace(day=1)
    seconds = (dt.datetime.combine(today, dt.time()) - dt.datetime.combine(start, dt.time())).total_seconds()
    now = clock.now()
    with records.engine.begin() as connection:
        batch: list[dict[str, Any]] = []
        for number in range(rows):
            qty = Decimal(5) if number % 3 else Decimal(-2)
            batch.append({"posted_at": dt.datetime.combine(start, dt.time()) + dt.timedelta(
                seconds=int(seconds * number / rows)), "item": items[number % len(items)],
                "warehouse": data["warehouse"], "qty": qty, "unit_cost": Decimal(2), "value_change": qty * 2,
                "source_entity": "bench", "source_id": number, "created_at": now})
            if len(batch) == 20_000:
                connection.execute(insert(ledger), _ledger_rows(ledger, batch))
                batch = []
        if batch:
            connection.execute(insert(ledger), _ledger_rows(ledger, batch))
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql(f"ANALYZE {ledger.name}")

    def best(day: dt.date) -> tuple[float, int]:
        times, found = [], 0
        for _ in range(3):
            with engine.connect() as connection:
                begin = time.perf_counter()
                found = len(balances_as_of(connection, records.schema.stock, day, by_batch=False))
                times.append(time.perf_counter() - begin)
        return min(times) * 1000, found

    no_closing, _ = best(today)
    month = start
    while True:
        end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        if end >= today:
            break
        with engine.begin() as connection:
            close_period(connection, records.schema.stock, end, today=today, now=now, user_id=SYSTEM.id)
        month = end + dt.timedelta(days=1)
    closed, found = best(today)
    engine.dispose()
    return {"rows": rows, "items": len(items), "asof_ms": round(closed, 1), "no_closing_ms": round(no_closing, 1),
            "balances": found}


def clone_items(records: Records, template_id: int, count: int) -> list[int]:
    """`count` items copied from one made through the service layer (bulk: the as-of data set is big)."""
    table = records.schema.tables["item"]
    with records.engine.begin() as connection:
        template = dict(connection.execute(select(table).where(table.c.id == template_id)).mappings().one())
        template.pop("id")
        connection.execute(insert(table), [{**template, "code": f"ASOF{number:05d}", "name": f"物料{number}"}
                                           for number in range(count)])
        return list(connection.execute(select(table.c.id).where(table.c.code.like("ASOF%"))).scalars())


# --- databases ----------------------------------------------------------------------------------------------


def sqlite_engines(folder: Path) -> Callable[[str], Engine]:
    return lambda name: create_engine(f"sqlite:///{folder / f'{name}.sqlite'}")


@contextmanager
def postgres_engines(url: str) -> Iterator[Callable[[str], Engine]]:
    from engine.db import prepare_database

    admin = sqlalchemy.create_engine(url)
    prefix = f"stock_bench_{uuid.uuid4().hex[:8]}"
    made: list[str] = []

    def make(name: str) -> Engine:
        schema = f"{prefix}_{name}"
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        prepare_database(engine)
        return engine

    try:
        yield make
    finally:
        with admin.begin() as connection:
            for schema in made:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


BACKDATED_LATER = 100_000
BACKDATED_RUNS = 5


def main(argv: list[str] | None = None) -> int:
    global BACKDATED_LATER, BACKDATED_RUNS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer documents and ledger rows (under a minute)")
    parser.add_argument("--documents", type=int, help="receipts and shipments each (default 1000; --quick 50)")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (default $JXC_TEST_PG_URL or local)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of jxc's receipts to stderr")
    args = parser.parse_args(argv)
    count = args.documents or (50 if args.quick else 1000)
    asof_rows = 50_000 if args.quick else 1_000_000
    BACKDATED_LATER = 10_000 if args.quick else 100_000
    BACKDATED_RUNS = 3 if args.quick else 5
    app = load_app(APP)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jxc_stock_bench_") as folder:
        make = sqlite_engines(Path(folder))
        lite = documents_bench(app, make, count, args.profile)
        lite_asof = asof_bench(app, make("asof"), asof_rows)
    try:
        with postgres_engines(args.pg_url) as make:
            pg = documents_bench(app, make, count, False)
            pg_asof = asof_bench(app, make("asof"), asof_rows)
    except sqlalchemy.exc.OperationalError as error:
        raise SystemExit(f"PostgreSQL is not reachable at {args.pg_url} (use --pg-url): {error.orig}") from None

    def rate(found: dict[str, Any], entity: str) -> float:
        return round(count / found[entity]["jxc_s"], 1)

    def overhead(found: dict[str, Any], entity: str) -> float:
        return round(found[entity]["jxc_s"] / found[entity]["raw_s"], 2)

    for name, found, asof in (("SQLite", lite, lite_asof), ("PostgreSQL", pg, pg_asof)):
        print(f"{name:<10}  receipts {rate(found, 'goods_receipt'):6.1f}/s (raw "
              f"{count / found['goods_receipt']['raw_s']:6.1f}/s, overhead {overhead(found, 'goods_receipt'):.2f}x)  "
              f"shipments {rate(found, 'sales_shipment'):6.1f}/s (overhead {overhead(found, 'sales_shipment'):.2f}x)"
              f"  submit {found['statements_per_submit']} statements  CPU per receipt "
              f"{found['goods_receipt']['jxc_cpu_ms']} ms (raw {found['goods_receipt']['raw_cpu_ms']} ms)  as-of "
              f"{asof['asof_ms']} ms ({asof['no_closing_ms']} ms unclosed)  backdated {found['backdated']}, receipts "
              f"only after it {found['backdated_receipts_only']}, history closed {found['backdated_closed_history']}")
    result: dict[str, Any] = {
        "benchmark": "stock",
        "quick": args.quick,
        "documents": count,
        "lines_per_document": LINES,
        "receipts_per_s_sqlite": rate(lite, "goods_receipt"),
        "receipts_per_s_pg": rate(pg, "goods_receipt"),
        "deliveries_per_s_sqlite": rate(lite, "sales_shipment"),
        "deliveries_per_s_pg": rate(pg, "sales_shipment"),
        "statements_per_submit": max(lite["statements_per_submit"], pg["statements_per_submit"]),
        "statements_per_save_and_submit": max(lite["statements_per_save_and_submit"],
                                              pg["statements_per_save_and_submit"]),
        "receipt_cpu_ms_sqlite": lite["goods_receipt"]["jxc_cpu_ms"],
        "raw_receipt_cpu_ms_sqlite": lite["goods_receipt"]["raw_cpu_ms"],
        "receipts_per_cpu_s_sqlite": round(1000 / lite["goods_receipt"]["jxc_cpu_ms"], 1),
        "overhead_vs_raw_sqlite": overhead(lite, "goods_receipt"),
        "overhead_vs_raw_pg": overhead(pg, "goods_receipt"),
        "overhead_vs_raw": max(overhead(lite, "goods_receipt"), overhead(pg, "goods_receipt")),
        "delivery_overhead_vs_raw": max(overhead(lite, "sales_shipment"), overhead(pg, "sales_shipment")),
        "asof_ledger_rows": asof_rows,
        "asof_items": lite_asof["items"],
        "asof_all_items_ms_sqlite": lite_asof["asof_ms"],
        "asof_all_items_ms_pg": pg_asof["asof_ms"],
        "asof_all_items_ms": max(lite_asof["asof_ms"], pg_asof["asof_ms"]),
        "asof_no_closing_ms_sqlite": lite_asof["no_closing_ms"],
        "asof_no_closing_ms_pg": pg_asof["no_closing_ms"],
        "backdated_later_entries": BACKDATED_LATER,
        "backdated_sqlite": lite["backdated"],
        "backdated_pg": pg["backdated"],
        "backdated_sqlite_receipts_only": lite["backdated_receipts_only"],
        "backdated_pg_receipts_only": pg["backdated_receipts_only"],
        "backdated_ratio": max((found["backdated"].get("ratio") or 0) for found in (lite, pg)) or None,
        "backdated_ratio_case": "the issue's case: an item whose later entries are receipts and issues, as an "
                                "item's ledger has (every later issue revalued); the other cases are the keys "
                                "backdated_ratio_receipts_only and backdated_ratio_closed_history",
        "backdated_ratio_receipts_only": max((found["backdated_receipts_only"].get("ratio") or 0)
                                             for found in (lite, pg)) or None,
        "backdated_sqlite_closed_history": lite["backdated_closed_history"],
        "backdated_pg_closed_history": pg["backdated_closed_history"],
        "backdated_ratio_closed_history": max((found["backdated_closed_history"].get("ratio") or 0)
                                              for found in (lite, pg)) or None,
        "goals": GOALS,
        "total_s": round(time.perf_counter() - began, 1),
    }
    result["ok"] = all(result[name] is not None and (result[name] >= goal if name.endswith("_per_s_sqlite")
                                                      else result[name] <= goal) for name, goal in GOALS.items())
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
