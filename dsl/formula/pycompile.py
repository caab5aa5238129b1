"""Compile a checked formula (dsl.formula.ir) to a Python callable `f(record, context=None)`.

The compiler writes Python source for the checked tree and compiles it once. No user text ever reaches that
source: constants live in the function's namespace and field names are written with repr(). Records are
mappings from field name to value; a link is either the linked record (a mapping) or its id, which is then
fetched through the context; a table is a list of row mappings; a child row reaches its document through
the key "parent".
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from dsl.formula import ir
from dsl.formula import runtime as rt
from dsl.formula.context import SimpleContext
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.types import Kind

Compiled = Callable[..., Any]


def _follow(context: Any, entity: str, value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    return context.fetch(entity, value)


def _rows(value: Any) -> Any:
    return () if value is None else value


def _in(value: Any, options: Any) -> bool | None:
    if value is None:
        return None
    if options is None:
        return None
    found_blank = False
    for option in options:
        if option is None:
            found_blank = True
        elif option == value:
            return True
    return None if found_blank else False


def _not_in(value: Any, options: Any) -> bool | None:
    result = _in(value, options)
    return None if result is None else not result


def _sum(values: list[Any]) -> Any:
    total: Any = 0
    for value in values:
        if value is not None:
            total = rt.add(total, value) if isinstance(value, Decimal) or isinstance(total, Decimal) \
                else total + value
    return total


def _avg(values: list[Any]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return rt.divide(_sum(present), len(present)) if present else None


def _count(values: list[Any]) -> int:
    return sum(1 for v in values if v is not None)


def _extreme(values: list[Any], largest: bool) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return max(present) if largest else min(present)


def _as_datetime(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def _date_plus(value: dt.date, days: Any) -> dt.date:
    try:
        return value + dt.timedelta(days=int(days))
    except OverflowError:
        raise FormulaRuntimeError("the date is out of range") from None


def _missing(error: KeyError) -> FormulaRuntimeError:
    return FormulaRuntimeError(f"the record has no value for {error.args[0]!r}")


_HELPERS: dict[str, Any] = {
    "_follow": _follow, "_rows": _rows, "_in": _in, "_not_in": _not_in, "_sum": _sum, "_avg": _avg,
    "_count": _count, "_extreme": _extreme, "_as_dt": _as_datetime, "_date_plus": _date_plus,
    "_missing": _missing, "_text": rt.to_text, "_add": rt.add, "_sub": rt.subtract, "_mul": rt.multiply,
    "_div": rt.divide, "_pct": rt.percent, "_FormulaRuntimeError": FormulaRuntimeError,
}

_DEFAULT_CONTEXT = SimpleContext()

_COMPARE = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Writer:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = dict(_HELPERS)
        self._ids = itertools.count()

    def temp(self) -> str:
        return f"_t{next(self._ids)}"

    def const(self, value: Any) -> str:
        if value is None or isinstance(value, bool | int):
            return repr(value)
        name = f"_k{next(self._ids)}"
        self.namespace[name] = value
        return name

    def function(self, spec_python: Callable[..., Any]) -> str:
        name = f"_f{next(self._ids)}"
        self.namespace[name] = spec_python
        return name

    # ---------------------------------------------------------------------------------------------

    def expr(self, node: ir.Expr) -> str:
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    @staticmethod
    def _record(level: int) -> str:
        return "r0" if level == 0 else f"_r{level}"

    def _Const(self, node: ir.Const) -> str:
        return self.const(node.value)

    def _FieldRef(self, node: ir.FieldRef) -> str:
        return f"{self._record(node.level)}[{node.field!r}]"

    def _RecordRef(self, node: ir.RecordRef) -> str:
        return self._record(node.level)

    def _ParentRef(self, node: ir.ParentRef) -> str:
        return f"_follow(c, {node.entity!r}, {self._record(node.level)}.get('parent'))"

    def _Follow(self, node: ir.Follow) -> str:
        base = self.expr(node.base)
        if node.base.type.kind is Kind.RECORD and not isinstance(node.base, ir.ParentRef):
            base = f"_follow(c, {node.entity!r}, {base})"
        record = self.temp()
        return f"(None if ({record} := {base}) is None else {record}.get({node.field!r}))"

    def _strict(self, args: list[str], body: Callable[[list[str]], str], nulls: bool = True) -> str:
        """Evaluate every argument, then: blank if any is blank (when `nulls`), else `body(temps)`."""
        temps = [self.temp() for _ in args]
        bound = ", ".join(f"({temp} := {arg})" for temp, arg in zip(temps, args, strict=True))
        if not nulls:
            return f"(({bound}), {body(temps)})[-1]"
        test = " or ".join(f"{temp} is None" for temp in temps)
        return f"(None if (({bound}), {test})[-1] else {body(temps)})"

    def _Op(self, node: ir.Op) -> str:
        op, args = node.op, node.args
        if op == "AND":
            a, b = self.temp(), self.temp()
            return (f"(False if ({a} := {self.expr(args[0])}) is False else (False if ({b} := "
                    f"{self.expr(args[1])}) is False else (None if {a} is None or {b} is None else True)))")
        if op == "OR":
            a, b = self.temp(), self.temp()
            return (f"(True if ({a} := {self.expr(args[0])}) is True else (True if ({b} := "
                    f"{self.expr(args[1])}) is True else (None if {a} is None or {b} is None else False)))")
        if op == "NOT":
            return self._strict([self.expr(args[0])], lambda v: f"(not {v[0]})")
        if op == "&":
            return f"(_text({self.expr(args[0])}) + _text({self.expr(args[1])}))"
        if op in ("IN", "NOT_IN"):
            helper = "_in" if op == "IN" else "_not_in"
            return f"{helper}({self.expr(args[0])}, {self.expr(args[1])})"
        compiled = [self.expr(arg) for arg in args]
        if op in _COMPARE:
            kinds = {a.type.kind for a in args}
            if kinds == {Kind.DATE, Kind.DATETIME}:
                compiled = [f"_as_dt({c})" for c in compiled]
            symbol = _COMPARE[op]
            return self._strict(compiled, lambda v: f"({v[0]} {symbol} {v[1]})")
        if op == "neg":
            return self._strict(compiled, lambda v: f"(-{v[0]})")
        if op == "%":
            return self._strict(compiled, lambda v: f"_pct({v[0]})")
        if op == "date+":
            return self._strict(compiled, lambda v: f"_date_plus({v[0]}, {v[1]})")
        if op == "date-":
            return self._strict(compiled, lambda v: f"_date_plus({v[0]}, -{v[1]})")
        if op == "days":
            return self._strict(compiled, lambda v: f"({v[0]} - {v[1]}).days")
        if op == "/":
            return self._strict(compiled, lambda v: f"_div({v[0]}, {v[1]})")
        integers = all(a.type.kind is Kind.INT for a in args)
        if integers:
            return self._strict(compiled, lambda v: f"({v[0]} {op} {v[1]})")
        helper = {"+": "_add", "-": "_sub", "*": "_mul"}[op]
        return self._strict(compiled, lambda v: f"{helper}({v[0]}, {v[1]})")

    def _ListExpr(self, node: ir.ListExpr) -> str:
        return "(" + "".join(f"{self.expr(item)}, " for item in node.items) + ")"

    def _If(self, node: ir.If) -> str:
        code = self.expr(node.default) if node.default is not None else "None"
        for condition, value in reversed(node.branches):
            code = f"({self.expr(value)} if {self.expr(condition)} else {code})"
        return code

    def _Coalesce(self, node: ir.Coalesce) -> str:
        code = "None"
        for arg in reversed(node.args):
            temp = self.temp()
            code = f"({temp} if ({temp} := {self.expr(arg)}) is not None else {code})"
        return code

    def _Call(self, node: ir.Call) -> str:
        spec = node.function
        function = self.function(spec.python)
        args = [self.expr(arg) for arg in node.args]
        prefix = ["c"] if spec.needs_context else []
        if not args:
            return f"{function}({', '.join(prefix)})"
        return self._strict(args, lambda v: f"{function}({', '.join(prefix + v)})", nulls=spec.propagate_null)

    def _Aggregate(self, node: ir.Aggregate) -> str:
        row = self._record(node.level + 1)
        source = f"_rows({self._record(node.level)}[{node.table!r}])"
        where = f" if {self.expr(node.where)}" if node.where is not None else ""
        value = self.expr(node.value) if node.value is not None else "1"
        items = f"[{value} for {row} in {source}{where}]"
        match node.function:
            case "SUM":
                return f"_sum({items})"
            case "COUNT":
                return f"_count({items})"
            case "AVG":
                return f"_avg({items})"
            case "MIN":
                return f"_extreme({items}, False)"
            case "MAX":
                return f"_extreme({items}, True)"
        raise ValueError(node.function)


def compile_python(expr: ir.Expr, name: str = "formula") -> Compiled:
    """A callable `f(record, context=None)` computing the formula; FormulaRuntimeError on bad input.

    Without a context, the clock is the system's in the default time zone and links must be records.
    """
    writer = _Writer()
    writer.namespace["_default_context"] = _DEFAULT_CONTEXT
    body = writer.expr(expr)
    source = (
        "def formula(r0, c=_default_context):\n"
        "    try:\n"
        f"        return {body}\n"
        "    except KeyError as error:\n"
        "        raise _missing(error) from None\n"
        "    except (ArithmeticError, ValueError) as error:\n"
        "        raise _FormulaRuntimeError(str(error) or type(error).__name__) from None\n"
    )
    code = compile(source, f"<formula {name}>", "exec")
    exec(code, writer.namespace)  # generated from the checked tree; no user text is in `source`
    function = writer.namespace["formula"]
    function.__jxc_source__ = source
    return function
