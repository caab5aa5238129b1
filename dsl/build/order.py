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
    for component in _components(graph):
        if len(component) > 1 or component[0] in graph[component[0]]:
            cycle = _cycle_in(component, graph)
            names = " → ".join(_display(root, n) for n in cycle)
            others = [_display(root, n) for n in component if n not in cycle]
            if others:
                names += f" (and {', '.join(others)} with them)"
            ctx.problems.append(Problem(f"computed fields depend on each other in a circle: {names}",
                                        origins.get(cycle[0]), None, "one of them must be entered, not computed"))
        order.extend(sorted(component))
    return tuple(_display(root, node) for node in order)


def _components(graph: dict[Node, list[Node]]) -> list[list[Node]]:
    """Strongly connected components (Tarjan), each after the components it depends on."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    on_stack: set[Node] = set()
    result: list[list[Node]] = []

    def visit(node: Node) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def _cycle_in(component: list[Node], graph: dict[Node, list[Node]]) -> list[Node]:
    """A circle through the component's first node that visits every node of it when one exists."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    while True:
        successors = [d for d in graph[path[-1]] if d in members]
        unvisited = [d for d in successors if d not in seen]
        if unvisited:
            path.append(unvisited[0])
            seen.add(unvisited[0])
            continue
        closing = start if start in successors else next((d for d in successors if d in seen), start)
        return [*path[path.index(closing):], closing] if closing in path else [*path, start]


def _display(root: Entity, node: Node) -> str:
    entity, field = node
    if entity == root.name:
        return field
    table = next((f.name for f in root.fields.values() if f.table == entity), entity)
    return f"{table}.{field}"
