"""PostgreSQL forms of the built-in functions, written to give exactly the Python results.

SQLite needs none: it runs the Python implementations as registered functions (dsl.formula.sqlsupport).
Errors (a negative count in LEFT, MOD by zero...) go through jxc_raise, inside CASE so that they only fire
on the rows that really have the problem.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Integer, Numeric, Text, and_, case, cast, func, literal, null
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
        converted = cast(null(), Text)
    else:
        raise NoSqlForm(f"{type_} cannot be turned into text in SQL")
    return func.coalesce(converted, literal("", Text)) if blank_as_empty else converted


def present(*values: ColumnElement[Any]) -> ColumnElement[Any]:
    """None of the values is blank. Errors only fire when every argument is present: in Python a blank
    argument makes the function's result blank before the function runs (MOD(blank, 0) is blank)."""
    return and_(*(value.isnot(None) for value in values))


def truncated(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A number truncated toward zero, as NUMERIC (so that no size overflows)."""
    return func.trunc(cast(value, NUMERIC))


def clamped(value: ColumnElement[Any], limit: int) -> ColumnElement[Any]:
    """A NUMERIC whole number limited to ±limit, as an integer. For arguments whose meaning does not change
    beyond the limit (a count of characters), or that were checked before (a number of days). Blank stays
    blank (LEAST and GREATEST alone would ignore it)."""
    bounded = func.least(func.greatest(value, literal(-limit, NUMERIC)), literal(limit, NUMERIC))
    return cast(bounded + value * literal(0, NUMERIC), Integer)


def whole(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A number truncated toward zero, as an integer (CAST alone would round in PostgreSQL). Beyond what
    an integer holds it is limited to ±2·10^9: a text never has that many characters."""
    return clamped(truncated(value), 2_000_000_000)


# Dates run from 0001-01-01 to 9999-12-31, as in Python; PostgreSQL would go further.
FIRST_DATE = dt.date(1, 1, 1)
LAST_ORDINAL = (dt.date(9999, 12, 31) - FIRST_DATE).days
_DAYS_LIMIT = LAST_ORDINAL + 1
_MONTHS_LIMIT = 12 * 10_000


def _ordinal(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """Days since 0001-01-01 of a date (or of a date and time's date)."""
    return cast(value, Date) - literal(FIRST_DATE, Date)


def _month_index(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """year * 12 + month - 1 of a date."""
    return func.extract("year", value) * 12 + func.extract("month", value) - 1


def pg_add_days(value: ColumnElement[Any], days: ColumnElement[Any], message: str,
                result_type: Any) -> ColumnElement[Any]:
    """value + `days` (a whole NUMERIC) days; an error beyond the years 1 to 9999."""
    ordinal = _ordinal(value) + days
    return case(
        ((ordinal < 0) | (ordinal > LAST_ORDINAL), pg_raise(message, result_type)),
        else_=cast(value + func.make_interval(0, 0, 0, clamped(days, _DAYS_LIMIT)), result_type),
    )


def pg_add_months(value: ColumnElement[Any], months: ColumnElement[Any], message: str,
                  result_type: Any) -> ColumnElement[Any]:
    """value + `months` (a whole NUMERIC) months, the month's last day if it is shorter (as Python)."""
    year = func.floor((_month_index(value) + months) / 12)
    return case(
        ((year < 1) | (year > 9999), pg_raise(message, result_type)),
        else_=cast(value + func.make_interval(0, clamped(months, _MONTHS_LIMIT)), result_type),
    )


def pg_divide(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """a / b rounded half away from zero to 10 places; division by zero raises."""
    # Multiplying by 1 with 40 decimals makes PostgreSQL divide to 40 places before rounding to 10, so
    # the result is the correctly rounded quotient, as in Python.
    widened = cast(a, NUMERIC) * literal("1." + "0" * 40, NUMERIC)
    return case(
        ((b == 0) & present(a), pg_raise("division by zero", NUMERIC)),
        else_=func.round(widened / func.nullif(b, 0), 10),
    )


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
    def body(x: Any, n: Any) -> Any:
        truncated = func.trunc(x, n)
        step = case((x > 0, literal(1, NUMERIC)), else_=literal(-1, NUMERIC)) * func.power(
            literal(10, NUMERIC), cast(-n, NUMERIC))
        return func.round(truncated + case((x != truncated, step), else_=literal(0, NUMERIC)), n)

    return _rounded(args, nodes, body)


def _rounddown(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return _rounded(args, nodes, lambda x, n: func.trunc(x, n))


def _mod(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    a, b = args
    remainder = func.mod(a, b)
    return case(
        ((b == 0) & present(a),
         pg_raise("division by zero", NUMERIC if nodes[0].type.kind is Kind.DECIMAL else BigInteger)),
        (((remainder < 0) != (b < 0)) & (remainder != 0), remainder + b),
        else_=remainder,
    )


def _power(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    base = args[0]
    node = nodes[1]
    if not (isinstance(node, ir.Const) and isinstance(node.value, int) and abs(node.value) <= MAX_INLINE_POWER):
        raise NoSqlForm("POWER with an exponent that is not a whole number up to 16 has no SQL form")
    n = node.value
    if n == 0:  # 0^0 is 1 too, but a blank stays blank
        return case((base.is_(None), null()), else_=literal(1, BigInteger))
    # jxc_power multiplies exactly (PostgreSQL's power() rounds to 16 places); bigint in, bigint out.
    multiplied = func.jxc_power(base, literal(abs(n), Integer), type_=base.type)
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


def _count_checked(value: Any, count: Any, function: str, body: Any) -> Any:
    return case(((count < 0) & present(value),
                 pg_raise(f"{function}: the number of characters cannot be negative", Text)), else_=body)


def _left(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, count = _with_default(args, 2, literal(1, Integer))
    return _count_checked(value, count, "LEFT", func.left(pg_text(value, nodes[0].type, blank_as_empty=False),
                                                   whole(count)))


def _right(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, count = _with_default(args, 2, literal(1, Integer))
    return _count_checked(value, count, "RIGHT", func.right(pg_text(value, nodes[0].type, blank_as_empty=False),
                                                     whole(count)))


def _mid(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, start, count = args
    return case(
        ((start < 1) & present(value, count), pg_raise("MID: the start position must be 1 or more", Text)),
        ((count < 0) & present(value, start), pg_raise("MID: the number of characters cannot be negative", Text)),
        else_=func.substr(pg_text(value, nodes[0].type, blank_as_empty=False), whole(start), whole(count)),
    )


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
    y, m, d = (truncated(arg) for arg in args)
    year = y + func.floor((m - 1) / 12)
    month = func.mod(func.mod(m - 1, 12) + 12, 12) + 1
    # The year is limited so that make_date never fails where the year's error does not fire (a blank day).
    in_range = func.least(func.greatest(year, literal(1, NUMERIC)), literal(9999, NUMERIC)) + year * 0
    first = func.make_date(cast(in_range, Integer), cast(month, Integer), 1)
    ordinal = _ordinal(first) + d - 1
    return case(
        (((year < 1) | (year > 9999)) & present(d), pg_raise("DATE: the year must be between 1 and 9999", Date)),
        ((ordinal < 0) | (ordinal > LAST_ORDINAL), pg_raise("DATE: the date is out of range", Date)),
        else_=cast(first + clamped(d - 1, _DAYS_LIMIT), Date),
    )


def _extract(part: str) -> SqlForm:
    def form(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
        return cast(func.extract(part, args[0]), Integer)

    return form


def _dateadd(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, count, unit = _with_default(args, 3, literal("day", Text))
    n = truncated(count)
    result_type = DateTime() if nodes[0].type.kind is Kind.DATETIME else Date()
    message = literal("DATEADD: unknown unit '", Text).op("||")(unit).op("||")(
        literal("'; use one of day, week, month, year", Text))
    days_message, months_message = "DATEADD: the date is out of range", "the date is out of range"
    return case(
        (~present(value, count, unit), null()),
        (unit == "day", pg_add_days(value, n, days_message, result_type)),
        (unit == "week", pg_add_days(value, n * 7, days_message, result_type)),
        (unit == "month", pg_add_months(value, n, months_message, result_type)),
        (unit == "year", pg_add_months(value, n * 12, months_message, result_type)),
        else_=pg_raise(message, result_type),
    )


def _days_between(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    start, end = args
    return cast(end, Date) - cast(start, Date)


def _edate(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, months = args
    return pg_add_months(cast(value, Date), truncated(months), "the date is out of range", Date())


def _weekday(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value, kind = _with_default(args, 2, literal(1, Integer))
    k = whole(kind)
    dow = cast(func.extract("dow", value), Integer)
    isodow = cast(func.extract("isodow", value), Integer)
    return case((k == 1, dow + 1), (k == 2, isodow), (k == 3, isodow - 1),
                (present(value, kind), pg_raise("WEEKDAY: the type must be 1, 2 or 3", Integer)), else_=null())


def _isblank(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    value = args[0]
    if nodes[0].type.kind is Kind.TEXT:
        return value.is_(None) | (value == "")
    return value.is_(None)


def _blank(args: list[Any], nodes: tuple[ir.Expr, ...]) -> Any:
    return null()


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
    "LEFT": _left,
    "RIGHT": _right,
    "MID": _mid,
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
