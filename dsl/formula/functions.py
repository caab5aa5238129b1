"""Formula functions: typed signatures, a Python implementation and (optionally) a SQL form.

Built-ins are registered here; the engine and plugins add more through the `jxc_formula_functions` hook
(engine.hookspecs), e.g. STOCK(item, warehouse). IF, IFS, SWITCH, AND, OR, NOT, COALESCE and the aggregates
SUM/COUNT/AVG/MIN/MAX over child rows are special forms handled by the checker and compilers themselves;
they are listed in SPECIAL_FORMS for documentation and name checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dsl.formula import runtime as rt
from dsl.formula import types as t
from dsl.formula.types import Kind, Type
from dsl.messages import Message

if TYPE_CHECKING:
    from dsl.formula import ir


@dataclass(frozen=True, slots=True)
class Accepts:
    """A parameter's accepted types: a human name and a predicate."""

    name: str
    test: Callable[[Type], bool]

    def __call__(self, value: Type) -> bool:
        return value.kind is Kind.NULL or self.test(value)


NUMBER = Accepts(Message("a number"), lambda v: v.is_number)
TEXT = Accepts(Message("text"), lambda v: v.kind is Kind.TEXT)
TEXTUAL = Accepts(Message("text, a number or a date"), lambda v: v.kind in (
    Kind.TEXT, Kind.INT, Kind.DECIMAL, Kind.DATE, Kind.DATETIME, Kind.BOOL))
DATE_LIKE = Accepts(Message("a date"), lambda v: v.kind in (Kind.DATE, Kind.DATETIME))
SCALAR = Accepts(Message("a single value"), lambda v: v.is_scalar and v.kind is not Kind.RECORD)
ANYTHING = Accepts(Message("any value"), lambda v: v.is_scalar)
RECORD = Accepts(Message("a record (a link field)"), lambda v: v.kind is Kind.RECORD)
ORDERED = Accepts(Message("a number, a date or text"), lambda v: v.kind in (
    Kind.INT, Kind.DECIMAL, Kind.TEXT, Kind.DATE, Kind.DATETIME))


def record_of(entity: str) -> Accepts:
    name = Message("an {entity} record" if entity[:1] in tuple("aeiou") else "a {entity} record", entity=entity)
    return Accepts(name, lambda v: v.kind is Kind.RECORD and v.entity in (None, entity))


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    accepts: Accepts
    optional: bool = False
    variadic: bool = False  # the last parameter may repeat


# A SQL form: (compiled argument expressions, the checked arguments) -> SQLAlchemy expression. Arguments
# arrive in the dialect's natural form (on SQLite decimals are jxc's canonical text). A form may raise
# dsl.formula.sqlcompile.NoSqlForm for arguments it cannot handle (POWER with a variable exponent).
SqlForm = Callable[[list[Any], "tuple[ir.Expr, ...]"], Any]
# A return type: a fixed Type, or computed from the checked arguments.
Returns = Type | Callable[["tuple[ir.Expr, ...]"], Type]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    params: tuple[Param, ...]
    returns: Returns
    python: Callable[..., Any]
    summary: str
    example: str
    # SQL forms by dialect name ("postgresql", "sqlite"). On SQLite a function without its own form runs
    # its Python implementation inside the database, unless it needs the context.
    sql: Mapping[str, SqlForm] = field(default_factory=dict)
    propagate_null: bool = True  # a blank argument gives a blank result without calling `python`
    needs_context: bool = False  # `python` receives the evaluation context first (TODAY, STOCK...)
    volatile: bool = False  # depends on the time or the database, not only on its arguments
    plugin: str | None = None  # which plugin registered it

    def signature(self) -> str:
        parts = []
        for param in self.params:
            text = param.name + (", …" if param.variadic else "")
            parts.append(f"[{text}]" if param.optional else text)
        return f"{self.name}({', '.join(parts)})"

    def result_type(self, args: tuple[ir.Expr, ...]) -> Type:
        return self.returns(args) if callable(self.returns) else self.returns


