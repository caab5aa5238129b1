"""Demo data: records to load into a fresh database (`demo: {item: [{code: I001, name: 螺丝}, ...]}`).

Every record is checked against its entity here, so that loading it later cannot fail half-way: the fields
exist and are not computed or filled in by jxc, required fields are there, every value fits its field, and a
link names an existing demo record of the linked entity by its key (item code "I001"). Child rows are given
inside their document's table field. `_submit: true` submits a document once it is loaded.

Values come out converted (Decimal rounded to the field's scale, choices as text); links keep the key values
that name their targets, which the engine turns into ids while loading. Entities come out in an order that
loads link targets first where possible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from dsl.assemble import Raw
from dsl.build.context import BuildContext, visible
from dsl.model import DemoRecord, Entity, EntityKind, Field, FieldType
from dsl.problems import did_you_mean

SUBMIT = "_submit"
_TEXTUAL = (FieldType.STRING, FieldType.TEXT, FieldType.ATTACHMENT)
_DECIMALS = (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT)
_DEFAULT_SCALE = 2
_DEFAULT_PRECISION = 18


class _Bad:
    """A value that does not fit (already reported)."""


BAD = _Bad()


def build_demo(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, tuple[DemoRecord, ...]]:
    return _DemoBuilder(ctx, entities).build()


class _DemoBuilder:
    def __init__(self, ctx: BuildContext, entities: Mapping[str, Entity]) -> None:
        self.ctx = ctx
        self.entities = entities
        self.keys: dict[str, dict[Any, Raw]] = {}  # entity → key value → where it is given
        self.repeated: set[tuple[str, tuple[str | int, ...]]] = set()  # records whose key was given before

    def build(self) -> dict[str, tuple[DemoRecord, ...]]:
        wanted: dict[str, list[Raw]] = {}
        for name, records in self.ctx.assembly.demo.items():
            entity = self._entity(name, records)
            if entity is not None:
                wanted[name] = records
        for name, records in wanted.items():
            self._collect_keys(self.entities[name], records)
        result: dict[str, tuple[DemoRecord, ...]] = {}
        for name, records in wanted.items():
            entity = self.entities[name]
            built = []
            for raw in records:
                checked = self._record(entity, raw)
                if checked is not None and (raw.source.path, raw.path) not in self.repeated:
                    values, submit = checked
                    built.append(DemoRecord(name, values, raw.loc(), submit))
            result[name] = tuple(built)
        return {name: result[name] for name in _load_order(result, self.entities)}

    # --- entities -----------------------------------------------------------------------------------------

    def _entity(self, name: str, records: list[Raw]) -> Entity | None:
        """The entity demo records are given for, reported once per file that names it when unusable."""
        places = {(raw.source.path, raw.path[:-1]): Raw(None, raw.source, raw.path[:-1], raw.module)
                  for raw in records}
        shape = self.ctx.shapes.get(name)
        entity = self.entities.get(name)
        message = hint = None
        if shape is not None and shape.kind is EntityKind.CHILD:
            message = (f"demo: {name} holds the rows of {shape.parent}.{shape.parent_field}; give them inside each "
                       f"{shape.parent}'s {shape.parent_field}:")
            hint = f"e.g. {shape.parent_field}: [{{…}}, {{…}}]"
        elif shape is not None and shape.system:
            message = f"demo: {name} is kept by jxc itself, so demo data cannot fill it"
            if name.startswith("stock_"):
                hint = "stock comes from documents: give demo documents with stock effects and _submit: true"
        elif shape is None:
            pool = [n for n, s in self.ctx.top_entities().items() if not s.system]
            message, hint = f"demo: there is no entity '{name}'", did_you_mean(name, pool)
        elif entity is None:
            return None  # its definition is broken, which is reported already
        for place in places.values():
            if message is not None:
                self.ctx.report(place, message, key=True, hint=hint)
            elif shape is not None and not visible(self.ctx, place, shape):
                entity = None
        return entity if message is None else None

    # --- pass 1: keys -------------------------------------------------------------------------------------

    def _collect_keys(self, entity: Entity, records: list[Raw]) -> None:
        """The key values of the entity's demo records, for links; two records with one key (or one value of a
        unique field) are reported here."""
        names = [entity.key] if entity.key in entity.fields else []
        names += [n for n, f in entity.fields.items() if f.unique and n not in names and _is_scalar(f)]
        seen: dict[str, dict[Any, Raw]] = {name: {} for name in names}
        for raw in records:
            if not isinstance(raw.data, dict):
                continue
            for name in names:
                value = _scalar(entity.fields[name], raw.data.get(name))[0]
                if value is None or value is BAD:
                    continue
                place = raw.at(name)
                first = seen[name].get(value)
                if first is not None:
                    self.ctx.report(place, f"demo: two {entity.name} records have {name} '{value}': here and at "
                                    f"{first.origin_text()}",
                                    hint="each key may be given once" if name == entity.key else None)
                    self.repeated.add((raw.source.path, raw.path))
                    continue
                seen[name][value] = place
        if entity.key in seen:
            self.keys[entity.name] = seen[entity.key]

    # --- pass 2: records ----------------------------------------------------------------------------------

    def _record(self, entity: Entity, raw: Raw) -> tuple[Mapping[str, Any], bool] | None:
        """The record's converted values and whether to submit it, or None when something is wrong."""
        if not isinstance(raw.data, dict):
            if entity.kind is EntityKind.CHILD:
                self.ctx.report(raw, f"demo: a row of {_owner(entity)} is a mapping of column: value",
                                hint="e.g. - {item: I001, qty: 5}")
            return None  # a top-level record that is not a mapping is reported by the schema
        ok = True
        submit = False
        values: dict[str, Any] = {}
        given: set[str] = set()
        shape = self.ctx.shapes.get(entity.name)
        for key, value_raw in raw.items():
            if key.startswith("_"):
                if key == SUBMIT:
                    submit, fine = self._submit(entity, value_raw)
                    ok = ok and fine
                else:
                    self.ctx.report(value_raw, f"demo: unknown setting '{key}'; the only one is {SUBMIT}", key=True,
                                    hint=did_you_mean(key, [SUBMIT]))
                    ok = False
                continue
            given.add(key)
            field = entity.fields.get(key)
            if field is None:
                system = shape is not None and key in shape.fields and shape.fields[key].draft is None
                broken = shape is not None and key in shape.fields and not system
                if system:
                    hint = ("documents are numbered by their naming series" if key == "doc_no" else None)
                    self.ctx.report(value_raw, f"demo: {key} is filled in by jxc itself; leave it out", key=True,
                                    hint=hint)
                elif not broken:
                    pool = [n for n, f in entity.fields.items()]
                    self.ctx.report(value_raw, f"demo: {_owner(entity)} has no field '{key}'", key=True,
                                    hint=did_you_mean(key, pool))
                ok = False
                continue
            if field.computed:
                assert field.formula is not None
                self.ctx.report(value_raw, f"demo: {_owner(entity)}.{key} is computed; leave it out", key=True,
                                hint=f"its formula: {field.formula.source}")
                ok = False
                continue
            if value_raw.data is None:
                continue
            value = self._value(entity, field, value_raw)
            if value is BAD:
                ok = False
            else:
                values[key] = value
        for name, field in entity.fields.items():
            present = name in given and raw.data.get(name) is not None
            if not field.required or field.computed or field.default is not None or present:
                continue
            self.ctx.report(raw, f"demo: this {_owner(entity)} {'row' if entity.parent else 'record'} needs "
                            f"{name} (a required field)")
            ok = False
        for name, value in values.items():
            field = entity.fields[name]
            if field.required and field.type is FieldType.TABLE and not value:
                self.ctx.report(raw.at(name), f"demo: {_owner(entity)}.{name} is required, so it needs at least "
                                "one row")
                ok = False
        return (MappingProxyType(values), submit) if ok else None

    def _submit(self, entity: Entity, raw: Raw) -> tuple[bool, bool]:
        if not isinstance(raw.data, bool):
            self.ctx.report(raw, f"demo: {SUBMIT} is true or false")
            return False, False
        if entity.kind is not EntityKind.DOCUMENT:
            what = "a table row" if entity.kind is EntityKind.CHILD else "master data"
            self.ctx.report(raw, f"demo: {SUBMIT} only applies to documents, and {_owner(entity)} is {what}",
                            key=True)
            return False, False
        return raw.data, True

    def _value(self, entity: Entity, field: Field, raw: Raw) -> Any:
        where = f"{_owner(entity)}.{field.name}"
        if field.type is FieldType.TABLE:
            return self._rows(where, field, raw)
        if field.type is FieldType.LINK:
            return self._link(where, field, raw)
        value, message, hint = _scalar(field, raw.data, where)
        if value is BAD:
            self.ctx.report(raw, f"demo: {message}", hint=hint)
        return value

    def _rows(self, where: str, field: Field, raw: Raw) -> Any:
        if not isinstance(raw.data, list):
            self.ctx.report(raw, f"demo: {where} is a table; give its rows as a list",
                            hint=f"e.g. {field.name}: [{{…}}, {{…}}]")
            return BAD
        child = self.entities.get(field.table or "")
        if child is None:
            return BAD  # the table's definition is broken (reported already)
        rows = [self._record(child, row) for row in raw.elements()]
        if any(row is None for row in rows):
            return BAD
        return tuple(row[0] for row in rows if row is not None)

    def _link(self, where: str, field: Field, raw: Raw) -> Any:
        target_name = field.link or ""
        target = self.entities.get(target_name)
        shape = self.ctx.shapes.get(target_name)
        if shape is not None and shape.system:
            self.ctx.report(raw, f"demo: {where} links to {target_name}, which demo data cannot fill",
                            hint="leave it out")
            return BAD
        if target is None:
            return BAD  # a broken link target (reported already)
        if target.kind is EntityKind.DOCUMENT:
            self.ctx.report(raw, f"demo: {where} links to the document {target_name}; demo data can only link to "
                            "master data, by its key", hint="leave it out, or fill it in after loading")
            return BAD
        if target.key is None or target.key not in target.fields:
            self.ctx.report(raw, f"demo: {where} links to {target_name}, which has no key field to name its "
                            "records by", hint=f"add key: <field> to entity {target_name}")
            return BAD
        if not field.many:
            return self._key(where, target, raw)
        if not isinstance(raw.data, list):
            self.ctx.report(raw, f"demo: {where} links to several {target_name} records; give their "
                            f"{target.key}s as a list", hint="e.g. [A01, A02]")
            return BAD
        found: list[Any] = []
        for element in raw.elements():
            value = self._key(where, target, element)
            if value is BAD:
                found.append(BAD)
            elif value in found:
                self.ctx.report(element, f"demo: {target_name} '{value}' is listed twice")
                found.append(BAD)
            else:
                found.append(value)
        return BAD if any(value is BAD for value in found) else tuple(found)

    def _key(self, where: str, target: Entity, raw: Raw) -> Any:
        assert target.key is not None
        key_field = target.fields[target.key]
        value, message, hint = _scalar(key_field, raw.data, f"{target.name}.{target.key}")
        if value is BAD or value is None:
            self.ctx.report(raw, f"demo: {where} names {target.name} records by their {target.key}: "
                            f"{message or 'it cannot be blank'}", hint=hint)
            return BAD
        keys = self.keys.get(target.name, {})
        if value not in keys:
            names = [str(k) for k in keys]
            if not names:
                hint = f"add demo records for {target.name} (demo: {{{target.name}: [...]}})"
            else:
                listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
                hint = did_you_mean(str(value), names) or f"the demo {target.name} {target.key}s: {listed}"
            self.ctx.report(raw, f"demo: {where}: there is no {target.name} with {target.key} '{value}' in the demo "
                            "data", hint=hint)
            return BAD
        return value


