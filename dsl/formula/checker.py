"""Static checking: resolve names and labels, check every type, build the typed IR (dsl.formula.ir).

Errors are FormulaError with the character offset of the offending part, so the loader can report the
formula's own column.
"""

from __future__ import annotations

from dataclasses import dataclass

from dsl.formula import ir
from dsl.formula import syntax as s
from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.errors import FormulaError
from dsl.formula.functions import SPECIAL_FORMS, Accepts, FunctionSpec, Registry
from dsl.formula.types import Kind, Type
from dsl.messages import Message
from dsl.problems import did_you_mean

AGGREGATES = ("SUM", "COUNT", "AVG", "MIN", "MAX")


@dataclass(frozen=True, slots=True)
class _RowScope:
    """Inside SUM(lines.x): `lines` stands for the current row of entity `child` at `level`."""

    names: frozenset[str]  # the table field's name and labels (casefolded labels)
    child: EntityInfo
    level: int


class Checker:
    def __init__(self, catalog: Catalog, registry: Registry, entity: str | None, *,
                 aggregate_records: bool = False) -> None:
        self.catalog = catalog
        self.registry = registry
        # Dashboards: SUM(total) adds up `total` over the records of the query (a group of them).
        self.aggregate_records = aggregate_records
        self._record_level: int | None = None
        self.root: EntityInfo | None = catalog.entity(entity) if entity else None
        if entity and self.root is None:
            raise ValueError(f"unknown entity {entity!r}")
        self._rows: list[_RowScope] = []

    # --- entry point ----------------------------------------------------------------------------------

    def check(self, node: s.Node) -> ir.Expr:
        expr = self._expr(node)
        if expr.type.kind is Kind.ROWS:
            raise FormulaError(Message("{part} is a table; use SUM, COUNT, AVG, MIN or MAX over it",
                                       part=self._text_of(node)), node.start)
        if isinstance(expr, ir.RecordRef):
            raise FormulaError(Message("a table row cannot be used on its own; name one of its fields"), node.start)
        return expr

    # --- dispatch ---------------------------------------------------------------------------------------

    def _expr(self, node: s.Node) -> ir.Expr:
        match node:
            case s.Number(value=value):
                return ir.Const(t.INT if isinstance(value, int) else t.DECIMAL, node.start, node.end, value)
            case s.String(value=value):
                return ir.Const(t.TEXT, node.start, node.end, value)
            case s.Boolean(value=value):
                return ir.Const(t.BOOL, node.start, node.end, value)
            case s.Name():
                return self._name(node)
            case s.Member():
                return self._member(node)
            case s.Unary():
                return self._unary(node)
            case s.Binary():
                return self._binary(node)
            case s.In():
                return self._in(node)
            case s.ListNode():
                raise FormulaError(Message("a list in parentheses can only follow IN, like x IN (1, 2, 3)"),
                                   node.start)
            case s.Call():
                return self._call(node)
        raise FormulaError(Message("this part of the formula is not understood"), node.start)

    # --- names --------------------------------------------------------------------------------------------

    def _row_scope_for(self, node: s.Name) -> _RowScope | None:
        key = node.name.casefold() if node.is_label else node.name
        for scope in reversed(self._rows):
            if key in scope.names:
                return scope
        return None

    def _name(self, node: s.Name) -> ir.Expr:
        row = self._row_scope_for(node)
        if row is not None:
            return ir.RecordRef(t.record(row.child.name), node.start, node.end, row.child.name, row.level)
        entity = self.root
        if entity is None:
            raise FormulaError(Message("'{name}' cannot be used here: this formula is not about a record",
                                       name=node.name), node.start)
        if self.aggregate_records and self._record_level is None:
            raise FormulaError(Message("'{name}' must be inside an aggregate here, like SUM({name}) or "
                                       "MAX({name}): this value sums up a group of records", name=node.name),
                               node.start)
        level = self._record_level or 0
        if not node.is_label and node.name == "parent" and entity.parent and "parent" not in entity.fields:
            return ir.ParentRef(t.record(entity.parent), node.start, node.end, entity.parent, level)
        info = self._lookup(entity, node.name, node.is_label, node.start)
        return ir.FieldRef(info.type, node.start, node.end, entity.name, info.name, level)

    def _lookup(self, entity: EntityInfo, name: str, is_label: bool, position: int) -> FieldInfo:
        if is_label:
            found = entity.by_label(name)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                names = ", ".join(f.name for f in found)
                raise FormulaError(Message("the label {{{label}}} is used by several fields of {entity} ({names});"
                                           " refer to the field by its name", label=name, entity=entity.name,
                                           names=names), position)
            raise FormulaError(Message("{entity} has no field labelled {{{label}}}", entity=entity.name, label=name),
                               position, did_you_mean(name, entity.all_labels()))
        info = entity.fields.get(name)
        if info is not None:
            return info
        hint = did_you_mean(name, entity.fields)
        if self.registry.get(name) or name.upper() in SPECIAL_FORMS:
            hint = Message("to call the function {function}, write {function}(…)", function=name.upper())
        raise FormulaError(Message("{entity} has no field '{name}'", entity=entity.name, name=name), position, hint)

    def _member(self, node: s.Member) -> ir.Expr:
        base = self._expr(node.base)
        label = f"{{{node.name}}}" if node.is_label else node.name
        if base.type.kind is Kind.ROWS:
            raise FormulaError(Message("{table} is a table with many rows; use an aggregate such as "
                                       "SUM({table}.{field})", table=self._text_of(node.base), field=label),
                               node.start)
        if base.type.kind is not Kind.RECORD or not base.type.entity:
            raise FormulaError(Message("'.{field}' needs a record before it, but this is {type}", field=label,
                                       type=base.type.describe()), node.start)
        entity = self.catalog.entity(base.type.entity)
        if entity is None:
            raise FormulaError(Message("unknown entity '{entity}'", entity=base.type.entity), node.start)
        info = self._lookup(entity, node.name, node.is_label, self._member_name_start(node))
        if isinstance(base, ir.RecordRef):
            return ir.FieldRef(info.type, node.start, node.end, entity.name, info.name, base.level)
        return ir.Follow(info.type, node.start, node.end, base, entity.name, info.name)

    @staticmethod
    def _member_name_start(node: s.Member) -> int:
        return max(node.base.end + 1, node.end - len(node.name) - (2 if node.is_label else 0))

    # --- operators ---------------------------------------------------------------------------------------

    def _unary(self, node: s.Unary) -> ir.Expr:
        operand = self._expr(node.operand)
        if node.op == "NOT":
            self._require(operand, _BOOL, node.operand, "NOT")
            return ir.Op(t.BOOL, node.start, node.end, "NOT", (operand,))
        self._require(operand, _NUMBER, node.operand, node.op)
        if node.op == "+":
            return operand
        if node.op == "%":
            return ir.Op(t.DECIMAL, node.start, node.end, "%", (operand,))
        result = operand.type if operand.type.kind is not Kind.NULL else t.DECIMAL
        return ir.Op(result, node.start, node.end, "neg", (operand,))

    def _binary(self, node: s.Binary) -> ir.Expr:
        left, right = self._expr(node.left), self._expr(node.right)
        op = node.op
        if op in ("AND", "OR"):
            self._require(left, _BOOL, node.left, op)
            self._require(right, _BOOL, node.right, op)
            return ir.Op(t.BOOL, node.start, node.end, op, (left, right))
        if op == "&":
            self._require(left, _TEXTUAL, node.left, "&")
            self._require(right, _TEXTUAL, node.right, "&")
            return ir.Op(t.TEXT, node.start, node.end, "&", (left, right))
        if op in ("=", "<>", "<", "<=", ">", ">="):
            return self._compare(node, left, right)
        if op == "^":
            return self._call_spec(self._spec("POWER"), (left, right), (node.left, node.right), node)
        return self._arithmetic(node, left, right)

    def _compare(self, node: s.Binary, left: ir.Expr, right: ir.Expr) -> ir.Expr:
        for side, syntax in ((left, node.left), (right, node.right)):
            if not side.type.is_scalar:
                raise FormulaError(Message("{part} is {type} and cannot be compared", part=self._text_of(syntax),
                                           type=side.type.describe()), syntax.start)
        if not t.comparable(left.type, right.type):
            raise FormulaError(_cannot_compare(left.type, right.type), node.op_start,
                               _compare_hint(left.type, right.type))
        if node.op not in ("=", "<>") and Kind.RECORD in (left.type.kind, right.type.kind):
            raise FormulaError(Message("records can only be compared with = and <>"), node.op_start)
        return ir.Op(t.BOOL, node.start, node.end, node.op, (left, right))

    def _arithmetic(self, node: s.Binary, left: ir.Expr, right: ir.Expr) -> ir.Expr:
        op = node.op
        lk, rk = left.type.kind, right.type.kind
        dates = (Kind.DATE, Kind.DATETIME)
        if lk in dates or rk in dates:
            if Kind.DATETIME in (lk, rk):
                raise FormulaError(Message("arithmetic on a date and time is not supported"), node.op_start,
                                   Message("use DATEADD(value, n, \"day\") or DAYS_BETWEEN(start, end)"))
            if op == "+" and ((lk is Kind.DATE and right.type.is_number) or
                              (rk is Kind.DATE and left.type.is_number)):
                return ir.Op(t.DATE, node.start, node.end, "date+", (left, right) if lk is Kind.DATE
                             else (right, left))
            if op == "-" and lk is Kind.DATE and right.type.is_number:
                return ir.Op(t.DATE, node.start, node.end, "date-", (left, right))
            if op == "-" and lk is Kind.DATE and rk is Kind.DATE:
                return ir.Op(t.INT, node.start, node.end, "days", (left, right))
            raise FormulaError(Message("cannot use {op} on {left} and {right}", op=op, left=left.type.describe(),
                                       right=right.type.describe()), node.op_start)
        self._require(left, _NUMBER, node.left, op)
        self._require(right, _NUMBER, node.right, op)
        if op == "/":
            result = t.DECIMAL
        elif lk is Kind.INT and rk is Kind.INT:
            result = t.INT
        else:
            result = t.DECIMAL
        return ir.Op(result, node.start, node.end, op, (left, right))

    def _in(self, node: s.In) -> ir.Expr:
        value = self._expr(node.value)
        if not value.type.is_scalar:
            raise FormulaError(Message("{part} is {type}; IN needs a single value", part=self._text_of(node.value),
                                       type=value.type.describe()), node.value.start)
        if isinstance(node.options, s.ListNode):
            items = tuple(self._expr(item) for item in node.options.items)
            for item, syntax in zip(items, node.options.items, strict=True):
                if not t.comparable(value.type, item.type):
                    raise FormulaError(_cannot_compare(value.type, item.type), syntax.start)
            options: ir.Expr = ir.ListExpr(t.list_of(value.type), node.options.start, node.options.end, items)
        else:
            options = self._expr(node.options)
            if options.type.kind is Kind.LIST:
                by_id = value.type.kind is Kind.INT and options.type.item is not None and \
                    options.type.item.kind is Kind.RECORD  # `id IN CURRENT_USER().warehouses`: records by id
                if options.type.item and not by_id and not t.comparable(value.type, options.type.item):
                    raise FormulaError(Message("cannot look for {value} in {options}", value=value.type.describe(),
                                               options=options.type.describe()), node.options.start)
            elif options.type.is_scalar and t.comparable(value.type, options.type):
                options = ir.ListExpr(t.list_of(value.type), options.start, options.end, (options,))
            else:
                raise FormulaError(Message("IN needs a list, like (1, 2, 3), but this is {type}",
                                           type=options.type.describe()), node.options.start)
        return ir.Op(t.BOOL, node.start, node.end, "NOT_IN" if node.negated else "IN", (value, options))

    # --- calls ----------------------------------------------------------------------------------------

    def _spec(self, name: str) -> FunctionSpec:
        spec = self.registry.get(name)
        if spec is None:  # pragma: no cover - the built-in registry always has them
            raise FormulaError(Message("the function {function} is not available", function=name), 0)
        return spec

    def _call(self, node: s.Call) -> ir.Expr:
        name = node.function
        if name in ("IF", "IFS", "SWITCH"):
            return self._conditional(node)
        if name in ("AND", "OR"):
            if not node.args:
                raise FormulaError(Message("{function} needs at least one condition", function=name), node.start)
            args = tuple(self._expr(arg) for arg in node.args)
            for arg, syntax in zip(args, node.args, strict=True):
                self._require(arg, _BOOL, syntax, name)
            result = args[0]
            for arg in args[1:]:
                result = ir.Op(t.BOOL, node.start, node.end, name, (result, arg))
            if len(args) == 1:
                result = ir.Op(t.BOOL, node.start, node.end, name, (args[0], ir.Const(t.BOOL, 0, 0, name == "AND")))
            return result
        if name == "NOT":
            self._arity(node, 1, 1)
            operand = self._expr(node.args[0])
            self._require(operand, _BOOL, node.args[0], "NOT")
            return ir.Op(t.BOOL, node.start, node.end, "NOT", (operand,))
        if name == "COALESCE":
            if not node.args:
                raise FormulaError(Message("COALESCE needs at least one value"), node.start)
            args = tuple(self._expr(arg) for arg in node.args)
            return ir.Coalesce(self._unify_all(args, node.args, "COALESCE"), node.start, node.end, args)
        if name in AGGREGATES and self.aggregate_records and self._record_level is None:
            if self._mentions_rows(node):
                raise FormulaError(_adds_up_records(name), node.start, _computed_field_hint(self.root, name))
            return self._record_aggregate(node)
        if name in AGGREGATES and (name in ("SUM", "COUNT", "AVG") or self._mentions_rows(node)):
            return self._aggregate(node)
        spec = self.registry.get(name)
        if spec is None:
            raise FormulaError(Message("unknown function {function}", function=name), node.start,
                               did_you_mean(name, self.registry.names()))
        args = tuple(self._expr(arg) for arg in node.args)
        return self._call_spec(spec, args, node.args, node)

    def _call_spec(self, spec: FunctionSpec, args: tuple[ir.Expr, ...], syntax: tuple[s.Node, ...],
                   node: s.Node) -> ir.Expr:
        required = sum(1 for p in spec.params if not p.optional)
        variadic = bool(spec.params) and spec.params[-1].variadic
        if len(args) < required or (not variadic and len(args) > len(spec.params)):
            raise FormulaError(_takes(spec.name, _count_text(spec), len(args)), node.start,
                               _write_it_as(spec.signature()))
        for index, (arg, arg_syntax) in enumerate(zip(args, syntax, strict=True)):
            param = spec.params[min(index, len(spec.params) - 1)]
            if not param.accepts(arg.type):
                raise FormulaError(Message("{function}'s {param} must be {accepts}, but {part} is {type}",
                                           function=spec.name, param=param.name, accepts=param.accepts.name,
                                           part=self._text_of(arg_syntax), type=arg.type.describe()),
                                   arg_syntax.start)
        return ir.Call(spec.result_type(args), node.start, node.end, spec, args)

    def _conditional(self, node: s.Call) -> ir.Expr:
        name, raw = node.function, node.args
        branches: list[tuple[ir.Expr, ir.Expr]] = []
        default: ir.Expr | None = None
        if name == "IF":
            self._arity(node, 2, 3)
            condition = self._expr(raw[0])
            self._require(condition, _BOOL, raw[0], _condition_of("IF"))
            branches.append((condition, self._expr(raw[1])))
            default = self._expr(raw[2]) if len(raw) == 3 else None
        elif name == "IFS":
            if len(raw) < 2 or len(raw) % 2:
                raise FormulaError(Message("IFS needs pairs of condition and value"), node.start,
                                   _write_it_as("IFS(condition1, value1, condition2, value2, …)"))
            for i in range(0, len(raw), 2):
                condition = self._expr(raw[i])
                self._require(condition, _BOOL, raw[i], _condition_of("IFS"))
                branches.append((condition, self._expr(raw[i + 1])))
        else:  # SWITCH(expression, value1, result1, ..., [default])
            if len(raw) < 3:
                raise FormulaError(Message("SWITCH needs an expression and at least one value and result"),
                                   node.start, _write_it_as("SWITCH(expression, value1, result1, …, [default])"))
            subject = self._expr(raw[0])
            pairs = raw[1:]
            if len(pairs) % 2:
                default = self._expr(pairs[-1])
                pairs = pairs[:-1]
            for i in range(0, len(pairs), 2):
                match = self._expr(pairs[i])
                if not t.comparable(subject.type, match.type):
                    raise FormulaError(_cannot_compare(subject.type, match.type), pairs[i].start)
                condition = ir.Op(t.BOOL, pairs[i].start, pairs[i].end, "=", (subject, match))
                branches.append((condition, self._expr(pairs[i + 1])))
        values = [value for _, value in branches] + ([default] if default is not None else [])
        result = values[0].type
        for value in values[1:]:
            unified = t.unify(result, value.type)
            if unified is None:
                raise FormulaError(Message("{function}'s results must all be of one kind, but {one} and {other} mix",
                                           function=name, one=value.type.describe(), other=result.describe()),
                                   value.start)
            result = unified
        return ir.If(result, node.start, node.end, tuple(branches), default)

    # --- aggregates over child rows ------------------------------------------------------------------------

    def _mentions_rows(self, node: s.Call) -> bool:
        return bool(node.args) and self._rows_fields(node.args[0]) != set()

    def _rows_fields(self, node: s.Node) -> set[str]:
        """Names of table fields (of the formula's record) that `node` refers to as row variables."""
        found: set[str] = set()
        entity = self.root
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, s.Call) and current.function in AGGREGATES:
                continue  # a nested aggregate has its own rows
            if isinstance(current, s.Name) and entity is not None:
                if current.is_label:
                    matches = entity.by_label(current.name)
                    info = matches[0] if len(matches) == 1 else None
                else:
                    info = entity.fields.get(current.name)
                if info is not None and info.type.kind is Kind.ROWS:
                    found.add(info.name)
            stack.extend(s.children(current))
        return found

    def _aggregate(self, node: s.Call) -> ir.Expr:
        name = node.function
        if self._rows:
            raise FormulaError(Message("{function} cannot be used inside another aggregate", function=name),
                               node.start)
        if not node.args or len(node.args) > 2:
            raise FormulaError(Message("{function} takes a table column and an optional condition", function=name),
                               node.start, _write_it_as(SPECIAL_FORMS[name]))
        tables = self._rows_fields(node.args[0])
        if not tables:
            raise FormulaError(Message("{function} works on the rows of a table, like {form}", function=name,
                                       form=SPECIAL_FORMS[name]), node.args[0].start)
        if len(tables) > 1:
            raise FormulaError(Message("{function} can only go over one table at a time, but this uses {tables}",
                                       function=name, tables=_and(sorted(tables))), node.args[0].start)
        assert self.root is not None
        table = self.root.fields[next(iter(tables))]
        child = self.catalog.child_entity(table)
        if child is None:
            raise FormulaError(Message("the rows of {table} are not known", table=table.name), node.start)
        names = frozenset({table.name, *(label.casefold() for label in table.labels)})
        self._rows.append(_RowScope(names, child, len(self._rows) + 1))
        try:
            first = self._expr(node.args[0])
            where = None
            if len(node.args) == 2:
                where = self._expr(node.args[1])
                self._require(where, _BOOL, node.args[1], _condition_of(name))
        finally:
            self._rows.pop()
        value: ir.Expr | None = first
        if name == "COUNT" and first.type.kind is Kind.BOOL and where is None:
            value, where = None, first  # COUNT(lines.qty > 0): the rows where it is TRUE, as in dashboards
        elif isinstance(first, ir.RecordRef):
            if name != "COUNT":
                raise FormulaError(Message("{function} needs a column of the table, like {table}.amount",
                                           function=name, table=table.name), node.args[0].start)
            value = None
        elif name in ("SUM", "AVG"):
            self._require(first, _NUMBER, node.args[0], name)
        elif name in ("MIN", "MAX"):
            self._require(first, _ORDERED, node.args[0], name)
        elif not first.type.is_scalar:
            raise FormulaError(Message("{function} needs a single value per row", function=name),
                               node.args[0].start)
        if name == "COUNT":
            result = t.INT
        elif name == "SUM":
            result = t.INT if first.type.kind is Kind.INT else t.DECIMAL
        elif name == "AVG":
            result = t.DECIMAL
        else:
            result = first.type if first.type.kind is not Kind.NULL else t.DECIMAL
        assert self.root is not None
        return ir.Aggregate(result, node.start, node.end, name, self.root.name, table.name, child.name, 0,
                            value, where)

    def _record_aggregate(self, node: s.Call) -> ir.Expr:
        """SUM(total), COUNT(), COUNT(qty > 0)... over the records of a query (dashboards)."""
        name = node.function
        assert self.root is not None
        if len(node.args) > 2 or (name != "COUNT" and not node.args):
            raise FormulaError(Message("{function} takes a field and an optional condition here, like "
                                       "{function}(total)", function=name), node.start)
        self._record_level = 1
        try:
            value = self._expr(node.args[0]) if node.args else None
            where = None
            if name == "COUNT" and len(node.args) == 1 and value is not None and value.type.kind is Kind.BOOL:
                value, where = None, value  # COUNT(qty > 0): the records where it is TRUE
            elif len(node.args) == 2:
                where = self._expr(node.args[1])
            if where is not None:
                self._require(where, _BOOL, node.args[-1], _condition_of(name))
        finally:
            self._record_level = None
        for part in (value, where):
            if part is not None and any(isinstance(n, ir.Aggregate) for n in ir.walk(part)):
                raise FormulaError(_adds_up_records(name), node.start, _computed_field_hint(self.root, name))
        if value is not None and name in ("SUM", "AVG"):
            self._require(value, _NUMBER, node.args[0], name)
        elif value is not None and name in ("MIN", "MAX"):
            self._require(value, _ORDERED, node.args[0], name)
        if name == "COUNT":
            result = t.INT
        elif name == "SUM":
            result = t.INT if value is not None and value.type.kind is Kind.INT else t.DECIMAL
        elif name == "AVG":
            result = t.DECIMAL
        else:
            result = value.type if value is not None and value.type.kind is not Kind.NULL else t.DECIMAL
        return ir.Aggregate(result, node.start, node.end, name, self.root.name, None, self.root.name, 0,
                            value, where)

    # --- helpers ------------------------------------------------------------------------------------

    def _arity(self, node: s.Call, low: int, high: int) -> None:
        if not low <= len(node.args) <= high:
            wanted = Message("{count} arguments", count=low) if low == high else \
                Message("{low} to {high} arguments", low=low, high=high)
            raise FormulaError(_takes(node.function, wanted, len(node.args)), node.start,
                               _write_it_as(SPECIAL_FORMS[node.function]))

    def _require(self, expr: ir.Expr, accepts: Accepts, syntax: s.Node, where: str) -> None:
        if not accepts(expr.type):
            raise FormulaError(Message("{where} needs {accepts}, but {part} is {type}", where=where,
                                       accepts=accepts.name, part=self._text_of(syntax), type=expr.type.describe()),
                               syntax.start)

    def _unify_all(self, args: tuple[ir.Expr, ...], syntax: tuple[s.Node, ...], name: str) -> Type:
        result = args[0].type
        for arg, node in zip(args[1:], syntax[1:], strict=True):
            unified = t.unify(result, arg.type)
            if unified is None:
                raise FormulaError(Message("{function}'s values must all be of one kind, but {one} and {other} mix",
                                           function=name, one=arg.type.describe(), other=result.describe()),
                                   node.start)
            result = unified
        return result

    def _text_of(self, node: s.Node) -> str:
        match node:
            case s.Name(name=name, is_label=True):
                return f"{{{name}}}"
            case s.Name(name=name):
                return name
            case s.Member(base=base, name=name, is_label=is_label):
                return f"{self._text_of(base)}.{f'{{{name}}}' if is_label else name}"
            case s.Number(value=value):
                return str(value)
            case s.String(value=value):
                return f'"{value}"'
            case s.Boolean(value=value):
                return "TRUE" if value else "FALSE"
            case s.Call(function=function):
                return f"{function}(…)"
        return Message("this")


