"""Defaults, computed fields and validation of one record, on the server, reporting every problem by field.

Formulas that follow links (`item.tax_rate`) read the linked records, fetched in one query per entity
beforehand, so a document with many lines costs a few queries, not one per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, literal_column, select, union_all
from sqlalchemy.engine import Connection

from dsl.formula import ir
from dsl.formula.errors import FormulaRuntimeError
from dsl.model import App, Entity, Field, FieldType, Formula
from engine.context import EngineContext
from engine.errors import FieldProblem
from engine.messages import Message
from engine.schema import Schema
from engine.store import Record


def _path(table: str | None, index: int | None, name: str) -> str:
    return f"{table}[{index}].{name}" if table is not None else name


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


class EntityRules:
    """Everything the server enforces on one entity, prepared once."""

    def __init__(self, app: App, entity: Entity) -> None:
        self.app = app
        self.entity = entity
        self.tables = {name: app.entities[field.table] for name, field in entity.fields.items()
                       if field.type is FieldType.TABLE and field.table}

    def formulas(self) -> Iterator[tuple[Entity, Formula]]:
        for owner in (self.entity, *self.tables.values()):
            for field in owner.fields.values():
                for formula in (field.default, field.formula, field.required_if, field.visible_if):
                    if formula is not None:
                        yield owner, formula
                for validation in field.validations:
                    yield owner, validation.rule
            for validation in owner.validations:
                yield owner, validation.rule

    @cached_property
    def followed_links(self) -> dict[str, set[tuple[str | None, str]]]:
        """Target entity → the (table, link field) pairs whose records formulas read through the link."""
        found: dict[str, set[tuple[str | None, str]]] = {}
        table_of_child = {child.name: name for name, child in self.tables.items()}
        for owner, formula in self.formulas():
            for node in ir.walk(formula.expr):
                if isinstance(node, ir.Follow) and isinstance(node.base, ir.FieldRef) \
                        and node.base.type.entity and node.base.entity in (owner.name, *table_of_child):
                    table = table_of_child.get(node.base.entity)
                    found.setdefault(node.base.type.entity, set()).add((table, node.base.field))
        return found


@dataclass(frozen=True)
class Preview:
    """A record as a save would compute it, with every problem a save would report, written nowhere."""

    record: Record
    problems: tuple[FieldProblem, ...]
    hidden: frozenset[str]  # paths whose visible_if does not hold
    required: frozenset[str]  # paths required now


class Computer:
    def __init__(self, app: App, schema: Schema) -> None:
        self.app = app
        self.schema = schema
        self._rules: dict[str, EntityRules] = {}
        # statements by target entity, built once: SQLAlchemy then reuses their compiled forms (every save asks)
        self._rows_by_id: dict[str, Any] = {}
        self._ids_by_id: dict[tuple[str, ...], Any] = {}

    def _rows_of(self, target: str) -> Any:
        found = self._rows_by_id.get(target)
        if found is None:
            table = self.schema.table(target)
            found = self._rows_by_id[target] = select(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
        return found

    def _ids_of(self, targets: tuple[str, ...]) -> Any:
        """Which of some ids exist, for several linked entities in one statement: (target's index, id) rows."""
        found = self._ids_by_id.get(targets)
        if found is None:
            parts = []
            for index, target in enumerate(targets):
                table = self.schema.table(target)
                parts.append(select(literal_column(str(index), Integer).label("target"), table.c.id.label("id")).where(
                    table.c.id.in_(bindparam(f"ids_{index}", expanding=True))))
            found = self._ids_by_id[targets] = parts[0] if len(parts) == 1 else union_all(*parts)
        return found

    def rules(self, entity: Entity) -> EntityRules:
        rules = self._rules.get(entity.name)
        if rules is None:
            rules = self._rules[entity.name] = EntityRules(self.app, entity)
        return rules

    # --- linked records ------------------------------------------------------------------------------

    def prefetch(self, connection: Connection, entity: Entity, record: Record, context: EngineContext) -> None:
        for target, places in self.rules(entity).followed_links.items():
            ids: set[Any] = set()
            for table, field in places:
                rows = record.get(table) or () if table else (record,)
                ids.update(row.get(field) for row in rows if isinstance(row.get(field), int))
            ids = {key for key in ids if not context.has(target, key)}
            if not ids:
                continue
            fetched = connection.execute(self._rows_of(target), {"ids": sorted(ids)}).mappings()
            context.prime(target, {row["id"]: dict(row) for row in fetched})

    # --- defaults and computed fields ------------------------------------------------------------------

    @staticmethod
    def link_rows(record: Record, rules: EntityRules) -> None:
        """Rows reach their document as row["parent"] (formulas' `parent.x`)."""
        for table in rules.tables:
            for row in record.get(table) or ():
                row["parent"] = record

    @staticmethod
    def unlink_rows(record: Record, rules: EntityRules) -> None:
        for table in rules.tables:
            for row in record.get(table) or ():
                row.pop("parent", None)

    def apply_defaults(self, entity: Entity, record: Record, given: set[str], context: EngineContext,
                       problems: list[FieldProblem], *, table: str | None = None, index: int | None = None) -> None:
        for name, field in entity.fields.items():
            if field.default is None or name in given or not _blank(record.get(name)):
                continue
            try:
                record[name] = _stored(field, field.default.python(record, context))
            except FormulaRuntimeError as error:
                problems.append(FieldProblem(_path(table, index, name),
                                             Message("its default: {error}", error=error.message)))

    def compute(self, entity: Entity, record: Record, context: EngineContext, problems: list[FieldProblem]) -> None:
        """Every computed field, in the order the formulas need (rows before the totals that sum them)."""
        rules = self.rules(entity)
        for step in entity.computed_order:
            table, _, name = step.rpartition(".")
            if table:
                child = rules.tables[table]
                field = child.fields[name]
                for index, row in enumerate(record.get(table) or ()):
                    self._compute_one(field, row, context, problems, _path(table, index, name))
            else:
                self._compute_one(entity.fields[name], record, context, problems, name)

    @staticmethod
    def _compute_one(field: Field, record: Record, context: EngineContext, problems: list[FieldProblem],
                     path: str) -> None:
        assert field.formula is not None
        try:
            record[field.name] = _stored(field, field.formula.python(record, context))
        except FormulaRuntimeError as error:
            record[field.name] = None
            problems.append(FieldProblem(path, Message("cannot be computed: {error}", error=error.message)))
        except ValueError as error:  # the result does not fit the field (too many digits)
            record[field.name] = None
            problems.append(FieldProblem(path, Message("cannot be stored: {error}", error=_error_text(error))))

    # --- conditions a form shows live ----------------------------------------------------------------------

    def conditions(self, entity: Entity, record: Record, context: EngineContext) -> tuple[frozenset[str],
                                                                                          frozenset[str]]:
        """The fields (paths such as `lines[2].batch`) whose visible_if does not hold, and those required now
        (required, or required_if holds), on a record already computed. A condition that cannot be evaluated
        leaves the field shown and not required: the save reports the reason at that field."""
        rules = self.rules(entity)
        hidden: set[str] = set()
        required: set[str] = set()
        self.link_rows(record, rules)
        try:
            places = [(entity, record, None, None)]
            places += [(child, row, table, index) for table, child in rules.tables.items()
                       for index, row in enumerate(record.get(table) or ())]
            for owner, row, table, index in places:
                for name, field in owner.fields.items():
                    path = _path(table, index, name)
                    if field.visible_if is not None and _holds(field.visible_if, row, context, [], path) is False:
                        hidden.add(path)
                    if field.required or (field.required_if is not None and
                                          _holds(field.required_if, row, context, [], path) is True):
                        required.add(path)
        finally:
            self.unlink_rows(record, rules)
        return frozenset(hidden), frozenset(required)

    # --- validation -------------------------------------------------------------------------------------

    def validate(self, connection: Connection, entity: Entity, record: Record, context: EngineContext,
                 problems: list[FieldProblem], *, formulas: bool = True) -> None:
        """Required fields, links and uniqueness always; formula rules only when `formulas` (the inputs are
        clean: a value that could not be read would only make them fail for the wrong reason)."""
        rules = self.rules(entity)
        bad = {problem.field for problem in problems}
        self._validate_fields(entity, record, context, problems, None, None, formulas, bad)
        for table, child in rules.tables.items():
            for index, row in enumerate(record.get(table) or ()):
                self._validate_fields(child, row, context, problems, table, index, formulas, bad)
        self._check_links(connection, entity, record, rules, problems, context)
        self._check_unique(connection, entity, record, problems)

    def _validate_fields(self, entity: Entity, record: Record, context: EngineContext,
                         problems: list[FieldProblem], table: str | None, index: int | None, formulas: bool,
                         bad: set[str]) -> None:
        for name, field in entity.fields.items():
            path = _path(table, index, name)
            value = record.get(name)
            if path in bad:
                continue
            if field.required and _blank(value) and not field.computed:
                what = Message("needs at least one row") if field.type is FieldType.TABLE else Message("is required")
                problems.append(FieldProblem(path, what))
            elif formulas and field.required_if is not None and _blank(value) and _holds(
                    field.required_if, record, context, problems, path) is True:
                problems.append(FieldProblem(path, Message("is required when {condition}",
                                                          condition=field.required_if.source)))
            if value is None or not formulas:
                continue
            for validation in field.validations:
                if _holds(validation.rule, record, context, problems, path) is False:
                    message = validation.message.get(self.app.locale) if validation.message else \
                        Message("must satisfy {rule}", rule=validation.rule.source)
                    problems.append(FieldProblem(path, message))
        for validation in entity.validations if formulas else ():
            path = (table and f"{table}[{index}]") or ""
            if _holds(validation.rule, record, context, problems, path) is False:
                message = validation.message.get(self.app.locale) if validation.message else \
                    Message("must satisfy {rule}", rule=validation.rule.source)
                problems.append(FieldProblem(path, message))

    def _check_links(self, connection: Connection, entity: Entity, record: Record, rules: EntityRules,
                     problems: list[FieldProblem], context: EngineContext) -> None:
        wanted: dict[str, dict[int, list[str]]] = {}  # target → id → paths using it
        for table, owner in ((None, entity), *rules.tables.items()):
            rows = [record] if table is None else record.get(table) or []
            for index, row in enumerate(rows):
                for name, field in owner.fields.items():
                    if field.type is not FieldType.LINK or row.get(name) is None:
                        continue
                    values = row[name] if field.many else [row[name]]
                    for value in values:
                        wanted.setdefault(str(field.link), {}).setdefault(value, []).append(
                            _path(table, index if table else None, name))
        unknown = {target: sorted(key for key in uses if not context.has(target, key))  # fetched: it exists
                   for target, uses in wanted.items()}
        unknown = {target: keys for target, keys in unknown.items() if keys}
        existing: set[tuple[str, Any]] = set()
        if unknown:
            targets = tuple(sorted(unknown))
            existing = {(targets[index], key) for index, key in connection.execute(
                self._ids_of(targets), {f"ids_{index}": unknown[target] for index, target in enumerate(targets)})}
        for target, uses in wanted.items():
            found = {key for key in uses if key not in unknown.get(target, ()) or (target, key) in existing}
            for missing in sorted(set(uses) - found):
                for path in uses[missing]:
                    problems.append(FieldProblem(path, Message("there is no {entity} with id {id}", entity=target,
                                                                id=missing)))

    def _check_unique(self, connection: Connection, entity: Entity, record: Record,
                      problems: list[FieldProblem]) -> None:
        table = self.schema.tables[entity.name]
        groups = [(name,) for name, field in entity.fields.items() if field.unique]
        groups += list(entity.unique)
        for group in groups:
            values = [record.get(name) for name in group]
            if any(value is None for value in values):
                continue
            query = select(table.c.id).where(and_(*(table.c[name] == value for name, value in zip(group, values,
                                                                                                   strict=True))))
            if record.get("id") is not None:
                query = query.where(table.c.id != record["id"])
            other = connection.execute(query.limit(1)).scalar()
            if other is not None:
                shown = ", ".join(str(value) for value in values)
                message = Message("these values are already used by another {entity} (id {id})",
                                  entity=entity.name, id=other) if len(group) > 1 else Message(
                    "'{value}' is already used by another {entity} (id {id})", value=shown, entity=entity.name,
                    id=other)
                problems.append(FieldProblem(group[0], message))


def _holds(formula: Formula, record: Record, context: EngineContext, problems: list[FieldProblem],
           path: str) -> bool | None:
    try:
        return formula.python(record, context)
    except FormulaRuntimeError as error:
        problems.append(FieldProblem(path, Message("cannot be checked: {error}", error=error.message)))
        return None


def _stored(field: Field, value: Any) -> Any:
    """A formula result as the field stores it: decimals rounded half away from zero to the field's scale."""
    if value is None:
        return None
    if field.type in (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT):
        from decimal import ROUND_HALF_UP, Decimal

        scale = field.scale if field.scale is not None else 2
        number = value if isinstance(value, Decimal) else Decimal(value)
        rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        if abs(rounded) >= Decimal(10) ** ((field.precision or 18) - scale):
            raise ValueError(Message("{number} has too many digits for this field", number=rounded))
        return rounded
    if field.type is FieldType.INT:
        return int(value)
    return value


def _error_text(error: ValueError) -> str:
    """A ValueError's text, the Message itself when it was raised with one (str() would drop its template)."""
    first = error.args[0] if len(error.args) == 1 else None
    return first if isinstance(first, Message) else str(error)


def count_rows(connection: Connection, table: Any, condition: Any) -> int:
    return connection.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
