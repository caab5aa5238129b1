"""Built-in plugin `stock`: the inventory engine. Posts a document's stock effects and reservations when it is
submitted and reverses them when it is cancelled, in the same transaction (engine.stock.posting), and gives
formulas STOCK(), AVAILABLE() and RESERVED() (engine.stock.functions). Apps without `stock:` settings are
left alone.
"""

from __future__ import annotations

from typing import Any

from dsl.formula.functions import FunctionSpec
from engine import hookimpl


def _keeps_stock(session: Any) -> bool:
    return session.app.stock is not None and bool(session.records.schema.stock)


@hookimpl
def jxc_after_submit(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    if _keeps_stock(session):
        from engine.stock.posting import post_document

        post_document(session, connection, entity, record)


@hookimpl
def jxc_after_cancel(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    if _keeps_stock(session):
        from engine.stock.posting import reverse_document

        reverse_document(session, connection, entity, record)


@hookimpl
def jxc_formula_functions() -> list[FunctionSpec]:
    from engine.stock.functions import stock_functions

    return stock_functions()


@hookimpl
def jxc_cli_commands(subparsers: Any) -> None:
    """`jxc stock verify | close-period | trace | balance` (engine.stock.cli), `reorder | count-report`
    (engine.stock.count_cli)."""
    from engine.stock.cli import add_commands
    from engine.stock.count_cli import add_commands as add_count_commands

    add_count_commands(add_commands(subparsers))
