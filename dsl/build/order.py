"""Computed fields: the order to evaluate them in, and circles between them (reported, not looped)."""

from __future__ import annotations

from collections.abc import Mapping

from dsl.build.context import BuildContext
from dsl.formula import ir
from dsl.model import Entity, EntityKind
from dsl.problems import Problem

Node = tuple[str, str]  # (entity, field)


def _dependencies(expr: ir.Expr) -> set[Node]:
    found: set[Node] = set()
    for node in ir.walk(expr):
        if isinstance(node, ir.FieldRef) or (isinstance(node, ir.Follow) and isinstance(node.base, ir.ParentRef)):
            found.add((node.entity, node.field))
    return found


def computed_orders(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, tuple[str, ...]]:
    """For each top-level entity, its computed fields and those of its rows ("lines.amount"), in order."""
    orders: dict[str, tuple[str, ...]] = {}
    for entity in entities.values():
        if entity.kind is EntityKind.CHILD:
            continue
        members = [entity, *(entities[f.table] for f in entity.fields.values() if f.table and f.table in entities)]
        orders[entity.name] = _order(ctx, entity, members)
    return orders


def _order(ctx: BuildContext, root: Entity, members: list[Entity]) -> tuple[str, ...]:
    computed: dict[Node, ir.Expr] = {}
    origins = {}
    for member in members:
        for field in member.fields.values():
            if field.formula is not None:
                computed[(member.name, field.name)] = field.formula.expr
                origins[(member.name, field.name)] = field.formula.origin
    graph = {node: sorted(dep for dep in _dependencies(expr) if dep in computed) for node, expr in computed.items()}
    order: list[Node] = []
    state: dict[Node, int] = {}  # 1 visiting, 2 done
    reported: set[frozenset[Node]] = set()

    def visit(node: Node, path: list[Node]) -> None:
        mark = state.get(node)
        if mark == 2:
            return
        if mark == 1:
            cycle = [*path[path.index(node):], node]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                names = " → ".join(_display(root, n) for n in cycle)
                ctx.problems.append(Problem(f"computed fields depend on each other in a circle: {names}",
                                            origins.get(cycle[0]), None,
                                            "one of them must be entered, not computed"))
            return
        state[node] = 1
        for dep in graph[node]:
            visit(dep, [*path, node])
        state[node] = 2
        order.append(node)

    for node in sorted(computed):
        visit(node, [])
    return tuple(_display(root, node) for node in order)


def _display(root: Entity, node: Node) -> str:
    entity, field = node
    if entity == root.name:
        return field
    table = next((f.name for f in root.fields.values() if f.table == entity), entity)
    return f"{table}.{field}"
