"""Entities and fields: their structure first (shapes, for the catalog), then the full model with formulas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dsl.assemble import EntityDraft, FieldDraft, Raw
from dsl.build.context import BuildContext, EntityShape, FieldShape, formula_text, label_of
from dsl.build.names import SYSTEM_ENTITIES, reserved_reason
from dsl.formula import types as t
from dsl.formula.functions import Accepts
from dsl.model import Choice, EntityKind, Field, FieldType, Formula, Label, NamingSeries, Validation
from dsl.problems import Problem, did_you_mean

DEFAULT_SCALE = {FieldType.DECIMAL: 2, FieldType.MONEY: 2, FieldType.PERCENT: 4}
MAX_PRECISION = 18
_BOOL = Accepts("TRUE/FALSE (a condition)", lambda v: v.kind is t.Kind.BOOL)
_ONLY_FOR = {
    "scale": (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT),
    "precision": (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT),
    "max_length": (FieldType.STRING,),
    "options": (FieldType.CHOICE,),
    "link": (FieldType.LINK,),
    "many": (FieldType.LINK,),
    "fields": (FieldType.TABLE,),
}


@dataclass
class Effective:
    """A field's definition with the changes of every `extend: ... change:` applied, each piece located."""

    data: dict[str, Any]
    raws: dict[str, Raw]  # where each key's value was written
    validations: list[Raw] = field(default_factory=list)


def effective(draft: FieldDraft) -> Effective:
    base = draft.raw.data
    if isinstance(base, str):
        result = Effective({"type": base}, {"type": draft.raw})
    elif isinstance(base, dict):
        result = Effective(dict(base), {key: draft.raw.at(key) for key in base})
    else:
        result = Effective({}, {})
    if "validate" in result.raws:
        result.validations.extend(_validation_raws(result.raws.pop("validate")))
        result.data.pop("validate")
    for change in draft.changes:
        for key, raw in change.items():
            if key in ("fields", "change"):
                continue
            if key == "validate":
                result.validations.extend(_validation_raws(raw))
                continue
            if key in ("required", "read_only", "index") and result.data.get(key) is True and raw.data is False:
                continue  # an extension can tighten, never loosen; reported in check_changes
            result.data[key] = raw.data
            result.raws[key] = raw
    return result


def _validation_raws(raw: Raw) -> list[Raw]:
    return list(raw.elements()) if isinstance(raw.data, list) else [raw]


# --- phase 1: shapes ----------------------------------------------------------------------------------


def build_shapes(ctx: BuildContext) -> None:
    for name, draft in ctx.assembly.entities.items():
        _entity_shape(ctx, name, draft)
    for shape in list(ctx.shapes.values()):
        for field_shape in shape.fields.values():
            if field_shape.type is FieldType.LINK and field_shape.link and field_shape.draft is not None:
                _check_link_target(ctx, shape, field_shape)


def _entity_shape(ctx: BuildContext, name: str, draft: EntityDraft) -> None:
    raw = draft.raw
    reason = "is an entity that jxc provides itself" if name in SYSTEM_ENTITIES else reserved_reason(name)
    if reason:
        ctx.report(raw, f"'{name}' {reason}; choose another entity name", key=True)
    kind = EntityKind.DOCUMENT if raw.get("kind") == "document" else EntityKind.MASTER
    shape = EntityShape(name, kind, raw, module=draft.module)
    ctx.shapes[name] = shape
    _field_shapes(ctx, shape, draft.fields)


def user_field_shapes(ctx: BuildContext, user: EntityShape, drafts: dict[str, FieldDraft]) -> None:
    """Fields an app adds to jxc's users (`extend: entities: user:`); no tables, no formulas."""
    for name, draft in drafts.items():
        if name in user.fields:
            ctx.report(draft.raw, f"user already has a field '{name}' of its own", key=True)
            continue
        spec = effective(draft)
        if spec.data.get("type") == "table" or "formula" in spec.raws:
            ctx.report(draft.raw, "a user field cannot be a table or computed", key=True)
            continue
        _field_shapes(ctx, user, {name: draft})
        added = user.fields.get(name)
        if added is not None and added.type is FieldType.LINK and added.link:
            _check_link_target(ctx, user, added)


