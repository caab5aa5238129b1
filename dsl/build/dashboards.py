"""Dashboards: widgets (metric, bar, line, table) that query one entity, group its records and aggregate them.

A widget reads like a small report: `entity` is what is queried, `filter` keeps some records (a condition on
one record), `group_by` names the groups (each a formula giving one value per record: `item`,
`MONTH(order_date)`, an aging bucket with IFS) and `values` names what is computed for each group, over the
group's records (`SUM(total)`, `COUNT()`, `AVG(price, qty > 0)`). `sort` names a group or value, `-` first
for descending, and `limit` keeps the first rows ("top 10 sellers").

A widget may also query the rows of a document's table (`sales_order_lines`, the entity of the table `lines`):
its formulas see the row's fields and the document's through `parent` (`parent.docstatus = "submitted"`), so
items can be ranked by what was sold of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from dsl.assemble import Raw
from dsl.build.context import BuildContext, EntityShape, label_of, visible
from dsl.formula import types as t
from dsl.formula.functions import Accepts
from dsl.model import Dashboard, Entity, EntityKind, Formula, Label, Widget
from dsl.problems import allowed, did_you_mean

WIDGET_TYPES = ("metric", "bar", "line", "table")
QUERYABLE_SYSTEM = ("stock_balance", "stock_batch")  # system entities a widget may query

_CONDITION = Accepts("TRUE/FALSE (a condition)", lambda v: v.kind is t.Kind.BOOL)
_NUMBER = Accepts("a number", lambda v: v.is_number)
_SINGLE = Accepts("a single value (not a table or a list)", lambda v: v.is_scalar)


def build_dashboards(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, Dashboard]:
    dashboards: dict[str, Dashboard] = {}
    for name, raw in ctx.assembly.concepts["dashboards"].items():
        dashboard = _dashboard(ctx, name, raw)
        if dashboard is not None:
            dashboards[name] = dashboard
    return dashboards


def _dashboard(ctx: BuildContext, name: str, raw: Raw) -> Dashboard | None:
    label = label_of(raw.at("label"), name) or Label(en=name)
    roles = tuple(role for item in raw.at("roles").elements()
                  if (role := ctx.role_ref(item, f"dashboard {name}: roles")) is not None)
    widgets = tuple(widget for index, item in enumerate(raw.at("widgets").elements())
                    if (widget := _widget(ctx, name, index, item, label)) is not None)
    return Dashboard(name=name, label=label, widgets=widgets, origin=raw.loc(key=True), roles=roles)


def queried_entity(ctx: BuildContext, raw: Raw, what: str) -> EntityShape | None:
    """The entity a widget queries: an entity of the app (the rows of a table too), or stock balances and
    batches."""
    name = raw.data
    if not isinstance(name, str):
        return None
    pool = {n: s for n, s in ctx.shapes.items() if not s.system or n in QUERYABLE_SYSTEM}
    shape = pool.get(name)
    if shape is None:
        other = ctx.shapes.get(name)
        if name in QUERYABLE_SYSTEM:
            ctx.report(raw, f"{what}: {name} exists only when the app keeps stock",
                       hint="add stock: {item: item, warehouse: warehouse} to app.yaml")
        elif other is not None and other.system:
            ctx.report(raw, f"{what}: {name} is kept by jxc itself and cannot be queried here")
        else:
            ctx.report(raw, f"{what}: there is no entity '{name}'", hint=did_you_mean(name, pool))
        return None
    owner = ctx.shapes.get(shape.parent) if shape.kind is EntityKind.CHILD and shape.parent else shape
    if owner is None or not visible(ctx, raw, owner):
        return None
    return shape


def _widget(ctx: BuildContext, dashboard: str, index: int, raw: Raw, dashboard_label: Label) -> Widget | None:
    kind = raw.get("type")
    what = f"dashboard {dashboard}, widget {index + 1}"
    if kind not in WIDGET_TYPES:
        return None  # reported by the schema
    ok = _check_layout(ctx, raw, kind, what)
    sort = _sort(ctx, raw, what)
    thresholds = _thresholds(ctx, raw, what)
    shape = queried_entity(ctx, raw.at("entity"), what)
    if shape is None:
        return None
    entity = shape.name

    filter_ = None
    if raw.get("filter") is not None:
        filter_ = ctx.formula(raw.at("filter"), entity, f"{what}: the filter", expect=_CONDITION)
        ok = ok and filter_ is not None

    groups: dict[str, Formula] = {}
    for group, formula_raw in raw.at("group_by").items():
        formula = ctx.formula(formula_raw, entity, f"{what}: the group {group}", expect=_SINGLE)
        if formula is None:
            ok = False
        else:
            groups[group] = formula

    values: dict[str, Formula] = {}
    for value, formula_raw in raw.at("values").items():
        if value in _names(raw, "group_by"):
            ctx.report(formula_raw, f"{what}: '{value}' names both a group and a value; give them different "
                       "names", key=True)
            ok = False
            continue
        formula = ctx.formula(formula_raw, entity, f"{what}: the value {value}", expect=_NUMBER, records=True)
        if formula is None:
            ok = False
        else:
            values[value] = formula

    if not ok or sort is False or thresholds is None:
        return None
    limit = raw.get("limit")
    title = label_of(raw.at("title")) if raw.get("title") is not None else None
    return Widget(
        type=kind, title=title or dashboard_label, entity=entity, values=MappingProxyType(values),
        filter=filter_, group_by=MappingProxyType(groups), sort=sort if isinstance(sort, str) else None,
        limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None, thresholds=thresholds,
    )


def _check_layout(ctx: BuildContext, raw: Raw, kind: str, what: str) -> bool:
    """How many groups and values each kind of widget shows."""
    group_count = len(_names(raw, "group_by"))
    value_count = len(_names(raw, "values"))
    if kind == "metric":
        ok = True
        if group_count:
            ctx.report(raw, f"{what}: a metric shows one number, so it has no group_by", "group_by", key=True,
                       hint="use a bar, line or table widget to show groups")
            ok = False
        if value_count > 1:
            ctx.report(raw, f"{what}: a metric shows exactly one value, but this one has {value_count}", "values",
                       key=True, hint="use one metric widget per value, or a table widget")
            ok = False
        return ok
    if kind in ("bar", "line"):
        chart = "a bar chart" if kind == "bar" else "a line chart"
        if group_count == 0:
            ctx.report(raw, f"{what}: {chart} needs group_by: with one group (its x axis)", "type",
                       hint="e.g. group_by: {month: MONTH(order_date)}")
            return False
        if group_count > 1:
            ctx.report(raw, f"{what}: {chart} has one group (its x axis), but this one has {group_count}",
                       "group_by", key=True, hint="use a table widget to group by several things")
            return False
    return True  # values: at least one, which the schema checks


def _sort(ctx: BuildContext, raw: Raw, what: str) -> str | bool | None:
    """The sort key as written, None without one, False when it names nothing."""
    sort = raw.get("sort")
    if not isinstance(sort, str):
        return None
    name = sort.removeprefix("-")
    names = [*_names(raw, "group_by"), *_names(raw, "values")]
    if name in names:
        return sort
    hint = did_you_mean(name, names) or (allowed(names) + " (with - first to sort descending)" if names else None)
    ctx.report(raw.at("sort"), f"{what}: sort names '{name}', which is neither a group nor a value of this widget",
               hint=hint)
    return False


def _thresholds(ctx: BuildContext, raw: Raw, what: str) -> tuple[Mapping[str, Any], ...] | None:
    """Colour bands; every value is a number, so a threshold only needs to say where it starts or ends."""
    result = []
    ok = True
    for item in raw.at("thresholds").elements():
        if not isinstance(item.data, dict):
            continue  # the schema reports it
        above, below = item.get("above"), item.get("below")
        if above is None and below is None:
            ctx.report(item, f"{what}: a threshold needs above: or below: (where its colour applies)",
                       hint="e.g. {below: 10, color: red}")
            ok = False
            continue
        if _is_number(above) and _is_number(below) and above >= below:
            ctx.report(item, f"{what}: no number is above {above} and below {below}, so this threshold never "
                       "applies", hint="a band needs above: smaller than below:")
            ok = False
            continue
        result.append(MappingProxyType(dict(item.data)))
    return tuple(result) if ok else None


def _names(raw: Raw, key: str) -> list[str]:
    value = raw.get(key)
    return [name for name in value if isinstance(name, str)] if isinstance(value, dict) else []


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or hasattr(value, "as_tuple")


__all__ = ["build_dashboards", "queried_entity"]
