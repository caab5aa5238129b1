"""Formula functions over the live stock: STOCK(item[, warehouse]), AVAILABLE(...), RESERVED(...).

They read jxc_stock_balance in the caller's transaction (the context's connection), so a validation sees
the stock as it is at that moment, this transaction's own postings included. Without a warehouse they add
up every warehouse. Registered by the built-in plugin `stock` (hook jxc_formula_functions).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from dsl.formula import types as t
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.functions import RECORD, FunctionSpec, Param

ZERO = Decimal(0)


def _total(context: Any, column: str, item: Any, warehouse: Any = None) -> Decimal:
    connection = getattr(context, "connection", None)
    if connection is None:
        raise FormulaRuntimeError("stock functions need the running system (a database connection)")
    table = context.table("stock_balance")
    query = select(func.sum(table.c[column]) if column != "available" else
                   func.sum(table.c.on_hand) - func.sum(table.c.reserved)).where(table.c.item == _id(item))
    if warehouse is not None:
        query = query.where(table.c.warehouse == _id(warehouse))
    return connection.execute(query).scalar() or ZERO


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def stock(context: Any, item: Any, warehouse: Any = None) -> Decimal:
    return _total(context, "on_hand", item, warehouse)


def reserved(context: Any, item: Any, warehouse: Any = None) -> Decimal:
    return _total(context, "reserved", item, warehouse)


def available(context: Any, item: Any, warehouse: Any = None) -> Decimal:
    return stock(context, item, warehouse) - reserved(context, item, warehouse)


_PARAMS = (Param("item", RECORD), Param("warehouse", RECORD, optional=True))


def stock_functions() -> list[FunctionSpec]:
    return [
        FunctionSpec("STOCK", _PARAMS, t.DECIMAL, stock, "On hand of an item (in one warehouse, or in all).",
                     "STOCK(item, parent.warehouse) → 120", needs_context=True, volatile=True),
        FunctionSpec("AVAILABLE", _PARAMS, t.DECIMAL, available,
                     "On hand less what is reserved, of an item (in one warehouse, or in all).",
                     "qty <= AVAILABLE(item, parent.warehouse)", needs_context=True, volatile=True),
        FunctionSpec("RESERVED", _PARAMS, t.DECIMAL, reserved,
                     "What is reserved of an item for documents not yet fulfilled (in one warehouse, or in all).",
                     "RESERVED(item) → 20", needs_context=True, volatile=True),
    ]