def _field_shapes(ctx: BuildContext, shape: EntityShape, drafts: dict[str, FieldDraft]) -> None:
    for field_name, draft in drafts.items():
        reason = reserved_reason(field_name)
        if reason:
            ctx.report(draft.raw, f"'{field_name}' {reason}; choose another field name", key=True,
                       hint=_rename_hint(field_name))
            continue
        spec = effective(draft)
        kind = _field_type(spec)
        field_shape = FieldShape(field_name, kind, draft)
        if kind is FieldType.LINK:
            link = spec.data.get("link")
            field_shape.link = link if isinstance(link, str) else None
            field_shape.many = spec.data.get("many") is True
            if field_shape.link is None:
                ctx.report(draft.raw, f"link field '{field_name}' needs link: (the entity it points to)", key=True)
                field_shape.type = None
        elif kind is FieldType.CHOICE:
            field_shape.options = _options(ctx, spec, draft)
        elif kind in DEFAULT_SCALE:
            field_shape.scale, field_shape.precision = _scale(ctx, spec, kind)
        elif kind is FieldType.TABLE:
            _table_shape(ctx, shape, field_shape, draft)
        shape.fields[field_name] = field_shape


def _rename_hint(name: str) -> str:
    suggestions = {"desc": "description", "order": "sort_order", "group": "item_group", "user": "owner",
                   "parent": "parent_item", "version": "revision", "default": "is_default"}
    return f"for example '{suggestions.get(name, name + '_value')}'"


def _field_type(spec: Effective) -> FieldType | None:
    value = spec.data.get("type")
    try:
        return FieldType(value)
    except ValueError:
        return None  # reported by the schema


def _options(ctx: BuildContext, spec: Effective, draft: FieldDraft) -> tuple[Choice, ...]:
    raw = spec.raws.get("options")
    if raw is None:
        ctx.report(draft.raw, f"choice field '{draft.name}' needs options:", key=True,
                   hint="e.g. options: {draft: 草稿, done: 完成}")
        return ()
    choices: list[Choice] = []
    if isinstance(raw.data, dict):
        for value, label_raw in raw.items():
            choices.append(Choice(str(value), label_of(label_raw) or Label(zh=str(value), en=str(value))))
    elif isinstance(raw.data, list):
        for item in raw.elements():
            if isinstance(item.data, dict):
                value = item.data.get("value")
                choices.append(Choice(str(value), label_of(item.at("label")) or Label(zh=str(value), en=str(value))))
            elif isinstance(item.data, str | int) and not isinstance(item.data, bool):
                choices.append(Choice(str(item.data), Label(zh=str(item.data), en=str(item.data))))
    seen: set[str] = set()
    for index, choice in enumerate(choices):
        if choice.value in seen:
            ctx.report(raw, f"the option '{choice.value}' is listed twice",
                       *((choice.value,) if isinstance(raw.data, dict) else (index,)), key=isinstance(raw.data, dict))
        seen.add(choice.value)
    return tuple(choices)


def _scale(ctx: BuildContext, spec: Effective, kind: FieldType) -> tuple[int, int]:
    scale = spec.data.get("scale", DEFAULT_SCALE[kind])
    precision = spec.data.get("precision", MAX_PRECISION)
    if not isinstance(scale, int) or not isinstance(precision, int):
        return DEFAULT_SCALE[kind], MAX_PRECISION
    if scale > precision:
        ctx.report(spec.raws.get("scale") or spec.raws["type"],
                   f"scale ({scale}) cannot exceed precision ({precision})")
    return scale, precision


def _table_shape(ctx: BuildContext, parent: EntityShape, field_shape: FieldShape, draft: FieldDraft) -> None:
    if parent.kind is EntityKind.CHILD:
        ctx.report(draft.raw, "a table's rows cannot contain another table", key=True)
        field_shape.type = None
        return
    if not draft.children:
        ctx.report(draft.raw, f"table field '{draft.name}' needs fields: (the columns of its rows)", key=True)
        field_shape.type = None
        return
    child_name = f"{parent.name}_{draft.name}"
    if len(child_name) > 63:
        child_name = child_name[:63]
    if child_name in ctx.assembly.entities:
        ctx.report(draft.raw, f"the rows of {parent.name}.{draft.name} are stored as '{child_name}', which is also "
                   "the name of an entity", key=True, hint="rename the table field or the entity")
    field_shape.table = child_name
    child = EntityShape(child_name, EntityKind.CHILD, draft.raw, module=parent.module, parent=parent.name,
                        parent_field=draft.name)
    ctx.shapes[child_name] = child
    _field_shapes(ctx, child, draft.children)


