"""Alerts: a condition over records of one scope, checked on every change or on a schedule, and a message
(a Jinja2 template) sent to roles and users through notification channels."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from dsl.assemble import Raw
from dsl.build.context import BuildContext, EntityShape, label_of
from dsl.build.schedule import FORMS, ScheduleError, parse_schedule
from dsl.formula import types as t
from dsl.formula.functions import Accepts
from dsl.model import Alert, Entity, EntityKind, FieldType, Schedule
from dsl.problems import Location, Problem, did_you_mean

_BOOL = Accepts("TRUE/FALSE (a condition)", lambda v: v.kind is t.Kind.BOOL)
STOCK_SCOPES = ("stock_balance", "stock_batch")
# What the engine gives every message template.
TEMPLATE_VARIABLES = ("record", "link", "app", "now")
_REPEAT = re.compile(r"([1-9][0-9]*)([mhd])")
_REPEAT_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def build_alerts(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, Alert]:
    env = SandboxedEnvironment(autoescape=True)
    result: dict[str, Alert] = {}
    for name, raw in ctx.assembly.concepts["alerts"].items():
        alert = _alert(ctx, env, name, raw)
        if alert is not None:
            result[name] = alert
    return result


def _alert(ctx: BuildContext, env: SandboxedEnvironment, name: str, raw: Raw) -> Alert | None:
    scope = _scope(ctx, raw.at("scope"))
    condition = None
    if scope is not None and raw.get("condition") is not None:
        condition = ctx.formula(raw.at("condition"), scope.name, "an alert's condition", expect=_BOOL)
    trigger, schedule = _trigger(ctx, raw)
    repeat = _repeat(raw.get("repeat"))
    roles = tuple(dict.fromkeys(role for item in raw.at("recipients", "roles").elements()
                                if (role := ctx.role_ref(item, "recipients")) is not None))
    users = tuple(dict.fromkeys(user.data for user in raw.at("recipients", "users").elements()
                                if isinstance(user.data, str) and user.data.strip()))
    written = raw.at("recipients", "roles").data or raw.at("recipients", "users").data  # wrong ones are reported
    if not roles and not users and not written:
        ctx.report(raw.at("recipients") if raw.get("recipients") is not None else raw,
                   "nobody would receive this alert", key=True,
                   hint="add recipients: {roles: [...]} or recipients: {users: [...]}")
    channels = _channels(ctx, raw.at("channels"))
    message = raw.get("message")
    if isinstance(message, str):
        _check_template(ctx, env, raw.at("message"), scope)
    if scope is None or condition is None or not isinstance(message, str) or trigger is None:
        return None
    if trigger == "schedule" and schedule is None:
        return None
    return Alert(
        name=name, label=label_of(raw.at("label"), name), scope=scope.name, condition=condition,
        trigger=trigger, message=message, origin=raw.loc(key=True), schedule=schedule, repeat=repeat,
        roles=roles, users=users, channels=channels,
    )


# --- scope, trigger, repeat, channels ----------------------------------------------------------------------


def _scope(ctx: BuildContext, raw: Raw) -> EntityShape | None:
    name = raw.data
    if not isinstance(name, str):
        return None
    if name in STOCK_SCOPES:
        shape = ctx.shapes.get(name)
        if shape is None and ctx.assembly.header is not None and ctx.assembly.header.get("stock") is None:
            ctx.report(raw, f"scope: {name} exists only when app.yaml has stock: settings",
                       hint="add stock: {item: item, warehouse: warehouse} to app.yaml")
        return shape  # None also when the stock settings are broken, which is reported there
    pool = {n: s for n, s in ctx.top_entities().items() if not s.system}
    shape = pool.get(name)
    if shape is None:
        child = ctx.shapes.get(name)
        if child is not None and child.kind is EntityKind.CHILD:
            ctx.report(raw, f"scope: '{name}' is the table {child.parent}.{child.parent_field}; an alert watches "
                       "a whole record", hint=f"use scope: {child.parent} with a condition over its rows, such "
                       "as COUNT(lines, qty > 0) > 0")
            return None
        ctx.report(raw, f"scope: there is no entity '{name}'",
                   hint=did_you_mean(name, [*pool, *STOCK_SCOPES]))
    return shape


def _trigger(ctx: BuildContext, raw: Raw) -> tuple[str | None, Schedule | None]:
    written = raw.get("trigger")
    text = raw.get("schedule")
    has_schedule = "schedule" in (raw.data or {})
    trigger = written if written in ("change", "schedule") else ("schedule" if has_schedule else "change")
    if written is not None and written not in ("change", "schedule"):
        return None, None  # the schema has reported it
    if trigger == "schedule" and not has_schedule:
        ctx.report(raw.at("trigger"), "trigger: schedule needs schedule: (when to check)",
                   hint="e.g. schedule: daily 08:00")
        return trigger, None
    if trigger == "change" and has_schedule:
        ctx.report(raw, "schedule: only applies to trigger: schedule; this alert is checked on every change",
                   "schedule", key=True, hint="remove trigger: change, or remove schedule:")
        return trigger, None
    if trigger == "change":
        return trigger, None
    if not isinstance(text, str):
        return trigger, None  # the schema has reported it
    try:
        return trigger, parse_schedule(text)
    except ScheduleError as error:
        hint = None if "write" in error.message and "cron" in error.message else f"accepted: {FORMS}"
        ctx.problems.append(Problem(error.message, _offset_location(raw.at("schedule"), error.offset),
                                    raw.where("schedule"), hint))
        return trigger, None


def _repeat(value: object) -> dt.timedelta | None:
    match = _REPEAT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None  # absent, or reported by the schema
    return dt.timedelta(**{_REPEAT_UNITS[match.group(2)]: int(match.group(1))})


def _channels(ctx: BuildContext, raw: Raw) -> tuple[str, ...]:
    if raw.data is None:
        return ("inbox",)
    found = []
    for item in raw.elements():
        if not isinstance(item.data, str):
            continue
        if item.data not in ctx.channels:
            ctx.report(item, f"there is no notification channel '{item.data}'",
                       hint=did_you_mean(item.data, ctx.channels) or
                       "available channels: " + ", ".join(sorted(ctx.channels)))
            continue
        found.append(item.data)
    return tuple(dict.fromkeys(found)) or ("inbox",)


def _offset_location(raw: Raw, offset: int) -> Location:
    if isinstance(raw.data, str):
        return raw.source.formula_location(raw.path, offset)
    return raw.loc()


# --- the message template --------------------------------------------------------------------------------


def _check_template(ctx: BuildContext, env: SandboxedEnvironment, raw: Raw, scope: EntityShape | None) -> None:
    text: str = raw.data
    try:
        tree = env.parse(text)
        env.compile(tree)
    except jinja2.TemplateSyntaxError as error:
        ctx.problems.append(Problem(f"the message template has an error: {error.message}",
                                    _template_line(raw, text, error.lineno), raw.where()))
        return
    unknown = sorted(meta.find_undeclared_variables(tree) - set(TEMPLATE_VARIABLES))
    for name in unknown:
        node = next((n for n in tree.find_all(nodes.Name) if n.name == name), None)
        offset = _find(text, node.lineno if node else 1, rf"(?<![\w.])({re.escape(name)})\b")
        ctx.problems.append(Problem(
            f"the message uses '{name}', which is not available; a message can use "
            + ", ".join(TEMPLATE_VARIABLES), _offset_location(raw, offset), raw.where(),
            did_you_mean(name, TEMPLATE_VARIABLES) or "e.g. {{ record.doc_no }} or {{ link }}"))
    if scope is not None:
        _check_fields(ctx, raw, text, tree, scope)


def _template_line(raw: Raw, text: str, lineno: int | None) -> Location:
    """Where line `lineno` of the template begins in the YAML file (its first character that is not a space):
    exact for block scalars (| and >); a one-line scalar is one template line, so the scalar itself."""
    span = raw.source.value_span(raw.path)
    if span is None or span.style not in ("|", ">"):
        return raw.loc()
    start = _line_start(text, lineno or 1)
    while start < len(text) and text[start] in " \t":
        start += 1  # at the line's first character
    return raw.source.formula_location(raw.path, start)


def _line_start(text: str, lineno: int) -> int:
    offset = 0
    for _ in range(lineno - 1):
        found = text.find("\n", offset)
        if found < 0:
            break
        offset = found + 1
    return offset


def _find(text: str, lineno: int, pattern: str) -> int:
    """The offset of group 1 of `pattern` inside a {{ … }} or {% … %} tag of line `lineno`, else of the
    line's start."""
    start = _line_start(text, lineno)
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    for tag in _TAG.finditer(line):
        match = re.search(pattern, tag.group())
        if match is not None:
            return start + tag.start() + match.start(1)
    return start


