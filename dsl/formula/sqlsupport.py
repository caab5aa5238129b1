"""What each database needs before compiled formulas can run in it.

SQLite: jxc registers its Python functions on every connection (dsl.formula.runtime), so that decimal
arithmetic, dates and text functions give exactly the Python results. PostgreSQL: jxc_raise(message) lets a
formula stop with a clear error (division by zero) in SQL, and PL/pgSQL helpers (jxc_div, jxc_mod, jxc_date,
jxc_dateadd...) do what can fail exactly as dsl.formula.runtime does.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.engine import Connection

from dsl.formula import runtime as rt
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.functions import Registry
from dsl.formula.pycompile import _date_plus as python_date_plus
from dsl.messages import Message

RAISE_SQLSTATE = "JX001"
WHOLE_TOO_LARGE = rt.WHOLE_TOO_LARGE
LAST_ORDINAL = (dt.date(9999, 12, 31) - dt.date(1, 1, 1)).days  # days from 0001-01-01 to 9999-12-31
POSTGRES_SUPPORT = f"""
CREATE OR REPLACE FUNCTION jxc_raise(message text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = message, ERRCODE = '{RAISE_SQLSTATE}';
END
$$;
-- The helpers below mirror dsl.formula.runtime. STRICT: a blank argument gives blank, as in Python.
-- STABLE, not IMMUTABLE: PostgreSQL must not run them while planning (IF(flag, 1/0, 0) with no row flagged).
CREATE OR REPLACE FUNCTION jxc_blank() RETURNS text
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION jxc_power(base numeric, n integer) RETURNS numeric
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE result numeric := 1;
BEGIN
  FOR i IN 1..n LOOP result := result * base; END LOOP;
  RETURN result;
END
$$;
CREATE OR REPLACE FUNCTION jxc_power(base bigint, n integer) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE result bigint := 1;
BEGIN
  FOR i IN 1..n LOOP result := result * base; END LOOP;
  RETURN result;
END
$$;
CREATE OR REPLACE FUNCTION jxc_div(a numeric, b numeric) RETURNS numeric
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  IF b = 0 THEN PERFORM jxc_raise('division by zero'); END IF;
  -- 40 decimals in the dividend make PostgreSQL divide to 40 places before rounding half away from zero.
  RETURN round(a * 1.0000000000000000000000000000000000000000 / b, 10);
END
$$;
CREATE OR REPLACE FUNCTION jxc_mod(a numeric, b numeric) RETURNS numeric
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE r numeric;
BEGIN
  IF b = 0 THEN PERFORM jxc_raise('division by zero'); END IF;
  r := mod(a, b);
  IF r <> 0 AND (r < 0) <> (b < 0) THEN r := r + b; END IF;
  RETURN r;
END
$$;
CREATE OR REPLACE FUNCTION jxc_mod(a bigint, b bigint) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE r bigint;
BEGIN
  IF b = 0 THEN PERFORM jxc_raise('division by zero'); END IF;
  r := mod(a, b);
  IF r <> 0 AND (r < 0) <> (b < 0) THEN r := r + b; END IF;
  RETURN r;
END
$$;
CREATE OR REPLACE FUNCTION jxc_roundup(x numeric, n integer) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE cut numeric := trunc(x, n);
BEGIN
  IF cut = x THEN RETURN round(x, n); END IF;
  RETURN round(cut + sign(x) * power(10::numeric, -n), n);
END
$$;
CREATE OR REPLACE FUNCTION jxc_left(t text, n numeric) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  IF n < 0 THEN PERFORM jxc_raise('LEFT: the number of characters cannot be negative'); END IF;
  RETURN left(t, least(trunc(n), 1000000000)::integer);
END
$$;
CREATE OR REPLACE FUNCTION jxc_right(t text, n numeric) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  IF n < 0 THEN PERFORM jxc_raise('RIGHT: the number of characters cannot be negative'); END IF;
  RETURN right(t, least(trunc(n), 1000000000)::integer);
END
$$;
CREATE OR REPLACE FUNCTION jxc_mid(t text, start numeric, n numeric) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  IF start < 1 THEN PERFORM jxc_raise('MID: the start position must be 1 or more'); END IF;
  IF n < 0 THEN PERFORM jxc_raise('MID: the number of characters cannot be negative'); END IF;
  RETURN substr(t, least(trunc(start), 1000000000)::integer, least(trunc(n), 1000000000)::integer);
END
$$;
CREATE OR REPLACE FUNCTION jxc_date(y numeric, m numeric, d numeric) RETURNS date
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
  given numeric := trunc(y);
  year numeric := (CASE WHEN trunc(y) BETWEEN 0 AND 1899 THEN trunc(y) + 1900 ELSE trunc(y) END)
                  + floor((trunc(m) - 1) / 12);
  month numeric := mod(mod(trunc(m) - 1, 12) + 12, 12) + 1;
  first date;
  ordinal numeric;
BEGIN
  IF given < 0 OR given > 9999 THEN PERFORM jxc_raise('DATE: the year must be between 0 and 9999'); END IF;
  IF year < 1 OR year > 9999 THEN PERFORM jxc_raise('DATE: the year must be between 1 and 9999'); END IF;
  first := make_date(year::integer, month::integer, 1);
  ordinal := (first - date '0001-01-01') + trunc(d) - 1;
  IF ordinal < 0 OR ordinal > {LAST_ORDINAL} THEN PERFORM jxc_raise('DATE: the date is out of range'); END IF;
  RETURN first + (trunc(d) - 1)::integer;
END
$$;
CREATE OR REPLACE FUNCTION jxc_add_days(v date, n numeric, message text) RETURNS date
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE ordinal numeric := (v - date '0001-01-01') + trunc(n);
BEGIN
  IF ordinal < 0 OR ordinal > {LAST_ORDINAL} THEN PERFORM jxc_raise(message); END IF;
  RETURN v + trunc(n)::integer;
END
$$;
CREATE OR REPLACE FUNCTION jxc_add_days(v timestamp, n numeric, message text) RETURNS timestamp
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE ordinal numeric := (v::date - date '0001-01-01') + trunc(n);
BEGIN
  IF ordinal < 0 OR ordinal > {LAST_ORDINAL} THEN PERFORM jxc_raise(message); END IF;
  RETURN v + make_interval(days => trunc(n)::integer);
END
$$;
CREATE OR REPLACE FUNCTION jxc_add_months(v timestamp, n numeric, message text) RETURNS timestamp
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE year numeric := floor((extract(year FROM v) * 12 + extract(month FROM v) - 1 + trunc(n)) / 12);
BEGIN
  IF year < 1 OR year > 9999 THEN PERFORM jxc_raise(message); END IF;
  -- As in Python: the same day n months later, or the last day of a shorter month.
  RETURN v + make_interval(months => trunc(n)::integer);
END
$$;
CREATE OR REPLACE FUNCTION jxc_add_months(v date, n numeric, message text) RETURNS date
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  RETURN jxc_add_months(v::timestamp, n, message)::date;
END
$$;
CREATE OR REPLACE FUNCTION jxc_dateadd(v timestamp, n numeric, unit text) RETURNS timestamp
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  CASE unit
    WHEN 'day' THEN RETURN jxc_add_days(v, trunc(n), 'DATEADD: the date is out of range');
    WHEN 'week' THEN RETURN jxc_add_days(v, trunc(n) * 7, 'DATEADD: the date is out of range');
    WHEN 'month' THEN RETURN jxc_add_months(v, trunc(n), 'the date is out of range');
    WHEN 'year' THEN RETURN jxc_add_months(v, trunc(n) * 12, 'the date is out of range');
    ELSE PERFORM jxc_raise('DATEADD: unknown unit ''' || unit || '''; use one of day, week, month, year');
  END CASE;
  RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION jxc_dateadd(v date, n numeric, unit text) RETURNS date
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  RETURN jxc_dateadd(v::timestamp, n, unit)::date;
END
$$;
CREATE OR REPLACE FUNCTION jxc_weekday(v date, kind numeric) RETURNS integer
LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
  CASE trunc(kind)
    WHEN 1 THEN RETURN extract(dow FROM v)::integer + 1;
    WHEN 2 THEN RETURN extract(isodow FROM v)::integer;
    WHEN 3 THEN RETURN extract(isodow FROM v)::integer - 1;
    ELSE PERFORM jxc_raise('WEEKDAY: the type must be 1, 2 or 3');
  END CASE;
  RETURN NULL;
END
$$;
"""


def install_postgres_support(connection: Connection) -> None:
    """Create jxc's helper functions in the connection's current schema (idempotent)."""
    connection.exec_driver_sql(POSTGRES_SUPPORT)


# --- SQLite ---------------------------------------------------------------------------------------------

_last_error = threading.local()


def _remember(error: Exception) -> None:
    _last_error.value = error


# What the PL/pgSQL helpers above raise (jxc_raise's text), as the Messages the Python runtime raises, so a
# formula failing in PostgreSQL reads in the user's language too.
_RAISED: dict[str, Message] = {str(message): message for message in (
    Message("division by zero"), Message("the date is out of range"), Message("DATE: the date is out of range"),
    Message("DATEADD: the date is out of range"), Message("DATE: the year must be between 0 and 9999"),
    Message("DATE: the year must be between 1 and 9999"), Message("MID: the start position must be 1 or more"),
    Message("WEEKDAY: the type must be 1, 2 or 3"),
    *(Message("{function}: the number of characters cannot be negative", function=function)
      for function in ("LEFT", "RIGHT", "MID")))}
_UNKNOWN_UNIT = re.compile(r"DATEADD: unknown unit '(?P<unit>.*)'; use one of (?P<units>.*)", re.S)


def _raised_message(text: str) -> str:
    """jxc_raise's text as the Message the Python runtime gives for it (other text as it is)."""
    if text in _RAISED:
        return _RAISED[text]
    unknown = _UNKNOWN_UNIT.fullmatch(text)
    if unknown:
        return Message("DATEADD: unknown unit '{unit}'; use one of {units}", **unknown.groupdict())
    return text


def _error_text(error: BaseException) -> str:
    """An exception's text, the Message itself when it was raised with one (str() would drop its template)."""
    first = error.args[0] if len(error.args) == 1 else None
    return first if isinstance(first, Message) else str(error) or type(error).__name__


def translate_database_error(error: BaseException) -> FormulaRuntimeError | None:
    """The formula error behind a database error raised while running compiled SQL, if it is one."""
    original = getattr(error, "orig", error)
    sqlstate = getattr(original, "sqlstate", None) or getattr(getattr(original, "diag", None), "sqlstate", None)
    if sqlstate == RAISE_SQLSTATE:
        message = getattr(getattr(original, "diag", None), "message_primary", None) or str(original)
        return FormulaRuntimeError(_raised_message(message))
    if isinstance(original, sqlite3.OperationalError) and "user-defined function raised" in str(original):
        remembered = getattr(_last_error, "value", None)
        _last_error.value = None
        if isinstance(remembered, FormulaRuntimeError):
            return remembered  # the error itself: its message keeps its template
        return FormulaRuntimeError(_error_text(remembered) if remembered else Message("a formula function failed"))
    if isinstance(original, sqlite3.OperationalError) and "integer overflow" in str(original):
        return FormulaRuntimeError(WHOLE_TOO_LARGE)
    if sqlstate == "22003":  # numeric_value_out_of_range: bigint arithmetic overflowed
        message = str(getattr(getattr(original, "diag", None), "message_primary", None) or original)
        return FormulaRuntimeError(WHOLE_TOO_LARGE if "int" in message else Message("a number is too large"))
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
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)  # beyond SQLite's integers: jxc_whole reports it as too large
    if isinstance(value, Decimal):
        return rt.number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="microseconds")  # as SQLAlchemy stores them, year 0995 too
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
            _remember(FormulaRuntimeError(_error_text(error)))
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


def _whole(value: Any) -> int | None:
    """A whole-number result checked: SQLite silently turns integer overflow into a float."""
    if value is None:
        return None
    if isinstance(value, float):
        raise FormulaRuntimeError(WHOLE_TOO_LARGE)
    number = value if isinstance(value, int) else Decimal(value)
    if number != int(number):  # pragma: no cover - whole-number functions give whole numbers
        raise FormulaRuntimeError(f"{rt.number_text(number)} is not a whole number")
    if not -(2**63) <= number < 2**63:
        raise FormulaRuntimeError(WHOLE_TOO_LARGE)
    return int(number)


def _date_plus(value: Any, days: Any) -> Any:
    if value is None or days is None:
        return None
    return to_sqlite(python_date_plus(_to_python("D", value), _to_python("d", days)))


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
        "jxc_whole": (1, _whole),
        "jxc_date_plus": (2, _date_plus),
        "jxc_call": (-1, _caller(registry)),
    }
    for name, (arity, function) in functions.items():
        connection.create_function(name, arity, _guarded(function), deterministic=True)
    for name, aggregate in (("jxc_sum", _Sum), ("jxc_avg", _Avg), ("jxc_min", _Min), ("jxc_max", _Max)):
        connection.create_aggregate(name, 1, aggregate)