def _check_link_target(ctx: BuildContext, shape: EntityShape, field_shape: FieldShape) -> None:
    draft = field_shape.draft
    assert draft is not None and field_shape.link is not None
    raw = effective(draft).raws.get("link") or draft.raw
    target = ctx.shapes.get(field_shape.link)
    if target is None or target.kind is EntityKind.CHILD:
        pool = [n for n, s in ctx.shapes.items() if s.kind is not EntityKind.CHILD]
        ctx.report(raw, f"link field '{field_shape.name}' points to '{field_shape.link}', which is not an entity",
                   hint=did_you_mean(field_shape.link, pool))
        field_shape.type = None
        return
    # What matters is who wrote the link: a module may add a link to an entity of a module it includes.
    ctx.visible(raw, target)


# --- phase 2: the model ---------------------------------------------------------------------------------


class EntityBuilder:
    """Builds Field and Entity models once the catalog exists (formulas can be checked)."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx

    def fields(self, shape: EntityShape) -> dict[str, Field]:
        built: dict[str, Field] = {}
        for name, field_shape in shape.fields.items():
            if field_shape.draft is None or field_shape.type is None:
                continue
            built[name] = self._field(shape, field_shape)
        return built

    def _field(self, shape: EntityShape, fs: FieldShape) -> Field:
        ctx = self.ctx
        assert fs.draft is not None and fs.type is not None
        spec = effective(fs.draft)
        self._check_options_fit(fs, spec)
        self._check_changes(fs)
        value_type = fs.value_type
        entity = shape.name
        where = f"{entity}.{fs.name}"
        default = formula = None
        if "default" in spec.raws and "formula" in spec.raws:
            ctx.report(spec.raws["formula"], f"{where} has both a default and a formula; keep one",
                       hint="a default is only the starting value; a formula always computes the field")
        elif "default" in spec.raws:
            default = ctx.formula(spec.raws["default"], entity, f"the default of {where}", expect=value_type)
            if default is not None:
                self._check_choice_constants(fs, default, spec.raws["default"])
        if "formula" in spec.raws:
            if fs.type is FieldType.TABLE:
                ctx.report(spec.raws["formula"], "a table field cannot be computed")
            else:
                formula = ctx.formula(spec.raws["formula"], entity, f"the formula of {where}", expect=value_type)
                if formula is not None:
                    self._check_choice_constants(fs, formula, spec.raws["formula"])
        validations = tuple(v for v in (self.validation(raw, entity, where) for raw in spec.validations) if v)
        required_if = self._condition(spec, "required_if", entity, where)
        visible_if = self._condition(spec, "visible_if", entity, where)
        if fs.type in (FieldType.TABLE,) or fs.many:
            for flag in ("unique", "index"):
                if spec.data.get(flag):
                    ctx.report(spec.raws[flag], f"{flag} does not apply to a field with several values")
        label = label_of(spec.raws["label"]) if "label" in spec.raws else None
        help_ = label_of(spec.raws["help"]) if "help" in spec.raws else None
        return Field(
            name=fs.name, type=fs.type, label=label or _default_label(fs.name), origin=fs.draft.raw.loc(key=True),
            help=help_, required=spec.data.get("required") is True, unique=spec.data.get("unique") is True,
            index=spec.data.get("index") is True, read_only=spec.data.get("read_only") is True or formula is not None,
            default=default, formula=formula, validations=validations, required_if=required_if,
            visible_if=visible_if, precision=fs.precision, scale=fs.scale,
            max_length=_max_length(spec, fs.type), options=fs.options, link=fs.link, many=fs.many,
            table=fs.table, renamed_from=spec.data.get("renamed_from"), value_type=value_type,
        )

    def _condition(self, spec: Effective, key: str, entity: str, where: str) -> Formula | None:
        raw = spec.raws.get(key)
        if raw is None:
            return None
        return self.ctx.formula(raw, entity, f"{key} of {where}", expect=_BOOL)

    def validation(self, raw: Raw, entity: str, where: str) -> Validation | None:
        if isinstance(raw.data, dict):
            rule = self.ctx.formula(raw.at("rule"), entity, f"a validation of {where}", expect=_BOOL)
            message = label_of(raw.at("message"))
        else:
            rule = self.ctx.formula(raw, entity, f"a validation of {where}", expect=_BOOL)
            message = None
        return Validation(rule, message) if rule is not None else None

    def _check_options_fit(self, fs: FieldShape, spec: Effective) -> None:
        assert fs.type is not None
        for key, kinds in _ONLY_FOR.items():
            if key in spec.raws and fs.type not in kinds:
                names = ", ".join(k.value for k in kinds)
                self.ctx.report(spec.raws[key],
                                f"{key} only applies to {names} fields, and '{fs.name}' is {fs.type.value}")

    def _check_changes(self, fs: FieldShape) -> None:
        assert fs.draft is not None
        base = fs.draft.raw.data if isinstance(fs.draft.raw.data, dict) else {}
        for change in fs.draft.changes:
            for flag in ("required", "read_only", "index"):
                if change.get(flag) is False and base.get(flag) is True:
                    self.ctx.report(change.at(flag), f"an extension can make a field {flag.replace('_', ' ')}, "
                                    "but not undo it", hint="change the module itself, or leave it as it is")

    def _check_choice_constants(self, fs: FieldShape, formula: Formula, raw: Raw) -> None:
        if fs.type is not FieldType.CHOICE or not fs.options:
            return
        from dsl.formula import ir

        allowed = {choice.value for choice in fs.options}
        for value in _result_constants(formula.expr):
            if isinstance(value, ir.Const) and isinstance(value.value, str) and value.value not in allowed:
                location = raw.source.formula_location(raw.path, value.start) if isinstance(raw.data, str) \
                    else raw.loc()
                self.ctx.problems.append(Problem(
                    f"'{value.value}' is not one of the options of {fs.name}", location, raw.where(),
                    did_you_mean(value.value, allowed) or "options: " + ", ".join(sorted(allowed))))


def _result_constants(expr: Any) -> Iterator[Any]:
    from dsl.formula import ir

    if isinstance(expr, ir.Const):
        yield expr
    elif isinstance(expr, ir.If):
        for _, value in expr.branches:
            yield from _result_constants(value)
        if expr.default is not None:
            yield from _result_constants(expr.default)
    elif isinstance(expr, ir.Coalesce):
        for arg in expr.args:
            yield from _result_constants(arg)


def _max_length(spec: Effective, kind: FieldType) -> int | None:
    if kind is not FieldType.STRING:
        return None
    value = spec.data.get("max_length", 140)
    return value if isinstance(value, int) else 140


def _default_label(name: str) -> Label:
    return Label(en=name.replace("_", " ").capitalize())


# --- naming series -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_TOKENS = {"YYYY", "YY", "MM", "DD"}


def naming_series(ctx: BuildContext, raw: Raw, entity: str) -> NamingSeries | None:
    if isinstance(raw.data, dict):
        pattern, reset = raw.data.get("pattern"), raw.data.get("reset")
        pattern_raw = raw.at("pattern")
    else:
        pattern, reset, pattern_raw = raw.data, None, raw
    if not isinstance(pattern, str):
        return None
    tokens = _TOKEN.findall(pattern)
    counters = [tok for tok in tokens if tok and set(tok) == {"#"}]
    for token in tokens:
        if token not in _DATE_TOKENS and not (token and set(token) == {"#"}):
            ctx.report(pattern_raw, f"unknown part {{{token}}} in the naming pattern",
                       hint="use {YYYY}, {YY}, {MM}, {DD} and one counter such as {#####}")
            return None
    if len(counters) != 1:
        ctx.report(pattern_raw, "a naming pattern needs exactly one counter such as {#####}"
                   if not counters else "a naming pattern can have only one counter")
        return None
    if not 3 <= len(counters[0]) <= 10:
        ctx.report(pattern_raw, "the counter needs 3 to 10 # signs")
        return None
    literal = _TOKEN.sub("", pattern)
    if re.search(r"[\s{}]", literal):
        ctx.report(pattern_raw, "a naming pattern cannot contain spaces or stray braces")
        return None
    has_year = "YYYY" in tokens or "YY" in tokens
    if reset is None:
        reset = "monthly" if "MM" in tokens and has_year else "yearly" if has_year else "never"
    elif reset == "yearly" and not has_year:
        ctx.report(raw.at("reset"), "yearly numbering needs {YYYY} or {YY} in the pattern, or numbers would repeat")
    elif reset == "monthly" and not ("MM" in tokens and has_year):
        ctx.report(raw.at("reset"), "monthly numbering needs {MM} and {YYYY} in the pattern, or numbers would repeat")
    return NamingSeries(pattern, reset)


def default_naming(entity: str) -> NamingSeries:
    initials = "".join(part[0] for part in entity.split("_") if part).upper() or entity[:2].upper()
    return NamingSeries(f"{initials}-{{YYYY}}-{{#####}}", "yearly")


def tolerance_of(raw: Raw) -> Decimal:
    value = raw.data
    if isinstance(value, str) and value.endswith("%"):
        return Decimal(value[:-1])
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return Decimal(0)


__all__ = ["EntityBuilder", "build_shapes", "default_naming", "effective", "formula_text", "naming_series",
           "tolerance_of"]
