"""Formula functions over the live stock: STOCK(item[, warehouse]), AVAILABLE(...), RESERVED(...).

They read jxc_stock_balance in the caller's transaction (the context's connection), so a validation sees
the stock as it is at that moment, this transaction's own postings included. Without a warehouse they add
up every warehouse. Registered by the built-in plugin `stock` (hook jxc_formula_functions).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, column, func, literal_column, select, table, type_coerce

from dsl.formula import types as t
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.functions import Accepts, FunctionSpec, Param
from dsl.messages import Message

ZERO = Decimal(0)


def _total(context: Any, column: str, item: Any, warehouse: Any = None) -> Decimal:
    connection = getattr(context, "connection", None)
    if connection is None:
        raise FormulaRuntimeError("stock functions need the running system (a database connection)")
    balance = context.table("stock_balance")
    query = select(func.sum(balance.c[column]) if column != "available" else
                   func.sum(balance.c.on_hand) - func.sum(balance.c.reserved)).where(balance.c.item == _id(item))
    if warehouse is not None:
        query = query.where(balance.c.warehouse == _id(warehouse))
    return connection.execute(query).scalar() or ZERO


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def stock(context: Any, item: Any, warehouse: Any = None) -> Decimal:
    return _total(context, "on_hand", item, warehouse)


def reserved(context: Any, item: Any, warehouse: Any = None) -> Decimal:
    return _total(context, "reserved", item, warehouse)


def available(context: Any, item: Any, warehouse: Any = None) -> Decimal:
    return stock(context, item, warehouse) - reserved(context, item, warehouse)


# a link field, or a record's own id (an alert over items: STOCK(id) < safety_stock)
_KEY = Accepts(Message("a record (a link field) or an id"), lambda v: v.kind in (t.Kind.RECORD, t.Kind.INT))
_PARAMS = (Param("item", _KEY), Param("warehouse", _KEY, optional=True))
_BALANCE = table("jxc_stock_balance", column("item"), column("warehouse"), column("on_hand"), column("reserved"))


def _pg_form(column_name: str) -> Any:
    """PostgreSQL: a correlated subquery over the balances, so alerts and lists filter on stock set-wise."""

    def form(args: list[Any], _nodes: Any) -> Any:
        amount = _BALANCE.c.on_hand - _BALANCE.c.reserved if column_name == "available" else _BALANCE.c[column_name]
        query = select(func.coalesce(func.sum(amount), literal_column("0"))).where(_BALANCE.c.item == args[0])
        if len(args) > 1:
            query = query.where(_BALANCE.c.warehouse == args[1])
        return type_coerce(query.scalar_subquery(), Numeric(asdecimal=True))

    return form


def stock_functions() -> list[FunctionSpec]:
    return [
        FunctionSpec("STOCK", _PARAMS, t.DECIMAL, stock, "On hand of an item (in one warehouse, or in all).",
                     "STOCK(item, parent.warehouse) → 120", needs_context=True, volatile=True,
                     sql={"postgresql": _pg_form("on_hand")}),
        FunctionSpec("AVAILABLE", _PARAMS, t.DECIMAL, available,
                     "On hand less what is reserved, of an item (in one warehouse, or in all).",
                     "qty <= AVAILABLE(item, parent.warehouse)", needs_context=True, volatile=True,
                     sql={"postgresql": _pg_form("available")}),
        FunctionSpec("RESERVED", _PARAMS, t.DECIMAL, reserved,
                     "What is reserved of an item for documents not yet fulfilled (in one warehouse, or in all).",
                     "RESERVED(item) → 20", needs_context=True, volatile=True,
                     sql={"postgresql": _pg_form("reserved")}),
    ]