_BOOL = Accepts(Message("TRUE/FALSE (a condition)"), lambda v: v.kind is Kind.BOOL)
_NUMBER = Accepts(Message("a number"), lambda v: v.is_number)
_TEXTUAL = Accepts(Message("text, a number or a date"), lambda v: v.is_scalar and v.kind is not Kind.RECORD)
_ORDERED = Accepts(Message("a number, a date or text"),
                   lambda v: v.kind in (Kind.INT, Kind.DECIMAL, Kind.TEXT, Kind.DATE, Kind.DATETIME))


def _count_text(spec: FunctionSpec) -> Message:
    required = sum(1 for p in spec.params if not p.optional)
    if spec.params and spec.params[-1].variadic:
        if required > 1:
            return Message("at least {count} arguments", count=required)
        return Message("at least {count} argument", count=max(required, 1))
    total = len(spec.params)
    if required == total:
        if total == 1:
            return Message("{count} argument", count=total)
        return Message("{count} arguments", count=total)
    return Message("{low} to {high} arguments", low=required, high=total)


def _takes(function: str, count: Message, given: int) -> Message:
    return Message("{function} takes {count}, but {given} were given", function=function, count=count, given=given)


def _write_it_as(form: str) -> Message:
    return Message("write it as {form}", form=form)