SPECIAL_FORMS: Mapping[str, str] = MappingProxyType({
    "IF": "IF(condition, value_if_true, [value_if_false])",
    "IFS": "IFS(condition1, value1, [condition2, value2, …])",
    "SWITCH": "SWITCH(expression, value1, result1, […], [default])",
    "AND": "AND(condition1, [condition2, …])",
    "OR": "OR(condition1, [condition2, …])",
    "NOT": "NOT(condition)",
    "COALESCE": "COALESCE(value1, [value2, …])",
    "SUM": "SUM(table.column, [condition])",
    "COUNT": "COUNT(table, [condition]) or COUNT(table.column)",
    "AVG": "AVG(table.column, [condition])",
    "MIN": "MIN(table.column, [condition]) or MIN(value1, value2, …)",
    "MAX": "MAX(table.column, [condition]) or MAX(value1, value2, …)",
})


class Registry:
    """The functions a formula may call. Immutable once built; `with_functions` makes an extended copy."""

    def __init__(self, specs: Iterable[FunctionSpec] = ()) -> None:
        self._specs: dict[str, FunctionSpec] = {}
        for spec in specs:
            self._add(spec)

    def _add(self, spec: FunctionSpec) -> None:
        name = spec.name.upper()
        if name in SPECIAL_FORMS and spec.plugin is not None:
            raise ValueError(f"{name} is a built-in form of the formula language and cannot be redefined")
        if name in self._specs:
            first = self._specs[name].plugin or "the built-ins"
            raise ValueError(f"formula function {name} is defined twice: by {first} and by {spec.plugin}")
        self._specs[name] = spec

    def with_functions(self, specs: Iterable[FunctionSpec]) -> Registry:
        extended = Registry(self._specs.values())
        for spec in specs:
            extended._add(spec)
        return extended

    def get(self, name: str) -> FunctionSpec | None:
        return self._specs.get(name.upper())

    def names(self) -> list[str]:
        return sorted([*self._specs, *SPECIAL_FORMS])

    def __iter__(self):
        return iter(self._specs.values())


def _rounding_type(args: tuple[ir.Expr, ...]) -> Type:
    from dsl.formula.ir import Const, Op

    # ROUND(x), ROUND(x, 0) or ROUND(x, -2) is a whole number, so it can be stored in an int field.
    if len(args) == 1:
        return t.INT
    digits, sign = args[1], 1
    if isinstance(digits, Op) and digits.op == "neg":  # -2 is neg(2)
        digits, sign = digits.args[0], -1
    if isinstance(digits, Const) and digits.value is not None and sign * digits.value <= 0:
        return t.INT
    return t.DECIMAL


def _same_as_first(args: tuple[ir.Expr, ...]) -> Type:
    return args[0].type if args[0].type.kind is not Kind.NULL else t.DECIMAL


def _mod_type(args: tuple[ir.Expr, ...]) -> Type:
    return t.INT if all(a.type.kind in (Kind.INT, Kind.NULL) for a in args) else t.DECIMAL


def _power_type(args: tuple[ir.Expr, ...]) -> Type:
    from dsl.formula.ir import Const

    whole = args[0].type.kind is Kind.INT and isinstance(args[1], Const) and isinstance(args[1].value, int)
    return t.INT if whole and args[1].value >= 0 else t.DECIMAL


def _date_like_result(args: tuple[ir.Expr, ...]) -> Type:
    return t.DATETIME if args[0].type.kind is Kind.DATETIME else t.DATE


def _extreme_type(args: tuple[ir.Expr, ...]) -> Type:
    from dsl.formula.errors import FormulaError

    result = args[0].type
    for arg in args[1:]:
        unified = t.unify(result, arg.type)
        if unified is None or {result.kind, arg.type.kind} == {Kind.DATE, Kind.DATETIME}:
            raise FormulaError(f"MIN and MAX compare values of one kind, but {arg.type} and {result} mix",
                               arg.start)
        result = unified
    return result


