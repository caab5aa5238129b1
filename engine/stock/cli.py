"""`jxc stock ...`: verify the inventory books, close a month, trace a batch, balances as of a date.

Registered by the built-in plugin `stock` (plugins/stock.py, hook jxc_cli_commands):

    jxc stock verify APP [--db URL]                       exit 1 when anything does not add up
    jxc stock close-period APP --until 2026-10-31 [--user NAME] [--db URL]
    jxc stock trace APP --batch NO [--item CODE] [--db URL]
    jxc stock balance APP [--as-of DATE] [--item CODE] [--db URL]

`add_commands` returns the `stock` command's own subparsers so that other stock commands can join them.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.errors import ServiceError
from engine.stock.wording import say

EXIT_OK, EXIT_PROBLEMS = 0, 1


def add_commands(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    stock = subparsers.add_parser(
        "stock", help="inventory: verify the books, close a month, trace a batch, balances as of a date",
        description="Inventory tools for an app that keeps stock (stock: settings in its app.yaml).")
    stock.set_defaults(handler=lambda args: stock.print_help())
    actions = stock.add_subparsers(dest="stock_command", metavar="ACTION", required=True)

    command(actions, "verify", _verify,
             help="check that balances, batches and reservations agree with the stock ledger",
             description="Check that every balance equals the sum of its ledger entries (quantity and value), "
                         "that batches add up, that no stock is negative or over-reserved where that is refused, "
                         "that reservations add up, and that closed months are intact. Exits with 1 and lists "
                         "every mismatch, or says 'all consistent'.")
    close = command(actions, "close-period", _close_period, help="close the stock books up to a month's end",
                     description="Close every day up to --until (the last day of a month that is over): the "
                                 "balances at its end are stored and no stock movement may be dated in it any more. "
                                 "Months close forward only; closing one again or an earlier one is refused.",
                     epilog="Example: jxc stock close-period apps/food --until 2026-10-31")
    close.add_argument("--until", required=True, metavar="DATE", help="the month's last day, e.g. 2026-10-31")
    close.add_argument("--user", metavar="NAME", help="who closes it, kept with the period (default: jxc itself)")
    trace = command(actions, "trace", _trace, help="where a batch came from and where it went (recall list)",
                     description="List the receipts a batch came from (supplier, supplier batch), the documents "
                                 "it went out on and the customers who received it, net of returns.",
                     epilog="Example: jxc stock trace apps/food --batch B20261001 --item F001")
    trace.add_argument("--batch", required=True, metavar="NO", help="the batch number")
    trace.add_argument("--item", metavar="CODE", help="only the batch of this item (its code)")
    balance = command(actions, "balance", _balance, help="stock per item and warehouse, now or as of a date",
                       description="Quantity and value per item and warehouse at the end of a day (from the "
                                   "last closed month and the entries after it), or now.")
    balance.add_argument("--as-of", metavar="DATE", dest="as_of", help="the day, e.g. 2026-10-15 (default: now)")
    balance.add_argument("--item", metavar="CODE", help="only this item (its code)")
    return actions


def command(actions: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace, Any], int],
            **texts: str) -> argparse.ArgumentParser:
    """A `jxc stock` action on APP [--db URL], run with the app started (and closed after), refused for an app
    without stock; the service layer's refusals become the CLI's plain messages."""
    parser = actions.add_parser(name, **texts)
    parser.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    parser.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")
    parser.set_defaults(handler=lambda args: _started(args, run))
    return parser


def _started(args: argparse.Namespace, run: Callable[[argparse.Namespace, Any], int]) -> int:
    from engine.cli import UserError, _open

    started = _open(args)
    try:
        if started.app.stock is None:
            raise UserError(f"{args.app} keeps no stock: its app.yaml has no stock: settings")
        return run(args, started)
    except ServiceError as error:
        raise UserError(error.message) from None
    finally:
        started.close()


def _verify(args: argparse.Namespace, started: Any) -> int:
    from engine.stock.verify import verify

    with started.engine.connect() as connection:
        result = verify(connection, started.app, started.records.schema)
    for line in result.lines():
        print(line)
    return EXIT_OK if result.consistent else EXIT_PROBLEMS


def _close_period(args: argparse.Namespace, started: Any) -> int:
    from engine.stock.periods import close_period
    from engine.users import load_user

    until = _date(args.until, "--until")
    records = started.records
    user = load_user(records.engine, started.app, records.schema, args.user) if args.user else None
    clock = records.clock
    with started.engine.begin() as connection:
        closing = close_period(connection, records.schema.stock, until, today=clock.today(), now=clock.now(),
                               user_id=user.id if user else None)
    locale = started.app.locale
    print(say(locale, f"已结账至 {closing.closed_until}：保存了 {closing.rows} 条期末余额",
              f"closed until {closing.closed_until}: {closing.rows} balances stored"))
    return EXIT_OK


def _trace(args: argparse.Namespace, started: Any) -> int:
    from engine.stock.trace import trace_batch

    with started.engine.connect() as connection:
        item = _item_id(connection, started, args.item) if args.item else None
        trace = trace_batch(connection, started.app, started.records.schema, args.batch, item=item)
    for line in trace.lines():
        print(line)
    return EXIT_OK


def _balance(args: argparse.Namespace, started: Any) -> int:
    from engine.stock.asof import balances_as_of
    from engine.stock.labels import record_labels, text_of

    app, schema = started.app, started.records.schema
    day = _date(args.as_of, "--as-of") if args.as_of else started.records.clock.today()
    with started.engine.connect() as connection:
        item = _item_id(connection, started, args.item) if args.item else None
        rows = balances_as_of(connection, schema.stock, day, item=item, by_batch=False)
        items = record_labels(connection, app, schema.tables, app.stock.item, (row.item for row in rows))
        places = record_labels(connection, app, schema.tables, app.stock.warehouse, (row.warehouse for row in rows))
    locale = app.locale
    print(say(locale, f"{day} 日终库存：", f"stock at the end of {day}:"))
    for row in rows:
        print(f"  {text_of(items.get(row.item), row.item)}  {text_of(places.get(row.warehouse), row.warehouse)}  "
              f"{_number(row.qty)}  {row.value:.2f}")
    total = sum((row.value for row in rows), Decimal(0))
    print(say(locale, f"合计金额 {total:.2f}（{len(rows)} 行）", f"total value {total:.2f} ({len(rows)} rows)"))
    return EXIT_OK


def _item_id(connection: Any, started: Any, code: str) -> int:
    from dsl.problems import did_you_mean
    from engine.cli import UserError

    entity = started.app.entities[started.app.stock.item]
    table = started.records.schema.tables[entity.name]
    locale = started.app.locale
    if not entity.key and not code.isdigit():
        raise UserError(say(locale, f"{entity.label.get(locale)}没有编码字段，请给出它的 id（数字），而不是 {code}",
                            f"{entity.name} has no code field; give its id (a number), not {code}"))
    key = table.c[entity.key] if entity.key else table.c.id
    found = connection.execute(select(table.c.id).where(key == (code if entity.key else int(code)))).scalar()
    if found is None:
        codes = connection.execute(select(key).limit(10_000)).scalars().all() if entity.key else []
        hint = did_you_mean(code, [str(c) for c in codes])
        raise UserError(say(locale, f"没有编码为 {code} 的{entity.label.get(locale)}", f"there is no {entity.name} "
                            f"with code {code}") + (f" ({hint})" if hint else ""))
    return int(found)


def _date(text: str, option: str) -> dt.date:
    from engine.cli import UserError

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} must be a date like 2026-10-31, not '{text}'") from None


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
