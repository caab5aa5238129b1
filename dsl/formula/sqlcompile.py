"""Compile a checked formula (dsl.formula.ir) to a SQLAlchemy Core expression for SQLite or PostgreSQL.

Filters, alert conditions and dashboard aggregates use it to run inside the database. Conventions of the
engine's tables: primary key `id`; a link column has the field's name and holds the linked record's id;
child rows have `parent_id`; decimals are dsl.sqltypes.ExactDecimal columns.

Representation inside SQL: PostgreSQL uses its native types. SQLite has no decimal type, so a decimal
column read as is is a scaled integer (kept native, so that comparisons with constants can use indexes),
and any computed decimal is jxc's canonical text produced by jxc's registered functions, which are the
Python runtime itself. A `_Value` records which of the two an expression is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Numeric,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, ColumnElement, Grouping
from sqlalchemy.sql.selectable import FromClause

from dsl.formula import functions, ir
from dsl.formula import runtime as rt
from dsl.formula.context import EvalContext, SimpleContext
from dsl.formula.functions import FunctionSpec
from dsl.formula.sqlforms import NUMERIC, PG, NoSqlForm, pg_add_days, pg_divide, pg_raise, pg_text
from dsl.formula.types import Kind, Type
from dsl.sqltypes import DecimalText, ExactDecimal, ScaledResult

SQLITE = "sqlite"

# Functions whose failure cannot depend on the row (used to decide where AND/OR must short-circuit).
_SAFE_FUNCTIONS = frozenset({"ABS", "LEN", "UPPER", "LOWER", "TRIM", "CONTAINS", "YEAR", "MONTH", "DAY",
                             "ISBLANK", "BLANK", "CONCAT", "MIN", "MAX", "TODAY", "NOW", "DAYS_BETWEEN"})


class TableSource(Protocol):
    def table(self, entity: str) -> Table:
        """The table that stores `entity`."""
        ...


@dataclass(frozen=True, slots=True)
class _Value:
    sql: Any  # ColumnElement
    type: Type
    scale: int | None = None  # SQLite: a scaled integer (a decimal column as stored) with this scale


_COMPARISONS = frozenset({operators.eq, operators.ne, operators.lt, operators.le, operators.gt, operators.ge,
                          operators.in_op, operators.not_in_op})

_PG_TYPES = {Kind.INT: BigInteger(), Kind.DECIMAL: NUMERIC, Kind.TEXT: Text(), Kind.BOOL: Boolean(),
             Kind.DATE: Date(), Kind.DATETIME: DateTime()}

_KIND_CODES = {Kind.INT: "i", Kind.DECIMAL: "d", Kind.TEXT: "t", Kind.BOOL: "b", Kind.DATE: "D",
               Kind.DATETIME: "T"}


def _may_raise(expr: ir.Expr) -> bool:
    for node in ir.walk(expr):
        if isinstance(node, ir.Op) and node.op in ("/", "date+", "date-"):
            return True
        if isinstance(node, ir.Call) and (node.function.name not in _SAFE_FUNCTIONS or node.function.plugin):
            return True
    return False


class SqlCompiler:
    """Compiles checked formulas for one dialect ("sqlite" or "postgresql") against the engine's tables."""

    def __init__(self, tables: TableSource, dialect: str, context: EvalContext | None = None) -> None:
        if dialect not in (SQLITE, PG):
            raise ValueError(f"formulas compile to SQLite or PostgreSQL, not {dialect}")
        self.tables = tables
        self.dialect = dialect
        self.context: EvalContext = context or SimpleContext()
        self._levels: list[FromClause] = []

    # --- entry points ---------------------------------------------------------------------------------

    def condition(self, expr: ir.Expr, table: FromClause) -> ColumnElement[bool]:
        """A WHERE condition over rows of `table` (blank counts as false, as in IF)."""
        return self._truth(self._root(expr, table))

    def value(self, expr: ir.Expr, table: FromClause | None = None) -> ColumnElement[Any]:
        """The formula's value for each row of `table`, typed so that results read back as Python values."""
        value = self._root(expr, table)
        return type_coerce(value.sql, self._result_type(value))

    def _root(self, expr: ir.Expr, table: FromClause | None) -> _Value:
        self._levels = [table] if table is not None else []
        try:
            return self._compile(expr)
        finally:
            self._levels = []

    def _result_type(self, value: _Value) -> Any:
        kind = value.type.kind
        if kind is Kind.DECIMAL:
            if self.dialect == SQLITE:
                return ScaledResult(value.scale) if value.scale is not None else DecimalText()
            return Numeric(asdecimal=True)
        return {Kind.INT: BigInteger(), Kind.BOOL: Boolean(), Kind.DATE: Date(), Kind.DATETIME: DateTime(),
                Kind.TEXT: String(), Kind.RECORD: BigInteger()}.get(kind, String())

    # --- dispatch -------------------------------------------------------------------------------------

    def _compile(self, expr: ir.Expr) -> _Value:
        handler: Callable[[Any], _Value] = getattr(self, "_" + type(expr).__name__)
        return handler(expr)

    def _table(self, level: int) -> FromClause:
        if level >= len(self._levels):
            raise NoSqlForm("this formula refers to a record that is not part of the query")
        return self._levels[level]

    def _column(self, table: FromClause, name: str, type_: Type) -> _Value:
        column = table.c[name]
        scale = None
        if self.dialect == SQLITE and isinstance(column.type, ExactDecimal):
            scale = column.type.scale
        return _Value(column, type_, scale)

    # --- leaves ---------------------------------------------------------------------------------------

    def _Const(self, expr: ir.Const) -> _Value:
        value = expr.value
        if value is None:
            return _Value(null(), expr.type)
        if isinstance(value, bool):
            return _Value(true() if value else false(), expr.type)
        if isinstance(value, int):
            return _Value(literal(value, BigInteger), expr.type)
        if isinstance(value, Decimal):
            if self.dialect == SQLITE:
                return _Value(literal(rt.number_text(value), String), expr.type)
            return _Value(literal(value, NUMERIC), expr.type)
        if isinstance(value, str):
            return _Value(literal(value, Text), expr.type)
        raise NoSqlForm(f"constant {value!r} has no SQL form")

    def _FieldRef(self, expr: ir.FieldRef) -> _Value:
        if expr.type.kind in (Kind.LIST, Kind.ROWS):
            raise NoSqlForm(f"{expr.field} holds several values and has no SQL form here")
        return self._column(self._table(expr.level), expr.field, expr.type)

    def _RecordRef(self, expr: ir.RecordRef) -> _Value:
        return _Value(self._table(expr.level).c.id, expr.type)

    def _ParentRef(self, expr: ir.ParentRef) -> _Value:
        return _Value(self._table(expr.level).c.parent_id, expr.type)

    def _current_user_id(self) -> Any:
        user = getattr(self.context, "current_user", lambda: None)()
        return user.get("id") if isinstance(user, dict) or hasattr(user, "get") else None

    def _many(self, entity: str, field: str, owner: Any) -> _Value:
        """The ids a many-link holds, as a subquery (`warehouse IN CURRENT_USER().warehouses`)."""
        finder = getattr(self.tables, "many_link", None)
        junction = finder(entity, field) if finder is not None else None
        if junction is None:
            raise NoSqlForm(f"{field} holds several values and has no SQL form here")
        return _Value(select(junction.c.target_id).where(junction.c.owner_id == owner).scalar_subquery(),
                      Type(Kind.LIST))

    def _Follow(self, expr: ir.Follow) -> _Value:
        if expr.type.kind is Kind.LIST:
            return self._many(expr.entity, expr.field, self._compile(expr.base).sql)
        if expr.type.kind is Kind.ROWS:
            raise NoSqlForm(f"{expr.field} holds several values and has no SQL form here")
        base = self._compile(expr.base)
        target = self.tables.table(expr.entity).alias()
        column = self._column(target, expr.field, expr.type)
        subquery = select(column.sql).where(target.c.id == base.sql).correlate_except(target).scalar_subquery()
        return _Value(subquery, expr.type, column.scale)

    # --- representation helpers (SQLite) --------------------------------------------------------------

    def _decimal_text(self, value: _Value) -> Any:
        """SQLite: a number as jxc's canonical decimal text (equal numbers give equal text)."""
        if value.scale is not None:
            return func.jxc_unscale(value.sql, value.scale)
        if value.type.kind is Kind.INT:
            return cast(value.sql, Text)
        return value.sql

    def _udf_number(self, value: _Value) -> Any:
        """SQLite: a number as jxc's functions take it (an integer or canonical text)."""
        return func.jxc_unscale(value.sql, value.scale) if value.scale is not None else value.sql

    def _truth(self, value: _Value) -> Any:
        """A condition's value as SQL's boolean test (blank is unknown, so it selects nothing)."""
        if self.dialect == PG:
            return self._conform(value, Type(Kind.BOOL))
        if isinstance(value.sql, BinaryExpression) and value.sql.operator in _COMPARISONS:
            return value.sql  # `price > 1240` as it is, so that an index on price can serve it
        return value.sql == 1

    def _conform(self, value: _Value, target: Type) -> Any:
        """The value in the representation that `target` uses, for CASE branches, IN lists, COALESCE."""
        kind = target.kind
        if self.dialect == PG and value.type.kind is Kind.NULL and kind in _PG_TYPES:
            # An always-blank value (BLANK(), IF(c, BLANK())) has no type of its own in PostgreSQL, where
            # an untyped NULL passed through COALESCE or CASE becomes text.
            return cast(value.sql, _PG_TYPES[kind])
        if self.dialect == SQLITE:
            if kind is Kind.DECIMAL:
                return self._decimal_text(value)
            if kind is Kind.DATETIME and value.type.kind is Kind.DATE:
                return value.sql.op("||")(literal(" 00:00:00.000000", Text))
            return value.sql
        if kind is Kind.DECIMAL and value.type.kind is Kind.INT:
            return cast(value.sql, NUMERIC)
        if kind is Kind.DATETIME and value.type.kind is Kind.DATE:
            return cast(value.sql, DateTime)
        return value.sql

    def _text(self, value: _Value) -> Any:
        """A value inside `&`: jxc's text form, blank as empty text."""
        if self.dialect == PG:
            return pg_text(value.sql, value.type, blank_as_empty=True)
        kind = value.type.kind
        empty = literal("", Text)
        if kind is Kind.BOOL:
            return case((value.sql == 1, literal("TRUE", Text)), (value.sql == 0, literal("FALSE", Text)),
                        else_=empty)
        if kind is Kind.DATETIME:
            return func.coalesce(func.substr(value.sql, 1, 19), empty)
        if kind in (Kind.INT, Kind.DECIMAL):
            return func.coalesce(self._decimal_text(value), empty)
        return func.coalesce(value.sql, empty)  # a blank-typed value too: what it computes may fail

    # --- operators ------------------------------------------------------------------------------------

    def _Op(self, expr: ir.Op) -> _Value:
        op = expr.op
        if op in ("AND", "OR"):
            return self._logic(expr)
        if op == "NOT":
            operand = self._compile(expr.args[0])
            # In parentheses: PostgreSQL reads `NOT x IS NULL` as NOT (x IS NULL).
            return _Value(Grouping(not_(self._truth(operand))) if self.dialect == PG else case(
                (operand.sql == 1, false()), (operand.sql == 0, true()), else_=null()), expr.type)
        if op == "&":
            left, right = (self._compile(arg) for arg in expr.args)
            return _Value(self._text(left).op("||")(self._text(right)), expr.type)
        if op in ("IN", "NOT_IN"):
            return self._in(expr)
        if op in ("neg", "%") and isinstance(expr.args[0], ir.Const) and isinstance(expr.args[0].value, int | Decimal) \
                and not isinstance(expr.args[0].value, bool):
            # -1.5 and 13% are constants (on SQLite, comparing a column with one can then use an index).
            value = expr.args[0].value
            return self._Const(ir.Const(expr.type, expr.start, expr.end, -value if op == "neg" else rt.percent(value)))
        args = [self._compile(arg) for arg in expr.args]
        if op in ("=", "<>", "<", "<=", ">", ">="):
            return self._compare(op, args[0], args[1], expr.type)
        if op in ("date+", "date-", "days"):
            return self._date_arithmetic(expr, args)
        return self._arithmetic(op, args, expr.type)

    def _logic(self, expr: ir.Op) -> _Value:
        left, right = (self._compile(arg) for arg in expr.args)
        is_and = expr.op == "AND"
        if self.dialect == SQLITE:
            l_true, l_false = left.sql == 1, left.sql == 0
            r_true, r_false = right.sql == 1, right.sql == 0
        else:
            left = _Value(self._truth(left), left.type)
            right = _Value(self._truth(right), right.type)
            l_true, l_false = left.sql.is_(True), left.sql.is_(False)
            r_true, r_false = right.sql.is_(True), right.sql.is_(False)
            if not _may_raise(expr.args[1]):
                return _Value(and_(left.sql, right.sql) if is_and else or_(left.sql, right.sql), expr.type)
        # Left to right, stopping as soon as the result is known (so a guard protects what follows it),
        # with SQL's three-valued logic for blanks.
        decided, value = (l_false, false()) if is_and else (l_true, true())
        decided_right = r_false if is_and else r_true
        unknown = left.sql.is_(None) | right.sql.is_(None)
        return _Value(case((decided, value), (decided_right, value), (unknown, null()),
                           else_=true() if is_and else false()), expr.type)

    def _compare(self, op: str, a: _Value, b: _Value, result: Type) -> _Value:
        symbol = {"=": "__eq__", "<>": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__",
                  ">=": "__ge__"}[op]
        kinds = {a.type.kind, b.type.kind}
        if self.dialect == PG:
            left, right = self._conform(a, b.type), self._conform(b, a.type)
            if Kind.TEXT in kinds and op not in ("=", "<>"):
                left, right = left.collate("C"), right
            return _Value(getattr(left, symbol)(right), result)
        if kinds & {Kind.DECIMAL} and kinds <= {Kind.DECIMAL, Kind.INT, Kind.NULL}:
            native = self._native_compare(a, b, op)
            if native is not None:
                return _Value(getattr(native[0], symbol)(native[1]), result)
            return _Value(getattr(func.jxc_cmp(self._udf_number(a), self._udf_number(b)), symbol)(0), result)
        if kinds == {Kind.DATE, Kind.DATETIME}:
            return _Value(getattr(self._conform(a, Type(Kind.DATETIME)), symbol)(
                self._conform(b, Type(Kind.DATETIME))), result)
        return _Value(getattr(a.sql, symbol)(b.sql), result)

    def _native_compare(self, a: _Value, b: _Value, op: str) -> tuple[Any, Any] | None:
        """SQLite: compare scaled integers directly when exact, so that indexes on the column work.

        A constant with more decimals than the column compares like the next whole number of the column's
        unit in the right direction: at scale 2, price < 12.345 is price < 12.35 (1235 as stored).
        """

        def scaled(value: _Value, scale: int) -> Any:
            if value.scale is not None:
                # A typed literal: a bare int would be bound through the column's ExactDecimal and scaled too.
                factor = literal(10 ** (scale - value.scale), BigInteger)
                return value.sql * factor if scale > value.scale else value.sql
            if value.type.kind is Kind.INT:
                return value.sql * literal(10**scale, BigInteger) if scale else value.sql
            return None

        def constant(value: _Value, scale: int, on_left: bool) -> Any:
            node = getattr(value.sql, "value", None)
            if not isinstance(node, str):
                return None
            number = Decimal(node).scaleb(scale)
            if number != number.to_integral_value():
                # x < c and x >= c: the column's next value up; x <= c and x > c: the one down.
                facing = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op) if on_left else op
                if facing in ("<", ">="):
                    number = number.to_integral_value(rounding=ROUND_CEILING)
                elif facing in ("<=", ">"):
                    number = number.to_integral_value(rounding=ROUND_FLOOR)
                else:
                    return None  # = and <> with a value the column cannot hold: the exact comparison
            return literal(int(number), BigInteger) if abs(number) < 2**62 else None

        scales = [v.scale for v in (a, b) if v.scale is not None]
        if not scales:
            return None
        scale = max(scales)
        left = scaled(a, scale) if a.scale is not None or a.type.kind is Kind.INT else constant(a, scale, True)
        right = scaled(b, scale) if b.scale is not None or b.type.kind is Kind.INT else constant(b, scale, False)
        if left is None or right is None:
            return None
        return left, right

    def _arithmetic(self, op: str, args: list[_Value], result: Type) -> _Value:
        integers = all(a.type.kind is Kind.INT for a in args)
        if op == "neg":
            (value,) = args
            if self.dialect == SQLITE and integers:
                return _Value(func.jxc_whole(-value.sql), result)
            if self.dialect == PG or integers:
                return _Value(-self._conform(value, result), result)
            return _Value(func.jxc_neg(self._udf_number(value)), result)
        if op == "%":
            (value,) = args
            if self.dialect == PG:
                return _Value(self._conform(value, result) * literal(Decimal("0.01"), NUMERIC), result)
            return _Value(func.jxc_pct(self._udf_number(value)), result)
        if self.dialect == PG:
            args = [_Value(self._conform(arg, result), arg.type) for arg in args]
        a, b = args
        if op == "/":
            if self.dialect == PG:
                return _Value(pg_divide(a.sql, b.sql), result)
            return _Value(func.jxc_div(self._udf_number(a), self._udf_number(b)), result)
        if self.dialect == PG or integers:
            sql = {"+": a.sql + b.sql, "-": a.sql - b.sql, "*": a.sql * b.sql}[op]
            if self.dialect == SQLITE:  # SQLite turns a whole number that overflows into a float, silently
                sql = func.jxc_whole(sql)
            return _Value(sql, result)
        function = {"+": func.jxc_add, "-": func.jxc_sub, "*": func.jxc_mul}[op]
        return _Value(function(self._udf_number(a), self._udf_number(b)), result)

    def _date_arithmetic(self, expr: ir.Op, args: list[_Value]) -> _Value:
        a, b = args
        if expr.op == "days":
            if self.dialect == PG:
                return _Value(a.sql - b.sql, expr.type)
            return _Value(func.jxc_call("DAYS_BETWEEN", "DD", b.sql, a.sql), expr.type)
        if self.dialect == PG:
            days = func.trunc(cast(b.sql, NUMERIC))
            return _Value(pg_add_days(a.sql, days if expr.op == "date+" else -days, "the date is out of range",
                                      Date()), expr.type)
        count = self._udf_number(b)
        if expr.op == "date-":
            count = func.jxc_neg(count)
        return _Value(func.jxc_date_plus(a.sql, count), expr.type)

    def _in(self, expr: ir.Op) -> _Value:
        value_node, options_node = expr.args
        value = self._compile(value_node)
        if not isinstance(options_node, ir.ListExpr):
            if isinstance(options_node, ir.FieldRef) and options_node.type.kind is Kind.LIST:
                options = self._many(options_node.entity, options_node.field, self._table(options_node.level).c.id)
            else:
                options = self._compile(options_node)
            if options.type.kind is not Kind.LIST:
                raise NoSqlForm("IN over a list-valued expression has no SQL form here")
            subquery = options.sql.element if hasattr(options.sql, "element") else options.sql
            test = value.sql.in_(subquery) if expr.op == "IN" else value.sql.not_in(subquery)
            return _Value(test, expr.type)
        items = [self._compile(item) for item in options_node.items]
        common = value.type
        for item in items:
            common = _unify(common, item.type)
        left = self._conform(value, common)
        right = [self._conform(item, common) for item in items]
        if len(right) == 1:
            # `x IN ((SELECT ...))` would be read as IN over the subquery's rows (none when a link is blank).
            sql = left == right[0] if expr.op == "IN" else left != right[0]
        else:
            sql = left.in_(right) if expr.op == "IN" else left.not_in(right)
        return _Value(sql, expr.type)

    # --- special forms ---------------------------------------------------------------------------------

    def _ListExpr(self, expr: ir.ListExpr) -> _Value:
        raise NoSqlForm("a list only has a SQL form after IN")

    def _If(self, expr: ir.If) -> _Value:
        whens = []
        for condition, value in expr.branches:
            when = self._truth(self._compile(condition))
            whens.append((when, self._conform(self._compile(value), expr.type)))
        default = self._conform(self._compile(expr.default), expr.type) if expr.default is not None else null()
        return _Value(case(*whens, else_=default), expr.type)

    def _Coalesce(self, expr: ir.Coalesce) -> _Value:
        args = [self._conform(self._compile(arg), expr.type) for arg in expr.args]
        if len(args) == 1:  # SQLite's coalesce() wants at least two arguments
            return _Value(args[0], expr.type)
        return _Value(func.coalesce(*args), expr.type)

    def _Call(self, expr: ir.Call) -> _Value:
        spec = expr.function
        if spec.plugin is None and spec.name in ("TODAY", "NOW"):
            clock = self.context.today if spec.name == "TODAY" else self.context.now
            return _Value(bindparam(None, callable_=clock, type_=Date() if spec.name == "TODAY" else DateTime()),
                          expr.type)
        if spec.plugin is None and spec.name == "CURRENT_USER":
            return _Value(bindparam(None, callable_=self._current_user_id, type_=BigInteger()), expr.type)
        args = [self._compile(arg) for arg in expr.args]
        form = spec.sql.get(self.dialect)
        if self.dialect == SQLITE:
            natural = [self._udf_number(a) if a.type.is_number else a.sql for a in args]
            if form is not None:
                return _Value(form(natural, expr.args), expr.type)
            return self._sqlite_python_call(spec, expr, args)
        if form is None:
            raise NoSqlForm(f"{spec.name} has no SQL form for PostgreSQL")
        typed = [self._conform(arg, _argument_type(spec, index, expr.type)) for index, arg in enumerate(args)]
        return _Value(form(typed, expr.args), expr.type)

    def _sqlite_python_call(self, spec: FunctionSpec, expr: ir.Call, args: list[_Value]) -> _Value:
        if spec.needs_context:
            raise NoSqlForm(f"{spec.name} needs the running system and has no SQL form for SQLite")
        kinds = "".join(_KIND_CODES.get(arg.type.kind, "x") for arg in args)
        call = func.jxc_call(spec.name, kinds, *[self._udf_number(a) for a in args])
        if expr.type.kind is Kind.DECIMAL:
            call = func.jxc_dec(call)
        elif expr.type.kind is Kind.INT:
            call = func.jxc_whole(call)
        return _Value(call, expr.type)

    def _Aggregate(self, expr: ir.Aggregate) -> _Value:
        if expr.table is None:
            return self._record_aggregate(expr)
        outer = self._table(expr.level)
        child = self.tables.table(expr.child).alias()
        self._levels.append(child)
        try:
            value = self._compile(expr.value) if expr.value is not None else None
            where = self._compile(expr.where) if expr.where is not None else None
        finally:
            self._levels.pop()
        conditions = [child.c.parent_id == outer.c.id]
        if where is not None:
            conditions.append(self._truth(where))
        aggregate, scale = self._aggregate_of(expr, value)
        subquery = select(aggregate).where(*conditions).correlate_except(child).scalar_subquery()
        if expr.function in ("SUM", "COUNT"):
            zero = literal(0, BigInteger) if scale is not None or expr.type.kind is Kind.INT or self.dialect == PG \
                else literal("0", String)
            subquery = func.coalesce(subquery, zero)
        return _Value(subquery, expr.type, scale)

    def _record_aggregate(self, expr: ir.Aggregate) -> _Value:
        """SUM(total) over the rows of the query itself (the caller adds GROUP BY)."""
        table = self._table(expr.level)
        self._levels.append(table)
        try:
            value = self._compile(expr.value) if expr.value is not None else None
            where = self._compile(expr.where) if expr.where is not None else None
        finally:
            self._levels.pop()
        if where is not None:
            test = where.sql if self.dialect == PG else where.sql == 1
            if value is None:
                return _Value(func.count(case((test, 1))), expr.type)
            value = _Value(case((test, value.sql)), value.type, value.scale)
        aggregate, scale = self._aggregate_of(expr, value)
        if expr.function == "SUM":
            zero = literal(0, BigInteger) if scale is not None or expr.type.kind is Kind.INT or self.dialect == PG \
                else literal("0", String)
            aggregate = func.coalesce(aggregate, zero)
        return _Value(aggregate, expr.type, scale)

    def _aggregate_of(self, expr: ir.Aggregate, value: _Value | None) -> tuple[Any, int | None]:
        name = expr.function
        if name == "COUNT":
            return (func.count() if value is None else func.count(value.sql)), None
        assert value is not None
        if self.dialect == PG:
            if name == "AVG":
                return pg_divide(func.sum(value.sql), func.nullif(func.count(value.sql), 0)), None
            sql = value.sql.collate("C") if value.type.kind is Kind.TEXT and name in ("MIN", "MAX") else value.sql
            if name == "SUM" and expr.type.kind is Kind.INT:  # sum(bigint) is numeric in PostgreSQL
                return cast(func.sum(sql), BigInteger), None
            return {"SUM": func.sum, "MIN": func.min, "MAX": func.max}[name](sql), None
        numeric = value.type.is_number
        if name == "AVG":
            return func.jxc_avg(self._udf_number(value)), None
        if not numeric or value.type.kind is Kind.INT or value.scale is not None:
            function = {"SUM": func.sum, "MIN": func.min, "MAX": func.max}[name]
            return function(value.sql), value.scale
        function = {"SUM": func.jxc_sum, "MIN": func.jxc_min, "MAX": func.jxc_max}[name]
        return function(value.sql), None


