"""PostgreSQL forms of the built-in functions, written to give exactly the Python results.

SQLite needs none: it runs the Python implementations as registered functions (dsl.formula.sqlsupport).
Functions that can fail (a negative count in LEFT, MOD by zero, a date out of range...) call jxc's PL/pgSQL
helpers (dsl.formula.sqlsupport.POSTGRES_SUPPORT), which mirror dsl.formula.runtime: they are STRICT, so a
blank argument gives a blank result without an error, exactly as in Python, and each argument is evaluated
once; they are STABLE rather than IMMUTABLE so that PostgreSQL never runs them while planning (an error in
an IF branch that no row takes must not fire).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Integer, Numeric, Text, case, cast, func, literal, null
from sqlalchemy.sql.elements import ColumnElement

from dsl.formula import ir
from dsl.formula.functions import FunctionSpec, SqlForm
from dsl.formula.types import Kind, Type

PG = "postgresql"
NUMERIC = Numeric(asdecimal=True)
MAX_INLINE_POWER = 16


class NoSqlForm(Exception):
    """A formula (part) that cannot run in this database; the caller evaluates it in Python instead."""


def pg_raise(message: str | ColumnElement[Any], type_: Any) -> ColumnElement[Any]:
    text = literal(message, Text) if isinstance(message, str) else message
    return cast(func.jxc_raise(text), type_)


def pg_text(value: ColumnElement[Any], type_: Type, *, blank_as_empty: bool) -> ColumnElement[Any]:
    """A value as text with jxc's rules (numbers without trailing zeros, TRUE/FALSE, ISO dates)."""
    kind = type_.kind
    if kind is Kind.TEXT:
        converted: ColumnElement[Any] = cast(value, Text)
    elif kind is Kind.INT:
        converted = cast(value, Text)
    elif kind is Kind.DECIMAL:
        converted = cast(func.trim_scale(cast(value, NUMERIC)), Text)
    elif kind is Kind.BOOL:
        converted = case((value, literal("TRUE", Text)), (~value, literal("FALSE", Text)), else_=null())
    elif kind is Kind.DATE:
        converted = func.to_char(value, "YYYY-MM-DD")
    elif kind is Kind.DATETIME:
        converted = func.to_char(value, "YYYY-MM-DD HH24:MI:SS")
    elif kind is Kind.NULL:
        converted = cast(value, Text)  # still evaluated: what it computes may fail, as in Python
    else:
        raise NoSqlForm(f"{type_} cannot be turned into text in SQL")
    return func.coalesce(converted, literal("", Text)) if blank_as_empty else converted


