"""The history page of a record (`/e/<entity>/<id>/history`): each step of its audit log with who, when, the
action (a workflow's by its label), the comment and what changed, values shown as the form shows them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dsl.model import Entity, FieldType, Label
from engine.records import Session
from engine.web.context import language, render, service
from engine.web.i18n import label_locale
from engine.web.widgets import display_text, title_of

STATUS = {"draft": Label("草稿", "Draft"), "submitted": Label("已提交", "Submitted"),
          "cancelled": Label("已作废", "Cancelled")}
ACTIONS = {"create": Label("创建", "Created"), "update": Label("修改", "Changed"), "submit": Label("提交", "Submitted"),
           "cancel": Label("作废", "Cancelled"), "amend": Label("修订", "Amended"), "delete": Label("删除", "Deleted")}

_BOOKKEEPING = frozenset({"id", "created_at", "created_by", "modified_at", "modified_by", "version", "parent_id",
                          "idx", "made_from_line"})  # every save changes them; the step's head says who and when



@dataclass
class Change:
    label: str
    before: str
    after: str


@dataclass
class RowChange:
    table: str
    row: str
    what: str  # added | removed | changed
    changes: list[Change]


@dataclass
class Step:
    at: dt.datetime | None
    who: str
    action: str
    comment: str
    changes: list[Change]
    rows: list[RowChange]


def _users(session: Session, ids: set[int]) -> dict[int, str]:
    users = session.records.schema.users
    if users is None or not ids:
        return {}
    with session.records.engine.connect() as connection:
        rows = connection.execute(select(users.c.id, users.c.name, users.c.full_name).where(users.c.id.in_(ids)))
        return {row.id: row.full_name or row.name for row in rows}


def _shown(spec: Any, value: Any, locale: str, titles: Mapping[tuple[str, int], str]) -> str:
    """A logged value (as the audit log keeps it: decimals and dates as text) as the form shows it."""
    if value is None or spec is None:
        return "" if value is None else str(value)
    if spec.is_numeric and isinstance(value, str | int):
        try:
            value = Decimal(value) if spec.type is not FieldType.INT else int(value)
        except (InvalidOperation, ValueError):
            return str(value)
    elif spec.type is FieldType.DATETIME and isinstance(value, str):
        value = value.replace("T", " ")[:16]
    return display_text(spec, value, locale, titles)


def _changes(entity: Entity, changes: Mapping[str, Any], locale: str,
             titles: Mapping[tuple[str, int], str], workflow: Any = None) -> list[Change]:
    result = []
    for name, change in changes.items():
        if not isinstance(change, list) or len(change) != 2 or name in _BOOKKEEPING:
            continue
        if workflow is not None and name == workflow.state_field:  # the state, by its label
            before, after = (workflow.states[v].label.get(locale) if v in workflow.states else str(v or "")
                             for v in change)
            result.append(Change(workflow.label.get(locale) or name, before, after))
            continue
        spec = entity.fields.get(name)
        text = spec.label.get(locale) if spec is not None else {"doc_no": Label("单号", "Number"),
                                                                "docstatus": Label("状态", "Status")}.get(
            name, Label(name, name)).get(locale)
        before, after = change
        if name == "docstatus":
            before, after = (STATUS[v].get(locale) if v in STATUS else v for v in change)
        result.append(Change(text or name, _shown(spec, before, locale, titles), _shown(spec, after, locale, titles)))
    return result


def _link_titles(session: Session, entity: Entity, entries: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """Names of the records the logged links point at (before and after), as the user may read them."""
    from engine.web.formview import LinkTitles

    wanted: dict[str, set[int]] = {}

    def collect(owner: Entity, changes: Mapping[str, Any]) -> None:
        for name, change in changes.items():
            spec = owner.fields.get(name)
            if spec is None:
                continue
            if spec.type is FieldType.TABLE and isinstance(change, dict):
                child = session.app.entities[spec.table or ""]
                for row in change.values():
                    if isinstance(row, dict):
                        collect(child, row)
            elif spec.type is FieldType.LINK and isinstance(change, list):
                for value in change:
                    for key in value if isinstance(value, list) else [value]:
                        if isinstance(key, int):
                            wanted.setdefault(str(spec.link), set()).add(key)

    for entry in entries:
        collect(entity, entry["changes"])
    return LinkTitles(session).fetch(wanted)


def history_steps(request: Request, session: Session, entity: Entity, record_id: int) -> list[Step]:
    locale = label_locale(language(request))
    entries = session.history(entity.name, record_id)
    names = _users(session, {entry["user_id"] for entry in entries if entry.get("user_id") is not None})
    plan = session.records.workflows.of(entity)
    titles = _link_titles(session, entity, entries)
    steps = []
    for entry in entries:
        action = entry["action"]
        if plan is not None and action in plan.by_action:
            shown = plan.by_action[action].label.get(locale) or action
        else:
            shown = ACTIONS[action].get(locale) if action in ACTIONS else action
        top = {k: v for k, v in entry["changes"].items() if not isinstance(v, dict)}
        rows = []
        for table, by_row in entry["changes"].items():
            if not isinstance(by_row, dict) or table not in entity.fields:
                continue
            child = session.app.entities[entity.fields[table].table or ""]
            for row_id, row in by_row.items():
                what = "added" if row.get("added") else "removed" if row.get("removed") else "changed"
                rows.append(RowChange(entity.fields[table].label.get(locale) or table, row_id, what,
                                      _changes(child, {k: v for k, v in row.items() if k not in ("added", "removed")},
                                               locale, titles)))
        user_id = entry.get("user_id")
        who = names.get(user_id, f"#{user_id}") if user_id is not None else "jxc"
        steps.append(Step(entry.get("at"), who, shown, entry.get("comment") or "",
                          _changes(entity, top, locale, titles, plan.workflow if plan else None), rows))
    return steps


async def history(request: Request) -> Response:
    session = service(request)
    entity_name = request.path_params["entity"]
    record_id = int(request.path_params["record_id"])

    def run() -> Response:
        entity = session.records.entity(entity_name)
        record = session.get(entity.name, record_id)
        steps = history_steps(request, session, entity, record_id)
        locale = label_locale(language(request))
        title = f"{entity.label.get(locale)} {title_of(entity, record)}"
        return render(request, "history.html", entity=entity, record=record, steps=steps, title=title)

    return await run_in_threadpool(run)