# --- values --------------------------------------------------------------------------------------------------


def _owner(entity: Entity) -> str:
    return f"{entity.parent}.{entity.parent_field}" if entity.parent else entity.name


def _is_scalar(field: Field) -> bool:
    return field.type not in (FieldType.TABLE, FieldType.LINK)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (true/false)"
    if isinstance(value, int | Decimal | float):
        return f"the number {value}"
    if isinstance(value, dt.datetime):
        return f"the date and time {value.isoformat(sep=' ')}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, str):
        return f"the text '{value}'" if len(value) <= 40 else "a long text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def _scalar(field: Field, value: Any, where: str = "") -> tuple[Any, str | None, str | None]:
    """(converted value, None, None), or (BAD, message, hint) when it does not fit. None stays None."""
    if value is None:
        return None, None, None
    kind = field.type
    if kind in _TEXTUAL:
        return _text(field, value, where)
    if kind is FieldType.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None, None
        hint = "remove the quotes" if isinstance(value, str) and value.strip().lstrip("+-").isdigit() else None
        return BAD, f"{where} is a whole number, but this is {_describe(value)}", hint
    if kind in _DECIMALS:
        return _decimal(field, value, where)
    if kind is FieldType.BOOL:
        if isinstance(value, bool):
            return value, None, None
        return BAD, f"{where} is true or false, but this is {_describe(value)}", "write true or false"
    if kind is FieldType.DATE:
        if isinstance(value, dt.datetime):
            return BAD, f"{where} is a date, but this is {_describe(value)}", f"write just the date: {value.date()}"
        if isinstance(value, dt.date):
            return value, None, None
        return BAD, f"{where} is a date, but this is {_describe(value)}", "write dates as 2026-03-01, without quotes"
    if kind is FieldType.DATETIME:
        if isinstance(value, dt.datetime):
            return value, None, None
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()), None, None
        return BAD, f"{where} is a date and time, but this is {_describe(value)}", \
            "write it as 2026-03-01 09:30, without quotes"
    if kind is FieldType.CHOICE:
        return _choice(field, value, where)
    return BAD, f"{where} cannot be given in demo data", None