def _argument_type(spec: FunctionSpec, index: int, result: Type) -> Type:
    """The type a blank argument of a built-in function is given in PostgreSQL."""
    if not spec.params:
        return result
    accepts = spec.params[min(index, len(spec.params) - 1)].accepts
    if accepts is functions.NUMBER:
        return Type(Kind.DECIMAL)
    if accepts is functions.DATE_LIKE:
        return Type(Kind.DATE)
    if accepts is functions.ORDERED:
        return result
    return Type(Kind.TEXT)


def _unify(a: Type, b: Type) -> Type:
    from dsl.formula.types import unify

    return unify(a, b) or a


def sql_form_missing(expr: ir.Expr, dialect: str) -> str | None:
    """Why the formula cannot run in `dialect`'s SQL, or None if it can."""
    for node in ir.walk(expr):
        if isinstance(node, ir.Call):
            reason = _call_form_missing(node, dialect)
            if reason:
                return reason
        elif isinstance(node, ir.Op) and node.op in ("IN", "NOT_IN") and not isinstance(node.args[1], ir.ListExpr):
            if node.args[1].type.kind is not Kind.LIST or not isinstance(node.args[1], ir.FieldRef | ir.Follow):
                return "IN over a list-valued expression has no SQL form here"
        elif isinstance(node, ir.FieldRef | ir.Follow) and node.type.kind is Kind.ROWS:
            return "a field with several values has no SQL form here"
    return None


def _call_form_missing(node: ir.Call, dialect: str) -> str | None:
    spec = node.function
    if spec.plugin is None and spec.name in ("TODAY", "NOW", "CURRENT_USER"):
        return None
    form = spec.sql.get(dialect)
    if form is None:
        if dialect == PG:
            return f"{spec.name} has no SQL form for PostgreSQL"
        if spec.needs_context:
            return f"{spec.name} needs the running system and has no SQL form for SQLite"
        return None
    try:  # a form may refuse some arguments (POWER with a variable exponent)
        form([null() for _ in node.args], node.args)
    except NoSqlForm as error:
        return str(error)
    return None


__all__ = ["NoSqlForm", "SqlCompiler", "TableSource", "pg_raise", "sql_form_missing"]