def _condition_of(function: str) -> Message:
    return Message("{function}'s condition", function=function)


def _and(names: list[str]) -> str:
    """'a and b and c', each 'and' translatable."""
    joined: str = names[0]
    for name in names[1:]:
        joined = Message("{first} and {second}", first=joined, second=name)
    return joined


def _cannot_compare(a: Type, b: Type) -> Message:
    return Message("cannot compare {left} with {right}", left=a.describe(), right=b.describe())


def _adds_up_records(function: str) -> Message:
    return Message("{function} here adds up records; the rows of a table cannot be added up inside it",
                   function=function)


def _computed_field_hint(root: EntityInfo | None, function: str) -> Message:
    if root is None:
        return Message("give the entity a computed field such as SUM(lines.qty) and use {function}(that_field)",
                       function=function)
    return Message("give {entity} a computed field such as SUM(lines.qty) and use {function}(that_field)",
                   entity=root.name, function=function)


def _compare_hint(a: Type, b: Type) -> Message | None:
    kinds = {a.kind, b.kind}
    if Kind.TEXT in kinds and (Kind.INT in kinds or Kind.DECIMAL in kinds):
        return Message('numbers and text differ: write the number without quotes, or compare text with "…"')
    if Kind.DATE in kinds and Kind.TEXT in kinds:
        return Message("write the date as DATE(2026, 1, 31)")
    return None


def check(source: str, catalog: Catalog, registry: Registry, entity: str | None) -> ir.Expr:
    """Parse and check a formula in one step."""
    from dsl.formula.parser import parse

    return Checker(catalog, registry, entity).check(parse(source))
