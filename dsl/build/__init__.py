"""From an Assembly (dsl.assemble) to the checked model (dsl.model), collecting every problem.

Order matters: entity shapes first (types of all fields, so that formulas can be checked anywhere), then the
formula catalog, then entities with their formulas, then everything that refers to entities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from dsl.assemble import Assembly
from dsl.build.access import build_roles
from dsl.build.alerts import build_alerts
from dsl.build.catalog import add_system_columns, build_catalog, system_entities, user_entity
from dsl.build.context import BuildContext, label_of
from dsl.build.dashboards import build_dashboards
from dsl.build.demo import build_demo
from dsl.build.documents import DocumentBuilder
from dsl.build.entities import build_shapes, effective, user_field_shapes
from dsl.build.header import plugins_of, stock_settings, timezone_of, title_of
from dsl.build.order import computed_orders
from dsl.build.printing import build_print_formats
from dsl.build.workflows import build_workflows
from dsl.formula.functions import Registry
from dsl.model import App, Entity, EntityKind
from dsl.problems import Problem

BUILTIN_CHANNELS = ("inbox", "email", "wecom", "dingtalk")


def build_app(assembly: Assembly, registry: Registry, *, channels: Iterable[str] = BUILTIN_CHANNELS,
              plugins: Mapping[str, Mapping[str, Any] | None] | None = None,
              always_on: Iterable[str] = ()) -> tuple[App | None, list[Problem]]:
    ctx = BuildContext(assembly, registry, channels)
    header = assembly.header
    if header is None:
        return None, list(assembly.problems)
    user = user_entity()
    ctx.shapes["user"] = user
    build_shapes(ctx)
    if assembly.user_fields:
        user_field_shapes(ctx, user, assembly.user_fields)
    for shape in ctx.shapes.values():
        add_system_columns(shape, _workflow_field(assembly, shape.name))
    ctx.stock = stock_settings(ctx, header)
    for shape in system_entities(ctx.stock):
        ctx.shapes.setdefault(shape.name, shape)
    ctx.catalog = build_catalog(ctx.shapes, _labels(ctx))

    documents = DocumentBuilder(ctx)
    entities: dict[str, Entity] = {}
    for name, shape in ctx.shapes.items():
        if shape.system or shape.kind is EntityKind.CHILD:
            continue
        for child_name, child_shape in ctx.shapes.items():
            if child_shape.parent == name and child_shape.kind is EntityKind.CHILD:
                child = documents.entity(child_shape, entities)
                if child is not None:
                    entities[child_name] = child
        entity = documents.entity(shape, entities)
        if entity is not None:
            entities[name] = entity
    user_fields = documents.fields.fields(user)
    orders = computed_orders(ctx, entities)
    entities = {name: _with_order(entity, orders.get(name, ())) for name, entity in entities.items()}

    workflows = build_workflows(ctx, entities)
    alerts = build_alerts(ctx, entities)
    roles = build_roles(ctx, entities)
    dashboards = build_dashboards(ctx, entities)
    print_formats = build_print_formats(ctx, entities)
    demo = build_demo(ctx, entities)
    timezone = timezone_of(ctx, header)
    enabled = plugins_of(ctx, header, plugins)

    problems = [*assembly.problems, *ctx.problems]
    if problems:
        return None, problems
    app = App(
        name=str(header.get("name")), title=title_of(header), version=str(header.get("version", "0.1.0")),
        locale=str(header.get("locale", "zh-CN")), timezone=timezone, modules=tuple(assembly.modules),
        plugins=MappingProxyType(enabled), entities=MappingProxyType(entities),
        workflows=MappingProxyType(workflows), alerts=MappingProxyType(alerts), roles=MappingProxyType(roles),
        dashboards=MappingProxyType(dashboards), print_formats=MappingProxyType(print_formats),
        demo=MappingProxyType(demo), stock=ctx.stock, catalog=ctx.catalog, registry=registry,
        description=label_of(header.at("description")) if header.get("description") is not None else None,
        source_dir=str(assembly.app_dir), user_fields=MappingProxyType(user_fields),
    )
    if plugins is not None:
        problems = _plugins_not_enabled(app, set(enabled) | set(always_on))
    return (None, problems) if problems else (app, [])


def _plugins_not_enabled(app: App, allowed: set[str]) -> list[Problem]:
    """A formula may use a plugin's function only when the app enables that plugin under plugins:."""
    from dsl.formula import ir
    from dsl.summary import iter_formulas

    problems = []
    for where, formula in iter_formulas(app):
        for node in ir.walk(formula.expr):
            if isinstance(node, ir.Call) and node.function.plugin and node.function.plugin not in allowed:
                problems.append(Problem(f"{node.function.name} comes from the plugin '{node.function.plugin}', "
                                        "which this app does not enable", formula.origin, where,
                                        f"add {node.function.plugin}: {{}} under plugins: in app.yaml"))
    return problems


def _workflow_field(assembly: Assembly, entity: str) -> str | None:
    for raw in assembly.concepts["workflows"].values():
        if raw.get("entity") == entity:
            value = raw.get("field", "workflow_state")
            return value if isinstance(value, str) else "workflow_state"
    return None


def _labels(ctx: BuildContext) -> dict[tuple[str, str], tuple[str, ...]]:
    labels: dict[tuple[str, str], tuple[str, ...]] = {}
    for shape in ctx.shapes.values():
        for name, field in shape.fields.items():
            if field.draft is None:
                continue
            raw = effective(field.draft).raws.get("label")
            label = label_of(raw) if raw is not None else None
            if label is not None:
                labels[(shape.name, name)] = label.all()
    return labels


def _with_order(entity: Entity, order: tuple[str, ...]) -> Entity:
    from dataclasses import replace

    return replace(entity, computed_order=order) if order else entity
