"""The checked model back to YAML data: `jxc check --print` shows the assembled app, and the model
round-trips (load → dump → load gives the same model), which the visual designer relies on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import yaml

from dsl.build.entities import DEFAULT_SCALE, MAX_PRECISION, default_naming
from dsl.model import (
    Alert,
    App,
    Dashboard,
    Entity,
    EntityKind,
    Field,
    FieldType,
    Label,
    MakeFrom,
    PrintFormat,
    Role,
    Validation,
    Workflow,
)


def label(value: Label | None) -> Any:
    if value is None:
        return None
    if value.zh and (value.en is None or value.en == value.zh):
        return value.zh
    if value.en and value.zh is None and all(ord(c) < 128 for c in value.en):
        return {"en": value.en}
    return {k: v for k, v in (("zh", value.zh), ("en", value.en)) if v}


def _default_label(name: str) -> Label:
    return Label(en=name.replace("_", " ").capitalize())


def _put(target: dict[str, Any], key: str, value: Any, default: Any = None) -> None:
    if value is not None and value != default and value != () and value != {}:
        target[key] = value


def _validations(validations: tuple[Validation, ...]) -> Any:
    out = [v.rule.source if v.message is None else {"rule": v.rule.source, "message": label(v.message)}
           for v in validations]
    return out or None


def dump_field(field: Field, app: App) -> dict[str, Any]:
    out: dict[str, Any] = {"type": field.type.value}
    if field.label != _default_label(field.name):
        _put(out, "label", label(field.label))
    _put(out, "help", label(field.help))
    for flag in ("required", "unique", "index"):
        _put(out, flag, getattr(field, flag) or None)
    if field.read_only and field.formula is None:
        out["read_only"] = True
    _put(out, "default", field.default.source if field.default else None)
    _put(out, "formula", field.formula.source if field.formula else None)
    _put(out, "validate", _validations(field.validations))
    _put(out, "required_if", field.required_if.source if field.required_if else None)
    _put(out, "visible_if", field.visible_if.source if field.visible_if else None)
    if field.type in DEFAULT_SCALE:
        _put(out, "precision", field.precision, MAX_PRECISION)
        _put(out, "scale", field.scale, DEFAULT_SCALE[field.type])
    if field.type is FieldType.STRING:
        _put(out, "max_length", field.max_length, 140)
    if field.options:
        out["options"] = {c.value: label(c.label) for c in field.options}
    _put(out, "link", field.link)
    _put(out, "many", field.many or None)
    if field.table:
        out["fields"] = {name: dump_field(f, app) for name, f in app.entities[field.table].fields.items()}
    _put(out, "renamed_from", field.renamed_from)
    return out


def _make_from(link: MakeFrom) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "label", label(link.label) if link.label != Label(en=f"Make from {link.source}") else None)
    _put(out, "fields", {k: f.source for k, f in link.fields.items()})
    if link.lines:
        lines: dict[str, Any] = {"from": link.lines.source_table, "to": link.lines.target_table,
                                 "fields": {k: f.source for k, f in link.lines.fields.items()}}
        _put(lines, "fulfil", link.lines.fulfil)
        _put(lines, "qty", link.lines.qty)
        _put(lines, "limit", link.lines.limit if link.lines.limit != link.lines.qty else None)
        if link.lines.tolerance:
            lines["tolerance"] = link.lines.tolerance
        out["lines"] = lines
    if link.progress:
        progress: dict[str, Any] = {}
        for key in ("percent", "status", "partial", "complete"):
            _put(progress, key, getattr(link.progress, key))
        out["progress"] = progress
    return out


def _effects(effects: tuple[Any, ...], attributes: tuple[str, ...]) -> list[dict[str, Any]] | None:
    out = []
    for effect in effects:
        item: dict[str, Any] = {"table": effect.table}
        if hasattr(effect, "direction"):
            item["direction"] = effect.direction
        for attribute in attributes:
            formula = getattr(effect, attribute, None)
            _put(item, attribute, formula.source if formula else None)
        out.append(item)
    return out or None


_STOCK_ATTRIBUTES = ("item", "qty", "warehouse", "to_warehouse", "location", "to_location", "batch", "expiry",
                     "production_date", "unit_cost", "supplier", "supplier_batch", "date")


def dump_entity(entity: Entity, app: App) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if entity.label != _default_label(entity.name):
        out["label"] = label(entity.label)
    _put(out, "help", label(entity.help))
    _put(out, "group", label(entity.group))
    if entity.kind is EntityKind.DOCUMENT:
        out["kind"] = "document"
    elif entity.key and entity.key not in ("code", "name"):
        out["key"] = entity.key
    if entity.title and entity.title != entity.key:
        out["title"] = entity.title
    out["fields"] = {name: dump_field(field, app) for name, field in entity.fields.items()}
    _put(out, "list", list(entity.list_columns) or None)
    _put(out, "search", list(entity.search) or None)
    _put(out, "indexes", [list(cols) for cols in entity.indexes] or None)
    _put(out, "unique", [list(cols) for cols in entity.unique] or None)
    _put(out, "validate", _validations(entity.validations))
    if entity.naming and entity.naming != default_naming(entity.name):
        out["naming"] = {"pattern": entity.naming.pattern, "reset": entity.naming.reset}
    if entity.kind is EntityKind.DOCUMENT and not entity.amend:
        out["amend"] = False
    _put(out, "make_from", {source: _make_from(link) for source, link in entity.make_from.items()} or None)
    _put(out, "stock", _effects(entity.stock, _STOCK_ATTRIBUTES))
    _put(out, "reservations", _effects(entity.reservations, ("item", "qty", "warehouse")))
    return out


def dump_workflow(workflow: Workflow) -> dict[str, Any]:
    states = {}
    for name, state in workflow.states.items():
        entry: dict[str, Any] = {}
        if state.label != _default_label(name):
            entry["label"] = label(state.label)
        for flag in ("initial", "submit", "cancel"):
            _put(entry, flag, getattr(state, flag) or None)
        states[name] = entry
    transitions = []
    for transition in workflow.transitions:
        entry = {"action": transition.action, "from": list(transition.sources), "to": transition.target}
        if transition.label != _default_label(transition.action):
            entry["label"] = label(transition.label)
        _put(entry, "roles", list(transition.roles) or None)
        _put(entry, "guard", transition.guard.source if transition.guard else None)
        _put(entry, "requires", list(transition.requires) or None)
        _put(entry, "comment", transition.comment, "optional")
        transitions.append(entry)
    out: dict[str, Any] = {"entity": workflow.entity}
    if workflow.label != _default_label(workflow.name):
        out["label"] = label(workflow.label)
    _put(out, "field", workflow.state_field, "workflow_state")
    out["states"] = states
    out["transitions"] = transitions
    _put(out, "allow_self_approval", workflow.allow_self_approval or None)
    return out


def dump_alert(alert: Alert) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if alert.label != _default_label(alert.name):
        out["label"] = label(alert.label)
    out.update({"scope": alert.scope, "condition": alert.condition.source, "trigger": alert.trigger})
    _put(out, "schedule", alert.schedule.text if alert.schedule else None)
    if alert.repeat:
        seconds = int(alert.repeat.total_seconds())
        out["repeat"] = f"{seconds // 86400}d" if seconds % 86400 == 0 else (
            f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m")
    recipients: dict[str, Any] = {}
    _put(recipients, "roles", list(alert.roles) or None)
    _put(recipients, "users", list(alert.users) or None)
    _put(out, "recipients", recipients or None)
    out["channels"] = list(alert.channels)
    out["message"] = alert.message
    return out


def dump_role(role: Role) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if role.label != _default_label(role.name):
        out["label"] = label(role.label)
    _put(out, "permissions", {entity: sorted(verbs) for entity, verbs in role.permissions.items()} or None)
    _put(out, "fields", {entity: dict(access) for entity, access in role.field_access.items()} or None)
    rows: dict[str, Any] = {}
    for entity, rules in role.row_rules.items():
        sources = [rule.source for rule in (rules if isinstance(rules, tuple) else (rules,))]
        rows[entity] = sources[0] if len(sources) == 1 else " AND ".join(f"({s})" for s in sources)
    _put(out, "rows", rows or None)
    return out


def dump_dashboard(dashboard: Dashboard) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if dashboard.label != _default_label(dashboard.name):
        out["label"] = label(dashboard.label)
    _put(out, "roles", list(dashboard.roles) or None)
    widgets = []
    for widget in dashboard.widgets:
        entry: dict[str, Any] = {"type": widget.type, "title": label(widget.title), "entity": widget.entity}
        _put(entry, "filter", widget.filter.source if widget.filter else None)
        _put(entry, "group_by", {k: f.source for k, f in widget.group_by.items()} or None)
        entry["values"] = {k: f.source for k, f in widget.values.items()}
        _put(entry, "sort", widget.sort)
        _put(entry, "limit", widget.limit)
        _put(entry, "thresholds", [dict(t) for t in widget.thresholds] or None)
        widgets.append(entry)
    out["widgets"] = widgets
    return out


def dump_print_format(fmt: PrintFormat) -> dict[str, Any]:
    out: dict[str, Any] = {"entity": fmt.entity}
    if fmt.label != _default_label(fmt.name):
        out["label"] = label(fmt.label)
    out["template"] = fmt.template
    _put(out, "paper", fmt.paper, "A4")
    _put(out, "default", fmt.default or None)
    return out


def dump_app(app: App) -> dict[str, Any]:
    """The whole app as one YAML document (modules already merged in)."""
    out: dict[str, Any] = {"name": app.name, "title": label(app.title), "version": app.version,
                           "locale": app.locale, "timezone": app.timezone}
    _put(out, "description", label(app.description))
    _put(out, "plugins", {k: dict(v) for k, v in app.plugins.items()} or None)
    if app.stock:
        stock = {k: v for k, v in vars_of(app.stock).items() if v is not None}
        if stock.get("negative_stock") is False:
            stock.pop("negative_stock")
        if stock.get("valuation") == "moving_average":
            stock.pop("valuation")
        if stock.get("count_tolerance") == Decimal(3):
            stock.pop("count_tolerance")
        out["stock"] = stock
    out["entities"] = {name: dump_entity(e, app) for name, e in app.entities.items() if e.kind is not EntityKind.CHILD}
    if app.user_fields:
        out["extend"] = {"entities": {"user": {"fields": {n: dump_field(f, app) for n, f in app.user_fields.items()}}}}
    _put(out, "workflows", {n: dump_workflow(w) for n, w in app.workflows.items()} or None)
    _put(out, "alerts", {n: dump_alert(a) for n, a in app.alerts.items()} or None)
    _put(out, "roles", {n: dump_role(r) for n, r in app.roles.items()} or None)
    _put(out, "dashboards", {n: dump_dashboard(d) for n, d in app.dashboards.items()} or None)
    _put(out, "print_formats", {n: dump_print_format(p) for n, p in app.print_formats.items()} or None)
    demo = {entity: [{**dict(r.values), **({"_submit": True} if r.submit else {})} for r in records]
            for entity, records in app.demo.items() if records}
    _put(out, "demo", demo or None)
    return out


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


class _Dumper(yaml.SafeDumper):
    pass


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.Node:
    text = format(value, "f")
    return dumper.represent_scalar("tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int", text)


_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(MappingProxyType, lambda dumper, value: dumper.represent_dict(dict(value)))
_Dumper.add_representer(tuple, lambda dumper, value: dumper.represent_list(list(value)))
_Dumper.add_representer(dt.date, yaml.SafeDumper.represent_date)


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)
