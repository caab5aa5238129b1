"""What each database needs before compiled formulas can run in it.

SQLite: jxc registers its Python functions on every connection (dsl.formula.runtime), so that decimal
arithmetic, dates and text functions give exactly the Python results. PostgreSQL: a PL/pgSQL function
jxc_raise(message) lets a formula stop with a clear error (division by zero) in SQL, and jxc_power(x, n)
raises to a whole power exactly.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dsl.formula import runtime as rt
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.functions import Registry

RAISE_SQLSTATE = "JX001"
POSTGRES_SUPPORT = f"""
CREATE OR REPLACE FUNCTION jxc_raise(message text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = message, ERRCODE = '{RAISE_SQLSTATE}';
END
$$;
CREATE OR REPLACE FUNCTION jxc_power(base numeric, n integer) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE result numeric := 1;
BEGIN
  FOR i IN 1..n LOOP result := result * base; END LOOP;
  RETURN result;
END
$$;
CREATE OR REPLACE FUNCTION jxc_power(base bigint, n integer) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE result bigint := 1;
BEGIN
  FOR i IN 1..n LOOP result := result * base; END LOOP;
  RETURN result;
END
$$;
"""


def install_postgres_support(connection: Connection) -> None:
    """Create jxc's helper function in the connection's current schema (idempotent)."""
    connection.execute(text(POSTGRES_SUPPORT))


# --- SQLite ---------------------------------------------------------------------------------------------

_last_error = threading.local()


def _remember(error: Exception) -> None:
    _last_error.value = error


def translate_database_error(error: BaseException) -> FormulaRuntimeError | None:
    """The formula error behind a database error raised while running compiled SQL, if it is one."""
    original = getattr(error, "orig", error)
    sqlstate = getattr(original, "sqlstate", None) or getattr(getattr(original, "diag", None), "sqlstate", None)
    if sqlstate == RAISE_SQLSTATE:
        message = getattr(getattr(original, "diag", None), "message_primary", None) or str(original)
        return FormulaRuntimeError(message)
    if isinstance(original, sqlite3.OperationalError) and "user-defined function raised" in str(original):
        remembered = getattr(_last_error, "value", None)
        _last_error.value = None
        if isinstance(remembered, FormulaRuntimeError):
            return remembered
        return FormulaRuntimeError(str(remembered) if remembered else "a formula function failed")
    if isinstance(original, sqlite3.OperationalError) and "integer overflow" in str(original):
        return FormulaRuntimeError("a whole number is too large (more than 18 digits)")
    return None


# SQLite hands functions its own values: decimals arrive as jxc's canonical text or as integers, dates as
# ISO text, booleans as 0/1. Kinds: d decimal, i int, t text, b bool, D date, T datetime, x any.
def _to_python(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "d":
        if isinstance(value, float):
            raise FormulaRuntimeError("a float reached a decimal formula; this is a bug in jxc")
        return value if isinstance(value, int) else Decimal(value)
    if kind == "i":
        return int(value) if not isinstance(value, str) else int(Decimal(value))
    if kind == "b":
        return bool(value)
    if kind == "D":
        return dt.date.fromisoformat(value[:10])
    if kind == "T":
        return dt.datetime.fromisoformat(value)
    return value


def to_sqlite(value: Any) -> Any:
    """A Python result as SQLite should hold it inside an expression."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return rt.number_text(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        try:
            return function(*args)
        except FormulaRuntimeError as error:
            _remember(error)
            raise
        except (ArithmeticError, ValueError, TypeError, OverflowError, InvalidOperation) as error:
            _remember(FormulaRuntimeError(str(error) or type(error).__name__))
            raise

    return run


def _decimal_operation(operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        return to_sqlite(operation(_to_python("d", a), _to_python("d", b)))

    return run


def _unscale(value: Any, scale: int) -> Any:
    if value is None:
        return None
    return rt.number_text(Decimal(int(value)).scaleb(-scale))


def _canonical(value: Any) -> Any:
    if value is None:
        return None
    return rt.number_text(_to_python("d", value))


def _compare(a: Any, b: Any) -> int | None:
    if a is None or b is None:
        return None
    x, y = _to_python("d", a), _to_python("d", b)
    return (x > y) - (x < y)


class _DecimalAggregate:
    def __init__(self) -> None:
        self.values: list[Decimal | int] = []

    def step(self, value: Any) -> None:
        if value is not None:
            self.values.append(_to_python("d", value))


class _Sum(_DecimalAggregate):
    def finalize(self) -> Any:
        total: Decimal | int = 0
        for value in self.values:
            total = rt.add(total, value)
        return to_sqlite(Decimal(total))


class _Avg(_DecimalAggregate):
    def finalize(self) -> Any:
        if not self.values:
            return None
        total: Decimal | int = 0
        for value in self.values:
            total = rt.add(total, value)
        try:
            return to_sqlite(rt.divide(total, len(self.values)))
        except FormulaRuntimeError as error:  # pragma: no cover - count is never zero here
            _remember(error)
            raise


class _Min(_DecimalAggregate):
    def finalize(self) -> Any:
        return to_sqlite(Decimal(min(self.values))) if self.values else None


class _Max(_DecimalAggregate):
    def finalize(self) -> Any:
        return to_sqlite(Decimal(max(self.values))) if self.values else None


def _caller(registry: Registry) -> Callable[..., Any]:
    def call(name: str, kinds: str, *args: Any) -> Any:
        spec = registry.get(name)
        if spec is None or spec.needs_context:
            raise FormulaRuntimeError(f"the function {name} cannot run inside SQLite")
        values = [_to_python(kind, value) for kind, value in zip(kinds, args, strict=True)]
        if spec.propagate_null and any(v is None for v in values):
            return None
        return to_sqlite(spec.python(*values))

    return call


def install_sqlite_functions(connection: sqlite3.Connection, registry: Registry) -> None:
    """Register jxc's functions on one SQLite DB-API connection (call it from a `connect` event)."""
    functions: dict[str, tuple[int, Callable[..., Any]]] = {
        "jxc_add": (2, _decimal_operation(rt.add)),
        "jxc_sub": (2, _decimal_operation(rt.subtract)),
        "jxc_mul": (2, _decimal_operation(rt.multiply)),
        "jxc_div": (2, _decimal_operation(rt.divide)),
        "jxc_neg": (1, lambda a: None if a is None else to_sqlite(-Decimal(_to_python("d", a)))),
        "jxc_pct": (1, lambda a: None if a is None else to_sqlite(rt.percent(_to_python("d", a)))),
        "jxc_cmp": (2, _compare),
        "jxc_unscale": (2, _unscale),
        "jxc_dec": (1, _canonical),
        "jxc_call": (-1, _caller(registry)),
    }
    for name, (arity, function) in functions.items():
        connection.create_function(name, arity, _guarded(function), deterministic=True)
    for name, aggregate in (("jxc_sum", _Sum), ("jxc_avg", _Avg), ("jxc_min", _Min), ("jxc_max", _Max)):
        connection.create_aggregate(name, 1, aggregate)