def truncated(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A number truncated toward zero, as NUMERIC (so that no size overflows)."""
    return func.trunc(cast(value, NUMERIC))


def whole(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A number truncated toward zero, as an integer (CAST alone would round in PostgreSQL)."""
    return cast(truncated(value), Integer)


def _helper(name: str, type_: Any, *args: Any) -> ColumnElement[Any]:
    """A call of one of jxc's PL/pgSQL helpers (dsl.formula.sqlsupport.POSTGRES_SUPPORT)."""
    return getattr(func, name)(*args, type_=type_)


def pg_add_days(value: ColumnElement[Any], days: ColumnElement[Any], message: str,
                result_type: Any) -> ColumnElement[Any]:
    """value + `days` days (truncated toward zero); `message` is the error beyond the years 1 to 9999."""
    return _helper("jxc_add_days", result_type, value, cast(days, NUMERIC), literal(message, Text))


def pg_divide(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """a / b rounded half away from zero to 10 places; division by zero raises; a blank gives blank."""
    return _helper("jxc_div", NUMERIC, cast(a, NUMERIC), cast(b, NUMERIC))


def _with_default(args: list[Any], count: int, default: Any) -> list[Any]:
    return list(args) + [default] * (count - len(args))


def _rounded(args: list[Any], nodes: tuple[ir.Expr, ...], body: Callable[[Any, Any], Any]) -> Any:
    value, digits = _with_default(args, 2, literal(0, Integer))
    result = body(cast(value, NUMERIC), whole(digits))
    from dsl.formula.functions import _rounding_type

    return cast(result, BigInteger) if _rounding_type(nodes).kind is Kind.INT else result


def _round(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return _rounded(args, nodes, lambda x, n: func.round(x, n))


def _roundup(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return _rounded(args, nodes, lambda x, n: _helper("jxc_roundup", NUMERIC, x, n))


def _rounddown(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return _rounded(args, nodes, lambda x, n: func.trunc(x, n))


def _mod(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    from dsl.formula.functions import _mod_type

    if _mod_type(nodes).kind is Kind.INT:
        return _helper("jxc_mod", BigInteger, cast(args[0], BigInteger), cast(args[1], BigInteger))
    return _helper("jxc_mod", NUMERIC, cast(args[0], NUMERIC), cast(args[1], NUMERIC))


def _power(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    base = args[0]
    node, sign = nodes[1], 1
    if isinstance(node, ir.Op) and node.op == "neg":  # 2 ^ -2
        node, sign = node.args[0], -1
    if not (isinstance(node, ir.Const) and isinstance(node.value, int) and not isinstance(node.value, bool)
            and abs(node.value) <= MAX_INLINE_POWER):
        raise NoSqlForm("POWER with an exponent that is not a whole number up to 16 has no SQL form")
    n = sign * node.value
    if n == 0:  # 0^0 is 1 too, but a blank stays blank
        return case((base.is_(None), null()), else_=literal(1, BigInteger))
    # jxc_power multiplies exactly (PostgreSQL's power() rounds to 16 places); bigint in, bigint out.
    whole_base = nodes[0].type.kind is Kind.INT
    multiplied = _helper("jxc_power", BigInteger if whole_base else NUMERIC,
                         cast(base, BigInteger if whole_base else NUMERIC), literal(abs(n), Integer))
    return multiplied if n > 0 else pg_divide(literal(1, NUMERIC), multiplied)


def _extreme(function: Callable[..., Any]) -> SqlForm:
    def form(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
        if any(node.type.kind is Kind.TEXT for node in nodes):
            args = [arg.collate("C") for arg in args]
        return function(*args)

    return form


def _concat(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    result: Any = literal("", Text)
    for arg, node in zip(args, nodes, strict=True):
        result = result.op("||")(pg_text(arg, node.type, blank_as_empty=True))
    return result


def _cut(name: str) -> SqlForm:
    def form(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
        value, *numbers = _with_default(args, 2, literal(1, Integer)) if name != "jxc_mid" else args
        text = pg_text(value, nodes[0].type, blank_as_empty=False)
        return _helper(name, Text, text, *(cast(n, NUMERIC) for n in numbers))

    return form


def _text_function(function: Callable[..., Any]) -> SqlForm:
    def form(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
        return function(pg_text(args[0], nodes[0].type, blank_as_empty=False))

    return form


def _trim(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    text = func.btrim(pg_text(args[0], nodes[0].type, blank_as_empty=False), " ")
    return func.regexp_replace(text, " {2,}", " ", "g")


def _contains(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    text = pg_text(args[0], nodes[0].type, blank_as_empty=False)
    part = pg_text(args[1], nodes[1].type, blank_as_empty=False)
    return func.strpos(text, part) > 0


def _date(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return _helper("jxc_date", Date(), *(cast(arg, NUMERIC) for arg in args))


def _extract(part: str) -> SqlForm:
    def form(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
        return cast(func.extract(part, args[0]), Integer)

    return form


def _dateadd(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, count, unit = _with_default(args, 3, literal("day", Text))
    result_type = DateTime() if nodes[0].type.kind is Kind.DATETIME else Date()
    return _helper("jxc_dateadd", result_type, cast(value, result_type), cast(count, NUMERIC), cast(unit, Text))


def _days_between(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    start, end = args
    return cast(end, Date) - cast(start, Date)


def _edate(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, months = args
    return _helper("jxc_add_months", Date(), cast(value, Date), cast(months, NUMERIC),
                   literal("the date is out of range", Text))


def _weekday(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, kind = _with_default(args, 2, literal(1, Integer))
    return _helper("jxc_weekday", Integer(), cast(value, Date), cast(kind, NUMERIC))


def _isblank(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return args[0].is_(None)


def _blank(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    # Not a NULL constant: PostgreSQL would fold CONTAINS(x, NULL) to NULL while planning and never run x,
    # where Python (and SQLite) evaluate every argument first, so an error in x must happen here too.
    return func.jxc_blank()


_POSTGRES_FORMS: dict[str, SqlForm] = {
    "ROUND": _round,
    "ROUNDUP": _roundup,
    "ROUNDDOWN": _rounddown,
    "ABS": lambda args, nodes: func.abs(args[0]),
    "MOD": _mod,
    "POWER": _power,
    "MIN": _extreme(func.least),
    "MAX": _extreme(func.greatest),
    "CONCAT": _concat,
    "LEFT": _cut("jxc_left"),
    "RIGHT": _cut("jxc_right"),
    "MID": _cut("jxc_mid"),
    "LEN": _text_function(func.char_length),
    "UPPER": _text_function(func.upper),
    "LOWER": _text_function(func.lower),
    "TRIM": _trim,
    "CONTAINS": _contains,
    "DATE": _date,
    "YEAR": _extract("year"),
    "MONTH": _extract("month"),
    "DAY": _extract("day"),
    "DATEADD": _dateadd,
    "DAYS_BETWEEN": _days_between,
    "EDATE": _edate,
    "WEEKDAY": _weekday,
    "ISBLANK": _isblank,
    "BLANK": _blank,
}


def attach_builtin_sql_forms(specs: list[FunctionSpec]) -> list[FunctionSpec]:
    attached = []
    for spec in specs:
        form = _POSTGRES_FORMS.get(spec.name)
        attached.append(dataclasses.replace(spec, sql={PG: form}) if form else spec)
    return attached
