"""Entity-level definitions: key and title, list columns, indexes, rules, and for documents the naming
series, make_from links, stock effects and reservations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dsl.assemble import Raw
from dsl.build.context import BuildContext, EntityShape, FieldShape, label_of
from dsl.build.entities import EntityBuilder, default_naming, naming_series, tolerance_of
from dsl.formula import types as t
from dsl.formula.functions import Accepts
from dsl.model import (
    Entity,
    EntityKind,
    Field,
    FieldType,
    Formula,
    Label,
    LineMapping,
    MakeFrom,
    Progress,
    Reservation,
    StockEffect,
)
from dsl.problems import did_you_mean

_NUMBER = Accepts("a number", lambda v: v.is_number)
_TEXT = Accepts("text", lambda v: v.kind is t.Kind.TEXT)
_DATE = Accepts("a date", lambda v: v.kind is t.Kind.DATE)
_ANY_RECORD = Accepts("a record (a link field)", lambda v: v.kind is t.Kind.RECORD)
_SCALAR_TYPES = (FieldType.STRING, FieldType.INT, FieldType.CHOICE)


@dataclass
class EntitySpec:
    """An entity's own keys with its extensions applied, each value with its location."""

    raws: dict[str, Raw] = field(default_factory=dict)
    validations: list[Raw] = field(default_factory=list)
    indexes: list[Raw] = field(default_factory=list)
    unique: list[Raw] = field(default_factory=list)
    make_from: dict[str, Raw] = field(default_factory=dict)


def entity_spec(ctx: BuildContext, shape: EntityShape) -> EntitySpec:
    assert shape.raw is not None
    spec = EntitySpec()
    draft = ctx.assembly.entities[shape.name]
    for index, piece in enumerate([draft.raw, *draft.extensions]):
        for key, raw in piece.items():
            if key in ("fields", "change"):
                continue
            if key == "validate":
                spec.validations.extend(raw.elements() if isinstance(raw.data, list) else [raw])
            elif key in ("indexes", "unique"):
                getattr(spec, key).extend(raw.elements())
            elif key == "make_from":
                for source, mapping in raw.items():
                    if source in spec.make_from:
                        ctx.report(mapping, f"{shape.name} is already made from {source} "
                                   f"(at {spec.make_from[source].origin_text()})", key=True)
                        continue
                    spec.make_from[source] = mapping
            elif key in ("stock", "reservations") and index > 0 and key in spec.raws:
                spec.raws[key] = raw  # an extension replaces the module's effects as a whole, on purpose
            else:
                spec.raws[key] = raw
    return spec


