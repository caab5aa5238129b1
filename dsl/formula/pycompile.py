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
from dsl.formula.types import Kind, Type
from dsl.messages import Message

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
    if isinstance(value, dt.date):  # a date is the date-time at its midnight, as with =
        value = _as_datetime(value)
    found_blank = False
    for option in options:
        if option is None:
            found_blank = True
        elif option == value or (isinstance(option, dt.date) and _as_datetime(option) == value):
            return True
    return None if found_blank else False


def _not_in(value: Any, options: Any) -> bool | None:
    result = _in(value, options)
    return None if result is None else not result


def _sum(values: list[Any]) -> Any:
    # Whole numbers add up as ints until the first Decimal; from then on the total is a Decimal and every
    # value goes through the exact context (rt.add).
    total: Any = 0
    remaining = iter(values)
    for value in remaining:
        if value is not None:
            if isinstance(value, Decimal):
                total = rt.add(total, value)
                break
            total = total + value
    else:
        return rt.whole(total)  # a sum of whole numbers is a 64-bit whole number in SQL too
    add = rt.add
    for value in remaining:
        if value is not None:
            total = add(total, value)
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


def _as_datetime(value: dt.date | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def _date_plus(value: dt.date, days: Any) -> dt.date:
    try:
        return value + dt.timedelta(days=int(days))
    except OverflowError:
        raise FormulaRuntimeError(Message("the date is out of range")) from None


def _key(value: Any) -> Any:
    """A record compares by its id, whether it is at hand as a mapping or only as its id."""
    return value.get("id") if isinstance(value, Mapping) else value


def _keys(values: Any) -> list[Any]:
    return [_key(value) for value in values or ()]


def _linear(first: Any, *rest: Any) -> Any:
    """first ± the others, exactly: `rest` alternates signs (+1 or -1) and values."""
    total = first
    for index in range(0, len(rest), 2):
        total = rt.add(total, rest[index + 1]) if rest[index] > 0 else rt.subtract(total, rest[index + 1])
    return total


def _product(first: Any, *rest: Any) -> Any:
    total = first
    for value in rest:
        total = rt.multiply(total, value)
    return total


def _arithmetic_message(error: ArithmeticError | ValueError) -> str:
    from decimal import DivisionByZero, InvalidOperation, Overflow

    if isinstance(error, DivisionByZero | ZeroDivisionError):
        return Message("division by zero")
    if isinstance(error, Overflow | OverflowError):
        return Message("the number is too large")
    if isinstance(error, InvalidOperation):
        return Message("the number is too large or the calculation is not possible")
    return str(error) or type(error).__name__


def _missing(error: KeyError) -> FormulaRuntimeError:
    return FormulaRuntimeError(Message("the record has no value for {name!r}", name=error.args[0]))


_HELPERS: dict[str, Any] = {
    "_follow": _follow, "_rows": _rows, "_in": _in, "_not_in": _not_in, "_sum": _sum, "_avg": _avg,
    "_count": _count, "_extreme": _extreme, "_as_dt": _as_datetime, "_date_plus": _date_plus,
    "_missing": _missing, "_text": rt.to_text, "_add": rt.add, "_sub": rt.subtract, "_mul": rt.multiply,
    "_div": rt.divide, "_pct": rt.percent, "_FormulaRuntimeError": FormulaRuntimeError, "_key": _key, "_keys": _keys,
    "_linear": _linear, "_product": _product, "_whole_chain": rt.whole_chain, "_whole_product": rt.whole_product,
    "_whole": rt.whole, "_whole_result": rt.whole_result, "_arithmetic_message": _arithmetic_message,
}
# Generated code nests a few parentheses per level of the formula; Python's parser allows 200. Subtrees
# deeper than this become functions of their own, so any formula the checker accepts compiles.
_SPLIT_DEPTH = 12

_DEFAULT_CONTEXT = SimpleContext()

_COMPARE = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# Operators that give a value (never blank) when none of their operands is blank; & never gives a blank.
_NEVER_BLANK_OPS = frozenset({"+", "-", "*", "/", "neg", "%", "date+", "date-", "days", "&", "NOT", *_COMPARE})


def _is_concat(spec: Any) -> bool:
    return spec.python is rt.concat and not spec.needs_context and not spec.propagate_null


class _Writer:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = dict(_HELPERS)
        self._ids = itertools.count()
        self._never_blank_seen: dict[int, bool] = {}  # id(node) -> _never_blank(node)
        self._depth = 0
        self._rows_in_scope: list[str] = []  # row variables of enclosing aggregates (_r1, _r2…)
        self.functions: list[str] = []  # sources of functions split off deep subtrees

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

    @staticmethod
    def constant(node: ir.Expr) -> tuple[bool, Any]:
        """(True, value) when `node` has a value known at compile time: a constant, a constant percentage
        (13%) or a negated whole number; (False, None) otherwise."""
        if isinstance(node, ir.Const):
            return True, node.value
        if isinstance(node, ir.Op) and node.op in ("%", "neg") and isinstance(node.args[0], ir.Const):
            value = node.args[0].value
            if node.op == "neg":
                if isinstance(value, int) and not isinstance(value, bool):
                    return True, -value
                return False, None
            if isinstance(value, int | Decimal) and not isinstance(value, bool):
                try:
                    return True, rt.percent(value)
                except ArithmeticError:  # pragma: no cover - left for run time, where it is reported
                    return False, None
        return False, None

    def _present(self, node: ir.Expr) -> bool:
        """Whether `node` is a constant that is not blank."""
        known, value = self.constant(node)
        return known and value is not None

    def _never_blank(self, node: ir.Expr) -> bool:
        """Whether `node` can be seen at compile time never to be blank: a constant, text joined with & or
        CONCAT, SUM and COUNT, a COALESCE with one of these, or an operator on such values."""
        seen = self._never_blank_seen.get(id(node))
        if seen is not None:
            return seen
        result = self._present(node)
        if not result:
            match node:
                case ir.Op(op=op, args=args) if op in _NEVER_BLANK_OPS:
                    result = op == "&" or all(self._never_blank(arg) for arg in args)
                case ir.Call(function=spec):
                    result = _is_concat(spec)
                case ir.Coalesce(args=args):
                    result = any(self._never_blank(arg) for arg in args)
                case ir.Aggregate(function=function):
                    result = function in ("SUM", "COUNT")
        self._never_blank_seen[id(node)] = result
        return result

    # ---------------------------------------------------------------------------------------------

    def expr(self, node: ir.Expr) -> str:
        method = getattr(self, "_" + type(node).__name__)
        if self._depth >= _SPLIT_DEPTH and not isinstance(node, ir.Const | ir.FieldRef | ir.RecordRef):
            return self._split(node, method)
        self._depth += 1
        try:
            return method(node)
        finally:
            self._depth -= 1

    def _split(self, node: ir.Expr, method: Callable[[ir.Expr], str]) -> str:
        """Compile `node` as a function of its own and call it, so that no source nests too deeply."""
        outer = self._depth
        self._depth = 0
        try:
            body = method(node)
        finally:
            self._depth = outer
        name = f"_g{next(self._ids)}"
        parameters = ", ".join(["r0", "c", *self._rows_in_scope])
        self.functions.append(f"def {name}({parameters}):\n    return {body}\n")
        return f"{name}({parameters})"

    @staticmethod
    def _record(level: int) -> str:
        return "r0" if level == 0 else f"_r{level}"

    def _Const(self, node: ir.Const) -> str:
        return self.const(node.value)

    def _FieldRef(self, node: ir.FieldRef) -> str:
        return f"{self._record(node.level)}[{node.field!r}]"

    def _RecordRef(self, node: ir.RecordRef) -> str:
        return self._record(node.level)

    def _linked(self, entity: str, value: str) -> str:
        """The linked record: `value` itself when it is a dict (the usual case), else _follow's answer."""
        temp = self.temp()
        return f"({temp} if type({temp} := {value}) is dict else _follow(c, {entity!r}, {temp}))"

    def _ParentRef(self, node: ir.ParentRef) -> str:
        return self._linked(node.entity, f"{self._record(node.level)}.get('parent')")

    def _Follow(self, node: ir.Follow) -> str:
        base = self.expr(node.base)
        if node.base.type.kind is Kind.RECORD and not isinstance(node.base, ir.ParentRef):
            base = self._linked(node.entity, base)
        record = self.temp()
        return f"(None if ({record} := {base}) is None else {record}.get({node.field!r}))"

    def _text(self, node: ir.Expr) -> str:
        """`node` as text, the way `&` and CONCAT read it (rt.to_text)."""
        known, value = self.constant(node)
        if known:
            try:
                return self.const(rt.to_text(value))
            except FormulaRuntimeError:  # pragma: no cover - the checker only lets textual values through
                pass
        code = self.expr(node)
        if (isinstance(node, ir.Op) and node.op == "&") or (isinstance(node, ir.Call) and _is_concat(node.function)):
            return code  # already text
        # The usual run-time types first, inline (what rt.to_text does for them); anything else goes to _text.
        temp = self.temp()
        if node.type.kind is Kind.TEXT:
            return f"({temp} if type({temp} := {code}) is str else _text({temp}))"
        if node.type.kind is Kind.INT:
            return f"(str({temp}) if type({temp} := {code}) is int else _text({temp}))"
        return f"_text({code})"

    def _strict(self, nodes: tuple[ir.Expr, ...] | list[ir.Expr], args: list[str],
                body: Callable[[list[str]], str], nulls: bool = True) -> str:
        """Evaluate every argument (`args`, compiled from `nodes`) in order, then: blank if any is blank
        (when `nulls`), else `body(values)`.

        When no argument can be blank (see _never_blank), `body(args)` evaluates them in order by itself.
        Otherwise constants go into `body` as they are, and the other arguments are bound to temporaries,
        each tested with `is None` right after it is evaluated; the tests are joined with `|`, which, unlike
        `or`, still evaluates every argument (so an error in a later one is not hidden by a blank).
        """
        if not nulls or all(self._never_blank(node) for node in nodes):
            return body(args)
        values, tests = [], []
        for node, arg in zip(nodes, args, strict=True):
            if self._present(node):
                values.append(arg)
                continue
            temp = self.temp()
            values.append(temp)
            tests.append(f"(({temp} := {arg}) is None)")
        if not tests:
            return body(values)
        if len(tests) == 1:
            return f"(None if {tests[0][1:-1]} else {body(values)})"
        return f"(None if {' | '.join(tests)} else {body(values)})"

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
            return self._strict(args, [self.expr(args[0])], lambda v: f"(not {v[0]})")
        if op == "&":
            return "(" + " + ".join(self._text(part) for part in self._chain(node, ("&",))) + ")"
        if op in ("IN", "NOT_IN") and (args[0].type.kind is Kind.RECORD or (
                args[1].type.kind is Kind.LIST and args[1].type.item is not None
                and args[1].type.item.kind is Kind.RECORD)):  # a record, or an id, among records: by id
            helper = "_in" if op == "IN" else "_not_in"
            return f"{helper}(_key({self.expr(args[0])}), _keys({self.expr(args[1])}))"
        if op in ("IN", "NOT_IN") and isinstance(args[1], ir.ListExpr) and {Kind.DATE, Kind.DATETIME} <= {
                arg.type.kind for arg in (args[0], *args[1].items)}:  # a date is the date at 00:00
            helper = "_in" if op == "IN" else "_not_in"
            items = "".join(f"_as_dt({self.expr(item)}), " for item in args[1].items)
            return f"{helper}(_as_dt({self.expr(args[0])}), ({items}))"
        if op in ("IN", "NOT_IN"):
            options = self._constant_options(args[1])
            if options is not None:  # `x IN (1, 2, 3)`: a tuple made once; `in` compares as _in does
                test = "in" if op == "IN" else "not in"
                return self._strict(args[:1], [self.expr(args[0])], lambda v: f"({v[0]} {test} {options})")
            helper = "_in" if op == "IN" else "_not_in"
            return f"{helper}({self.expr(args[0])}, {self.expr(args[1])})"
        known, value = self.constant(node)
        if known:
            return self.const(value)
        compiled = [self.expr(arg) for arg in args]
        if op in _COMPARE:
            kinds = {a.type.kind for a in args}
            if kinds == {Kind.DATE, Kind.DATETIME}:
                compiled = [f"_as_dt({c})" for c in compiled]
            if Kind.RECORD in kinds:
                compiled = [f"_key({c})" for c in compiled]
            symbol = _COMPARE[op]
            return self._strict(args, compiled, lambda v: f"({v[0]} {symbol} {v[1]})")
        if op == "neg":
            if args[0].type.kind is Kind.INT:
                return self._strict(args, compiled, lambda v: f"_whole(-{v[0]})")
            return self._strict(args, compiled, lambda v: f"(-{v[0]})")
        if op == "%":
            return self._strict(args, compiled, lambda v: f"_pct({v[0]})")
        if op == "date+":
            return self._strict(args, compiled, lambda v: f"_date_plus({v[0]}, {v[1]})")
        if op == "date-":
            return self._strict(args, compiled, lambda v: f"_date_plus({v[0]}, -{v[1]})")
        if op == "days":
            return self._strict(args, compiled, lambda v: f"({v[0]} - {v[1]}).days")
        if op == "/":
            return self._strict(args, compiled, lambda v: f"_div({v[0]}, {v[1]})")
        return self._arithmetic_chain(node)

    def _arithmetic_chain(self, node: ir.Op) -> str:
        """a + b - c + … or a * b * … in one flat expression (exact, so the grouping does not matter)."""
        ops = ("+", "-") if node.op in ("+", "-") else ("*",)
        signed = self._signed_chain(node, ops)
        nodes = [part for _, part in signed]
        compiled = [self.expr(part) for part in nodes]
        if all(part.type.kind is Kind.INT for part in nodes):
            if ops == ("*",):
                return self._strict(nodes, compiled, lambda v: f"_whole_product({', '.join(v)})")

            def body(values: list[str]) -> str:
                parts = [values[0]]
                for (sign, _), value in zip(signed[1:], values[1:], strict=True):
                    parts += ["1" if sign == "+" else "-1", value]
                return f"_whole_chain({', '.join(parts)})"
            return self._strict(nodes, compiled, body)
        if ops == ("*",):
            return self._strict(nodes, compiled, lambda v: f"_product({', '.join(v)})")
        if len(signed) == 2:
            helper = "_add" if signed[1][0] == "+" else "_sub"
            return self._strict(nodes, compiled, lambda v: f"{helper}({v[0]}, {v[1]})")

        def linear(values: list[str]) -> str:
            parts = [values[0]]
            for (sign, _), value in zip(signed[1:], values[1:], strict=True):
                parts += ["1" if sign == "+" else "-1", value]
            return f"_linear({', '.join(parts)})"
        return self._strict(nodes, compiled, linear)

    @staticmethod
    def _signed_chain(node: ir.Expr, ops: tuple[str, ...]) -> list[tuple[str, ir.Expr]]:
        """The operands of a left-nested chain of `ops`, each with the operator before it."""
        parts: list[tuple[str, ir.Expr]] = []
        while isinstance(node, ir.Op) and node.op in ops and len(node.args) == 2:
            parts.append((node.op, node.args[1]))
            node = node.args[0]
        parts.append(("+", node))
        return list(reversed(parts))

    def _chain(self, node: ir.Expr, ops: tuple[str, ...]) -> list[ir.Expr]:
        return [part for _, part in self._signed_chain(node, ops)]

    def _constant_options(self, node: ir.Expr) -> str | None:
        """A list of constants none of which is blank, as a constant tuple (for IN); else None."""
        if not isinstance(node, ir.ListExpr):
            return None
        values = []
        for item in node.items:
            known, value = self.constant(item)
            if not known or value is None:
                return None
            values.append(value)
        return self.const(tuple(values))

    def _ListExpr(self, node: ir.ListExpr) -> str:
        return "(" + "".join(f"{self.expr(item)}, " for item in node.items) + ")"

    def _as_type(self, node: ir.Expr, target: Type) -> str:
        """`node` compiled as a value of `target`: a date where a date and time is expected is its 00:00."""
        code = self.expr(node)
        if target.kind is Kind.DATETIME and node.type.kind is Kind.DATE:
            return f"_as_dt({code})"
        return code

    def _If(self, node: ir.If) -> str:
        code = self._as_type(node.default, node.type) if node.default is not None else "None"
        for condition, value in reversed(node.branches):
            if isinstance(condition, ir.Const):  # IFS(…, TRUE, x): x; a blank or FALSE branch is never taken
                code = self._as_type(value, node.type) if condition.value is True else code
                continue
            code = f"({self._as_type(value, node.type)} if {self.expr(condition)} else {code})"
        return code

    def _Coalesce(self, node: ir.Coalesce) -> str:
        args = list(node.args)
        for index, arg in enumerate(args):
            if self._present(arg):  # a constant: the values after it are never reached
                args = args[: index + 1]
                break
        code = self._as_type(args[-1], node.type) if self._present(args[-1]) else "None"
        for arg in reversed(args[:-1] if self._present(args[-1]) else args):
            temp = self.temp()
            code = f"({temp} if ({temp} := {self._as_type(arg, node.type)}) is not None else {code})"
        return code

    def _Call(self, node: ir.Call) -> str:
        spec = node.function
        if _is_concat(spec):  # CONCAT(a, b, …) is a & b & …
            return "(" + " + ".join(self._text(arg) for arg in node.args) + ")" if node.args else "''"
        function = self.function(spec.python)
        args = [self.expr(arg) for arg in node.args]
        prefix = ["c"] if spec.needs_context else []
        if not args:
            return f"{function}({', '.join(prefix)})"
        if node.type.kind is Kind.INT and spec.plugin is None and not spec.needs_context:
            # a whole-number result (ROUND(x), ABS(n), MOD(a, b)...) is 64-bit in SQL: the same limit here
            return self._strict(node.args, args, lambda v: f"_whole_result({function}({', '.join(prefix + v)}))",
                                nulls=spec.propagate_null)
        return self._strict(node.args, args, lambda v: f"{function}({', '.join(prefix + v)})",
                            nulls=spec.propagate_null)

    def _Aggregate(self, node: ir.Aggregate) -> str:
        row = self._record(node.level + 1)
        if node.table is None:  # dashboards: level 0 is the list of the group's records
            source = f"_rows({self._record(node.level)})"
        else:
            source = f"_rows({self._record(node.level)}[{node.table!r}])"
        self._rows_in_scope.append(row)
        try:
            where = f" if {self.expr(node.where)}" if node.where is not None else ""
            value = self.expr(node.value) if node.value is not None else "1"
        finally:
            self._rows_in_scope.pop()
        items = f"[{value} for {row} in {source}{where}]"
        match node.function:
            case "SUM":
                return f"_sum({items})"
            case "COUNT":
                return f"len({items})" if node.value is None else f"_count({items})"
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
    source = "".join(writer.functions) + (
        "def formula(r0, c=_default_context):\n"
        "    try:\n"
        f"        return {body}\n"
        "    except KeyError as error:\n"
        "        raise _missing(error) from None\n"
        "    except (ArithmeticError, ValueError) as error:\n"
        "        raise _FormulaRuntimeError(_arithmetic_message(error)) from None\n"
    )
    code = compile(source, f"<formula {name}>", "exec")
    exec(code, writer.namespace)  # generated from the checked tree; no user text is in `source`
    function = writer.namespace["formula"]
    function.__jxc_source__ = source
    return function