def _chain(node: nodes.Node) -> list[str] | None:
    """`record.customer.name` as ["customer", "name"]; None if the expression does not start at record."""
    if isinstance(node, nodes.Name):
        return [] if node.name == "record" else None
    if isinstance(node, nodes.Getattr):
        head = _chain(node.node)
        return None if head is None else [*head, node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        head = _chain(node.node)
        return None if head is None else [*head, node.arg.value]
    return None


def _record_uses(tree: nodes.Template) -> Iterator[tuple[nodes.Node, list[str]]]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        chain = _chain(node)
        if chain:
            yield node, chain


def _check_fields(ctx: BuildContext, raw: Raw, text: str, tree: nodes.Template, scope: EntityShape) -> None:
    """`{{ record.qtty }}`: the scope must have the field; through a link, so must the linked entity."""
    reported: set[tuple[str, ...]] = set()
    for node, chain in _record_uses(tree):
        shape: EntityShape | None = scope
        for depth, name in enumerate(chain):
            if shape is None:
                break
            field = shape.fields.get(name)
            if field is None:
                if depth == len(chain) - 1 and tuple(chain) not in reported:
                    reported.add(tuple(chain))
                    offset = _find(text, node.lineno, rf"(?:\.\s*|\[\s*['\"])({re.escape(name)})\b")
                    used = ".".join(["record", *chain])
                    ctx.problems.append(Problem(f"the message uses {used}, but {shape.name} has no field '{name}'",
                                                _offset_location(raw, offset), raw.where(),
                                                did_you_mean(name, shape.fields)))
                break
            is_link = field.type is FieldType.LINK and not field.many and field.link
            shape = ctx.shapes.get(field.link) if is_link and field.link else None