class DocumentBuilder:
    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.fields = EntityBuilder(ctx)

    def entity(self, shape: EntityShape, children: Mapping[str, Entity]) -> Entity | None:
        ctx = self.ctx
        assert shape.raw is not None
        spec = entity_spec(ctx, shape) if shape.kind is not EntityKind.CHILD else EntitySpec()
        fields = self.fields.fields(shape)
        name = shape.name
        is_document = shape.kind is EntityKind.DOCUMENT
        label = label_of(spec.raws["label"]) if "label" in spec.raws else None
        if shape.kind is EntityKind.CHILD and isinstance(shape.raw.data, dict) and "label" in shape.raw.data:
            label = label_of(shape.raw.at("label"))
        key = self._key(shape, spec, fields)
        title = self._column(shape, spec.raws.get("title"), "title") or key
        validations = tuple(v for raw in spec.validations
                            if (v := self.fields.validation(raw, name, name)) is not None)
        naming = None
        if is_document:
            naming = naming_series(ctx, spec.raws["naming"], name) if "naming" in spec.raws else default_naming(name)
        for key_name in ("naming", "amend", "make_from", "stock", "reservations"):
            if not is_document and key_name in spec.raws:
                ctx.report(spec.raws[key_name], f"{key_name} only applies to documents, and {name} is master data",
                           key=True, hint=f"add kind: document to {name}")
        if not is_document and spec.make_from:
            first = next(iter(spec.make_from.values()))
            ctx.report(first, f"make_from only applies to documents, and {name} is master data", key=True)
        make_from = {source: m for source, raw in spec.make_from.items()
                     if is_document and (m := self._make_from(shape, source, raw)) is not None}
        stock = tuple(e for raw in (spec.raws["stock"].elements() if is_document and "stock" in spec.raws else ())
                      if (e := self._stock_effect(shape, raw)) is not None)
        reservations = tuple(
            r for raw in (spec.raws["reservations"].elements() if is_document and "reservations" in spec.raws else ())
            if (r := self._reservation(shape, raw)) is not None)
        return Entity(
            name=name, kind=shape.kind,
            label=label or Label(en=name.replace("_", " ").capitalize()),
            fields=MappingProxyType(fields), origin=shape.raw.loc(key=True), module=shape.module,
            help=label_of(spec.raws["help"]) if "help" in spec.raws else None,
            group=label_of(spec.raws["group"]) if "group" in spec.raws else None,
            parent=shape.parent, parent_field=shape.parent_field, key=key, title=title,
            list_columns=self._columns(shape, spec.raws.get("list"), "list"),
            search=self._columns(shape, spec.raws.get("search"), "search"),
            indexes=tuple(c for raw in spec.indexes if (c := self._columns(shape, raw, "indexes"))),
            unique=tuple(c for raw in spec.unique if (c := self._columns(shape, raw, "unique"))),
            validations=validations, naming=naming,
            amend=spec.raws["amend"].data is not False if "amend" in spec.raws else is_document,
            make_from=MappingProxyType(make_from), stock=stock, reservations=reservations,
        )

    # --- columns and keys -------------------------------------------------------------------------------

    def _column(self, shape: EntityShape, raw: Raw | None, what: str) -> str | None:
        if raw is None:
            return None
        found = self.ctx.field_ref(raw, shape, what)
        if found is not None and found.type in (FieldType.TABLE,):
            self.ctx.report(raw, f"{what}: '{found.name}' is a table and cannot be used here")
            return None
        return found.name if found else None

    def _columns(self, shape: EntityShape, raw: Raw | None, what: str) -> tuple[str, ...]:
        if raw is None:
            return ()
        return tuple(c for item in raw.elements() if (c := self._column(shape, item, what)))

    def _key(self, shape: EntityShape, spec: EntitySpec, fields: Mapping[str, Field]) -> str | None:
        if shape.kind is EntityKind.DOCUMENT:
            if "key" in spec.raws:
                self.ctx.report(spec.raws["key"], "documents are identified by their number (doc_no); key: "
                                "only applies to master data", key=True)
            return "doc_no"
        if shape.kind is EntityKind.CHILD:
            return None
        raw = spec.raws.get("key")
        if raw is not None:
            found = self.ctx.field_ref(raw, shape, "key", allow_system=False)
            if found is None:
                return None
            if found.type not in _SCALAR_TYPES:
                self.ctx.report(raw, f"key: '{found.name}' is a {found.type} field; a key is text, a whole number "
                                "or a choice")
                return None
            return found.name
        for candidate in ("code", "name"):
            if candidate in fields and fields[candidate].type in _SCALAR_TYPES:
                return candidate
        return None

    # --- make_from ----------------------------------------------------------------------------------------

    def _make_from(self, target: EntityShape, source_name: str, raw: Raw) -> MakeFrom | None:
        ctx = self.ctx
        source = ctx.shapes.get(source_name)
        if source is None or source.kind is EntityKind.CHILD or source.system:
            ctx.report(raw, f"make_from: there is no document '{source_name}'", key=True,
                       hint=did_you_mean(source_name, ctx.top_entities()))
            return None
        if source.kind is not EntityKind.DOCUMENT:
            ctx.report(raw, f"make_from: '{source_name}' is master data; a document can only be made from another "
                       "document", key=True)
            return None
        what = f"make_from {source_name}"
        field_map = self._mapping(raw.at("fields"), source.name, target, what)
        lines = None
        if raw.get("lines") is not None:
            lines = self._line_mapping(raw.at("lines"), source, target, what)
        progress = None
        if raw.get("progress") is not None:
            progress = self._progress(raw.at("progress"), source, lines, what)
        return MakeFrom(source_name, label_of(raw.at("label")) or Label(en=f"Make from {source_name}"),
                        MappingProxyType(field_map), lines, progress, raw.loc(key=True))

    def _mapping(self, raw: Raw, source: str, target: EntityShape, what: str) -> dict[str, Formula]:
        result: dict[str, Formula] = {}
        for name, formula_raw in raw.items():
            field_shape = self._writable_field(formula_raw, target, what)
            if field_shape is None:
                continue
            formula = self.ctx.formula(formula_raw, source, f"{what}: {target.name}.{name}",
                                       expect=field_shape.value_type)
            if formula is not None:
                result[name] = formula
        return result

    def _writable_field(self, raw: Raw, entity: EntityShape, what: str) -> FieldShape | None:
        found = self.ctx.field_ref(raw, entity, what, key=True, allow_system=False)
        if found is None or found.draft is None:
            return None
        data = found.draft.raw.data
        if isinstance(data, dict) and "formula" in data:
            self.ctx.report(raw, f"{what}: {entity.name}.{found.name} is computed by its formula and cannot be "
                            "filled in", key=True)
            return None
        if found.type is FieldType.TABLE:
            self.ctx.report(raw, f"{what}: {found.name} is a table; map its rows under lines:", key=True)
            return None
        return found

    def _table(self, raw: Raw, entity: EntityShape, what: str) -> EntityShape | None:
        found = self.ctx.field_ref(raw, entity, what)
        if found is None:
            return None
        if found.type is not FieldType.TABLE or not found.table:
            self.ctx.report(raw, f"{what}: '{found.name}' is not a table field of {entity.name}")
            return None
        return self.ctx.shapes.get(found.table)

    def _line_mapping(self, raw: Raw, source: EntityShape, target: EntityShape, what: str) -> LineMapping | None:
        ctx = self.ctx
        source_rows = self._table(raw.at("from"), source, f"{what}: lines.from")
        target_rows = self._table(raw.at("to"), target, f"{what}: lines.to")
        if source_rows is None or target_rows is None:
            return None
        mapped = self._mapping(raw.at("fields"), source_rows.name, target_rows, f"{what}: lines")
        fulfil = qty = None
        if raw.get("fulfil") is not None:
            found = ctx.field_ref(raw.at("fulfil"), source_rows, f"{what}: fulfil", allow_system=False)
            if found is not None and not found.value_type.is_number:
                ctx.report(raw.at("fulfil"), f"{what}: fulfil must name a number field of {source.name}'s lines "
                           f"(such as received_qty), but '{found.name}' is a {found.type} field")
            elif found is not None:
                fulfil = found.name
            if raw.get("qty") is None:
                ctx.report(raw, f"{what}: with fulfil: also say which field of the new lines counts, e.g. qty: qty",
                           "fulfil", key=True)
        if raw.get("qty") is not None:
            found = ctx.field_ref(raw.at("qty"), target_rows, f"{what}: qty", allow_system=False)
            if found is not None and not found.value_type.is_number:
                ctx.report(raw.at("qty"),
                           f"{what}: qty must name a number field, but '{found.name}' is a {found.type} field")
            elif found is not None:
                qty = found.name
        tolerance = tolerance_of(raw.at("tolerance"))
        if tolerance > 100:
            ctx.report(raw.at("tolerance"), "the tolerance is a percentage from 0 to 100")
        limit = None
        if fulfil is not None:
            limit_raw = raw.at("limit") if raw.get("limit") is not None else None
            name = raw.get("limit") or qty
            found = source_rows.fields.get(name) if isinstance(name, str) else None
            if found is None or found.draft is None or not found.value_type.is_number:
                place = limit_raw or raw.at("fulfil")
                ctx.report(place, f"{what}: fulfil needs the ordered quantity of {source.name}'s lines: name it "
                           f"with limit: (a number field of the source lines)",
                           hint=did_you_mean(str(name), [n for n, f in source_rows.fields.items()
                                                         if f.draft is not None and f.value_type.is_number]))
            else:
                limit = found.name
        return LineMapping(str(raw.get("from")), str(raw.get("to")), MappingProxyType(mapped), fulfil, qty,
                           limit, tolerance)

    def _progress(self, raw: Raw, source: EntityShape, lines: LineMapping | None, what: str) -> Progress | None:
        ctx = self.ctx
        if lines is None or lines.fulfil is None:
            ctx.report(raw, f"{what}: progress needs lines: with fulfil: to measure", key=True)
        percent = status = None
        if raw.get("percent") is not None:
            found = ctx.field_ref(raw.at("percent"), source, f"{what}: progress.percent", allow_system=False)
            if found is not None and found.type not in (FieldType.PERCENT, FieldType.DECIMAL):
                ctx.report(raw.at("percent"), f"{what}: progress.percent must be a percent field")
            elif found is not None:
                percent = found.name
        partial, complete = raw.get("partial"), raw.get("complete")
        if raw.get("status") is not None:
            found = ctx.field_ref(raw.at("status"), source, f"{what}: progress.status", allow_system=False)
            if found is not None and found.type is not FieldType.CHOICE:
                ctx.report(raw.at("status"), f"{what}: progress.status must be a choice field")
            elif found is not None:
                status = found.name
                options = {choice.value for choice in found.options}
                for key, value in (("partial", partial), ("complete", complete)):
                    if value is None:
                        ctx.report(raw, f"{what}: progress.status needs {key}: (the option to set)", "status",
                                   key=True)
                    elif str(value) not in options:
                        ctx.report(raw.at(key), f"'{value}' is not an option of {source.name}.{found.name}",
                                   hint=did_you_mean(str(value), options) or "options: " + ", ".join(sorted(options)))
        return Progress(percent, status, partial if isinstance(partial, str) else None,
                        complete if isinstance(complete, str) else None)

    # --- stock effects and reservations ---------------------------------------------------------------------

    def _stock_rows(self, shape: EntityShape, raw: Raw, what: str) -> EntityShape | None:
        if self.ctx.stock is None:
            self.ctx.report(raw, f"{what} needs the app's stock settings", key=not raw.path or True,
                            hint="add stock: {item: item, warehouse: warehouse} to app.yaml")
            return None
        return self._table(raw.at("table"), shape, what)

    def _stock_formula(self, raw: Raw, rows: EntityShape, key: str, what: str, expect: t.Type | Accepts,
                       *, required: bool = False) -> Formula | None:
        if raw.get(key) is None:
            return None
        return self.ctx.formula(raw.at(key), rows.name, f"{what}: {key}", expect=expect)

    def _stock_effect(self, shape: EntityShape, raw: Raw) -> StockEffect | None:
        what = f"stock effect of {shape.name}"
        rows = self._stock_rows(shape, raw, what)
        stock = self.ctx.stock
        if rows is None or stock is None:
            return None
        direction = raw.get("direction")
        item = self._stock_formula(raw, rows, "item", what, t.record(stock.item))
        qty = self._stock_formula(raw, rows, "qty", what, _NUMBER)
        warehouse = self._stock_formula(raw, rows, "warehouse", what, t.record(stock.warehouse))
        to_warehouse = self._stock_formula(raw, rows, "to_warehouse", what, t.record(stock.warehouse))
        if direction == "transfer" and raw.get("to_warehouse") is None:
            self.ctx.report(raw, "a transfer needs to_warehouse:", "direction")
        if direction in ("in", "out") and raw.get("to_warehouse") is not None:
            self.ctx.report(raw, f"to_warehouse only applies to transfers, not to direction {direction}",
                            "to_warehouse", key=True)
        location_type = t.record(stock.location) if stock.location else None
        for key in ("location", "to_location"):
            if raw.get(key) is not None and location_type is None:
                self.ctx.report(raw, f"{key}: needs location: in the app's stock settings", key, key=True)
        location = self._stock_formula(raw, rows, "location", what, location_type) if location_type else None
        to_location = self._stock_formula(raw, rows, "to_location", what, location_type) if location_type else None
        optional = {
            "batch": self._stock_formula(raw, rows, "batch", what, _TEXT),
            "expiry": self._stock_formula(raw, rows, "expiry", what, _DATE),
            "production_date": self._stock_formula(raw, rows, "production_date", what, _DATE),
            "unit_cost": self._stock_formula(raw, rows, "unit_cost", what, _NUMBER),
            "supplier": self._stock_formula(raw, rows, "supplier", what, _ANY_RECORD),
            "supplier_batch": self._stock_formula(raw, rows, "supplier_batch", what, _TEXT),
            "date": self._stock_formula(raw, rows, "date", what, _DATE),
        }
        if item is None or qty is None or warehouse is None:
            return None
        return StockEffect(
            table=str(raw.get("table")), direction=str(direction), item=item, qty=qty, warehouse=warehouse,
            origin=raw.loc(), to_warehouse=to_warehouse, location=location, to_location=to_location, **optional)

    def _reservation(self, shape: EntityShape, raw: Raw) -> Reservation | None:
        what = f"reservation of {shape.name}"
        rows = self._stock_rows(shape, raw, what)
        stock = self.ctx.stock
        if rows is None or stock is None:
            return None
        item = self._stock_formula(raw, rows, "item", what, t.record(stock.item))
        qty = self._stock_formula(raw, rows, "qty", what, _NUMBER)
        warehouse = self._stock_formula(raw, rows, "warehouse", what, t.record(stock.warehouse))
        if item is None or qty is None or warehouse is None:
            return None
        return Reservation(str(raw.get("table")), item, qty, warehouse, raw.loc())