def _spec(name: str, params: list[Param], returns: Returns, python: Callable[..., Any], summary: str,
          example: str, **options: Any) -> FunctionSpec:
    return FunctionSpec(name, tuple(params), returns, python, summary, example, **options)


def _builtins() -> list[FunctionSpec]:
    number, text, textual = NUMBER, TEXT, TEXTUAL
    return [
        _spec("ROUND", [Param("number", number), Param("digits", number, optional=True)], _rounding_type,
              rt.round_, "Rounds half away from zero, as Excel does.", "ROUND(2.5, 0) → 3"),
        _spec("ROUNDUP", [Param("number", number), Param("digits", number, optional=True)],
              _rounding_type, rt.roundup, "Rounds away from zero.", "ROUNDUP(-1.21, 1) → -1.3"),
        _spec("ROUNDDOWN", [Param("number", number), Param("digits", number, optional=True)],
              _rounding_type, rt.rounddown, "Rounds toward zero.", "ROUNDDOWN(-1.29, 1) → -1.2"),
        _spec("ABS", [Param("number", number)], _same_as_first, rt.abs_, "The number without its sign.",
              "ABS(-3) → 3"),
        _spec("MOD", [Param("number", number), Param("divisor", number)], _mod_type, rt.mod,
              "The remainder, with the sign of the divisor (as Excel).", "MOD(-3, 2) → 1"),
        _spec("POWER", [Param("number", number), Param("exponent", number)], _power_type, rt.power,
              "A number raised to a whole-number power (also written number ^ exponent).",
              "POWER(2, 10) → 1024"),
        _spec("MIN", [Param("value", ORDERED, variadic=True)], _extreme_type, rt.scalar_min,
              "The smallest of the values (blanks are ignored).", "MIN(3, 1, 2) → 1",
              propagate_null=False),
        _spec("MAX", [Param("value", ORDERED, variadic=True)], _extreme_type, rt.scalar_max,
              "The largest of the values (blanks are ignored).", "MAX(3, 1, 2) → 3",
              propagate_null=False),
        _spec("CONCAT", [Param("text", textual, variadic=True)], t.TEXT, rt.concat,
              "Joins texts; blanks count as empty text.", 'CONCAT("PO-", 12) → "PO-12"',
              propagate_null=False),
        _spec("LEFT", [Param("text", textual), Param("count", number, optional=True)], t.TEXT, rt.left,
              "The first characters of a text.", 'LEFT("ABC-01", 3) → "ABC"'),
        _spec("RIGHT", [Param("text", textual), Param("count", number, optional=True)], t.TEXT, rt.right,
              "The last characters of a text.", 'RIGHT("ABC-01", 2) → "01"'),
        _spec("MID", [Param("text", textual), Param("start", number), Param("count", number)], t.TEXT,
              rt.mid, "Characters from the middle of a text; the first character is 1.",
              'MID("ABC-01", 2, 3) → "BC-"'),
        _spec("LEN", [Param("text", textual)], t.INT, rt.len_, "The number of characters.",
              'LEN("螺丝钉") → 3'),
        _spec("UPPER", [Param("text", textual)], t.TEXT, rt.upper, "Text in capital letters.",
              'UPPER("ab-1") → "AB-1"'),
        _spec("LOWER", [Param("text", textual)], t.TEXT, rt.lower, "Text in small letters.",
              'LOWER("AB") → "ab"'),
        _spec("TRIM", [Param("text", textual)], t.TEXT, rt.trim,
              "Removes spaces at both ends and repeated spaces inside, as Excel does.",
              'TRIM("  a   b ") → "a b"'),
        _spec("CONTAINS", [Param("text", textual), Param("part", textual)], t.BOOL, rt.contains,
              "Whether the text contains the part (capital letters matter).",
              'CONTAINS("不锈钢管", "钢") → TRUE'),
        _spec("TEXT", [Param("value", SCALAR), Param("format", text)], t.TEXT, rt.text_format,
              'Formats a number or date with an Excel format such as "#,##0.00", "0%" or "yyyy-mm-dd".',
              'TEXT(1234.5, "#,##0.00") → "1,234.50"'),
        _spec("TODAY", [], t.DATE, lambda context: context.today(), "Today's date (in the app's time zone).",
              "TODAY()", needs_context=True, volatile=True),
        _spec("NOW", [], t.DATETIME, lambda context: context.now(),
              "The current date and time (in the app's time zone).", "NOW()", needs_context=True,
              volatile=True),
        _spec("CURRENT_USER", [], t.record("user"), lambda context: context.current_user(),
              "The user the formula runs for (blank when nobody is signed in); use it in row rules.",
              "created_by = CURRENT_USER()", needs_context=True, volatile=True),
        _spec("DATE", [Param("year", number), Param("month", number), Param("day", number)], t.DATE,
              rt.make_date, "A date; months and days beyond their range roll over, as in Excel.",
              "DATE(2026, 13, 1) → 2027-01-01"),
        _spec("YEAR", [Param("date", DATE_LIKE)], t.INT, rt.year, "The year of a date.",
              "YEAR(DATE(2026, 5, 1)) → 2026"),
        _spec("MONTH", [Param("date", DATE_LIKE)], t.INT, rt.month, "The month of a date (1–12).",
              "MONTH(DATE(2026, 5, 1)) → 5"),
        _spec("DAY", [Param("date", DATE_LIKE)], t.INT, rt.day, "The day of the month (1–31).",
              "DAY(DATE(2026, 5, 1)) → 1"),
        _spec("DATEADD", [Param("date", DATE_LIKE), Param("count", number), Param("unit", text, optional=True)],
              _date_like_result, rt.dateadd,
              'A date some days later; unit may be "day" (default), "week", "month" or "year".',
              'DATEADD(DATE(2026, 1, 31), 1, "month") → 2026-02-28'),
        _spec("DAYS_BETWEEN", [Param("start", DATE_LIKE), Param("end", DATE_LIKE)], t.INT, rt.days_between,
              "The number of days from start to end (end − start).",
              "DAYS_BETWEEN(DATE(2026, 1, 1), DATE(2026, 1, 31)) → 30"),
        _spec("EDATE", [Param("date", DATE_LIKE), Param("months", number)], t.DATE, rt.edate,
              "The same day some months later; the month's last day if it is shorter, as in Excel.",
              "EDATE(DATE(2026, 1, 31), 1) → 2026-02-28"),
        _spec("WEEKDAY", [Param("date", DATE_LIKE), Param("type", number, optional=True)], t.INT, rt.weekday,
              "The day of the week: type 1 (default) Sunday=1…Saturday=7; 2 Monday=1…Sunday=7; "
              "3 Monday=0…Sunday=6.", "WEEKDAY(DATE(2026, 11, 25)) → 4"),
        _spec("ISBLANK", [Param("value", ANYTHING)], t.BOOL, lambda value: value is None,
              "Whether a value is blank (as in Excel, text \"\" is not blank; jxc saves empty input as blank).",
              "ISBLANK(remark)",
              propagate_null=False),
        _spec("BLANK", [], t.NULL, lambda: None, "A blank value.", "IF(qty > 0, price, BLANK())"),
    ]


def builtin_registry() -> Registry:
    from dsl.formula.sqlforms import attach_builtin_sql_forms

    return Registry(attach_builtin_sql_forms(_builtins()))


def describe(spec: FunctionSpec) -> dict[str, Any]:
    return {"name": spec.name, "signature": spec.signature(), "summary": spec.summary,
            "example": spec.example, "sql": sorted(spec.sql)}

