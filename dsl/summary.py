"""The one-screen summary `jxc check` prints for a good app, and a walk over all of an app's formulas."""

from __future__ import annotations

from collections.abc import Iterator

from dsl.model import App, EntityKind, Formula


def iter_formulas(app: App) -> Iterator[tuple[str, Formula]]:
    for entity in app.entities.values():
        for field in entity.fields.values():
            where = f"{entity.name}.{field.name}"
            for kind, formula in (("default", field.default), ("formula", field.formula),
                                  ("required_if", field.required_if), ("visible_if", field.visible_if)):
                if formula is not None:
                    yield f"{where}.{kind}", formula
            for validation in field.validations:
                yield f"{where}.validate", validation.rule
        for validation in entity.validations:
            yield f"{entity.name}.validate", validation.rule
        for source, link in entity.make_from.items():
            for name, formula in link.fields.items():
                yield f"{entity.name}.make_from.{source}.{name}", formula
            if link.lines:
                for name, formula in link.lines.fields.items():
                    yield f"{entity.name}.make_from.{source}.lines.{name}", formula
        for index, effect in enumerate((*entity.stock, *entity.reservations)):
            for attribute in ("item", "qty", "warehouse", "to_warehouse", "location", "to_location", "batch",
                              "expiry", "production_date", "unit_cost", "supplier", "supplier_batch"):
                formula = getattr(effect, attribute, None)
                if formula is not None:
                    yield f"{entity.name}.stock[{index}].{attribute}", formula
    for workflow in app.workflows.values():
        for transition in workflow.transitions:
            if transition.guard is not None:
                yield f"workflows.{workflow.name}.{transition.action}.guard", transition.guard
    for alert in app.alerts.values():
        yield f"alerts.{alert.name}.condition", alert.condition
    for role in app.roles.values():
        for entity_name, rules in role.row_rules.items():
            for rule in rules if isinstance(rules, tuple) else (rules,):
                yield f"roles.{role.name}.rows.{entity_name}", rule
    for dashboard in app.dashboards.values():
        for index, widget in enumerate(dashboard.widgets):
            if widget.filter is not None:
                yield f"dashboards.{dashboard.name}[{index}].filter", widget.filter
            for name, formula in (*widget.group_by.items(), *widget.values.items()):
                yield f"dashboards.{dashboard.name}[{index}].{name}", formula


def summary(app: App) -> str:
    entities = list(app.entities.values())
    top = [e for e in entities if e.kind is not EntityKind.CHILD]
    documents = [e for e in top if e.kind is EntityKind.DOCUMENT]
    tables = [e for e in entities if e.kind is EntityKind.CHILD]
    fields = [f for e in entities for f in e.fields.values()]
    computed = [f for f in fields if f.computed]
    formulas = list(iter_formulas(app))
    python_only = [(where, f) for where, f in formulas if f.sql_missing]
    widgets = sum(len(d.widgets) for d in app.dashboards.values())
    demo = sum(len(records) for records in app.demo.values())
    modules = ", ".join(app.modules) if app.modules else "none"
    lines = [
        f"app {app.name}: {app.title.get(app.locale)} (version {app.version}, {app.locale}, {app.timezone})",
        f"  modules        {modules}",
        f"  entities       {len(top)} ({len(documents)} documents, {len(top) - len(documents)} master data), "
        f"{len(tables)} tables of rows",
        f"  fields         {len(fields)} ({len(computed)} computed)",
        f"  formulas       {len(formulas)}" + (
            f" ({len(python_only)} run in Python only)" if python_only else " (all also run in SQL)"),
        f"  documents      {', '.join(e.name for e in documents) or 'none'}",
        f"  workflows      {len(app.workflows)}" + "".join(
            f"\n    {w.name}: {w.entity}, {len(w.states)} states, {len(w.transitions)} transitions"
            for w in app.workflows.values()),
        f"  alerts         {len(app.alerts)}",
        f"  roles          {len(app.roles)}" + (f" ({', '.join(app.roles)})" if app.roles else ""),
        f"  dashboards     {len(app.dashboards)} ({widgets} widgets)",
        f"  print formats  {len(app.print_formats)}",
        f"  demo records   {demo}",
        "  stock          " + (f"items {app.stock.item}, warehouses {app.stock.warehouse}" if app.stock else "none"),
        f"  plugins        {', '.join(app.plugins) or 'none'}",
    ]
    return "\n".join(lines)