def _text(field: Field, value: Any, where: str) -> tuple[Any, str | None, str | None]:
    if isinstance(value, str):
        limit = field.max_length
        if field.type is FieldType.STRING and limit is not None and len(value) > limit:
            return BAD, f"{where} holds at most {limit} characters, but this text has {len(value)}", None
        return value, None, None
    if isinstance(value, list | dict):
        return BAD, f"{where} is text, but this is {_describe(value)}", None
    hint = "put it in quotes, e.g. '007': without them YAML reads 007 as the number 7"
    if isinstance(value, bool):
        hint = "put it in quotes: 'true'"
    elif isinstance(value, dt.date):
        hint = f"put it in quotes: '{value.isoformat()}'"
    return BAD, f"{where} is text, but this is {_describe(value)}", hint


def _decimal(field: Field, value: Any, where: str) -> tuple[Any, str | None, str | None]:
    if isinstance(value, str):
        text = value.strip()
        hint = None
        if field.type is FieldType.PERCENT and text.endswith("%"):
            try:
                hint = f"a percentage is written as a fraction: {text} is {Decimal(text[:-1].strip()) / 100}"
            except InvalidOperation:
                hint = "a percentage is written as a fraction: 13% is 0.13"
        elif _parses(text):
            hint = "remove the quotes"
        return BAD, f"{where} is a number, but this is {_describe(value)}", hint
    if not _is_number(value):
        return BAD, f"{where} is a number, but this is {_describe(value)}", None
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    scale = field.scale if field.scale is not None else _DEFAULT_SCALE
    precision = field.precision if field.precision is not None else _DEFAULT_PRECISION
    places = max(0, -int(number.normalize().as_tuple().exponent))
    if places > scale:
        whole = "no decimal places" if scale == 0 else f"{scale} decimal place{'s' if scale > 1 else ''}"
        hint = "13% is written 0.13" if field.type is FieldType.PERCENT else None
        return BAD, f"{where} has {whole}, but {value} has {places}", hint
    integral = abs(number).to_integral_value(rounding="ROUND_DOWN")
    digits = len(str(integral)) if integral else 0
    if digits > precision - scale:
        return BAD, (f"{where} holds at most {precision - scale} digits before the decimal point, but {value} has "
                     f"{digits}"), None
    try:
        return number.quantize(Decimal(1).scaleb(-scale)), None, None
    except InvalidOperation:
        return number, None, None


def _parses(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _choice(field: Field, value: Any, where: str) -> tuple[Any, str | None, str | None]:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | Decimal):
        text = str(value)
    else:
        return BAD, f"{where} is one of its options, but this is {_describe(value)}", None
    options = [choice.value for choice in field.options]
    if text in options:
        return text, None, None
    return BAD, f"'{text}' is not an option of {where}", did_you_mean(text, options) or "options: " + ", ".join(options)


def _load_order(records: Mapping[str, tuple[DemoRecord, ...]], entities: Mapping[str, Entity]) -> list[str]:
    """Entity names with link targets before the entities linking to them (given order within a cycle)."""
    needs: dict[str, set[str]] = {}
    for name in records:
        entity = entities[name]
        fields = list(entity.fields.values())
        for field in entity.fields.values():
            if field.type is FieldType.TABLE and field.table in entities:
                fields += entities[field.table].fields.values()
        needs[name] = {f.link for f in fields if f.type is FieldType.LINK and f.link in records and f.link != name}
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(needs):
        ready = [n for n in needs if n not in placed and needs[n] <= placed]
        if not ready:  # a cycle: take the first remaining one as given
            ready = [next(n for n in needs if n not in placed)]
        for name in ready:
            order.append(name)
            placed.add(name)
    return order


__all__ = ["build_demo"]
