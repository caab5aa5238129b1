"""Actions on a form: submit, cancel, amend, workflow transitions, make from (采购订单 → 生成收货单), delete
(drafts and master data); their routes include the history page (engine/web/history.py).

Make from opens a new form of the target pre-filled by the app's mapping (`/e/<target>/new?from=<source>&
from_id=<id>`), because what the mapping leaves open (a receipt's warehouse, a line's batch and dates) is the
user's to fill in. Each mapped row carries the source line it comes from (a hidden `_from` input), so that the
save goes through `Session.make_from` with the user's values by mapped position, and fulfilment happens at submit.

A button is shown only when the user may take the action on the record as it is now (the same rules the
service layer applies); an action refused anyway (the record changed meanwhile, a guard, a missing comment)
shows the form again with the service layer's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dsl.model import Entity, FieldType
from engine.errors import FieldProblem, NotFound, ServiceError, ValidationFailed
from engine.messages import Message
from engine.records import Session
from engine.store import Record
from engine.web.context import gettext, language, refusal_text, service, whole_number
from engine.web.history import STATUS, history
from engine.web.i18n import label_locale


@dataclass
class Transition:
    action: str
    label: str
    comment: str  # none | optional | required
    missing: list[str]
    cells: list[Any] = field(default_factory=list)  # inputs for the required fields still blank (formview.Cell)


@dataclass
class Buttons:
    """What this user may do with the record now (saving is the form's: formview.editable_record)."""

    delete: bool = False
    submit: bool = False
    cancel: bool = False
    amend: bool = False
    transitions: list[Transition] = field(default_factory=list)
    make: list[tuple[str, str]] = field(default_factory=list)  # (target entity, button label)
    prints: list[tuple[str, str]] = field(default_factory=list)  # (print format, label)


def status_label(request: Request, status: str | None) -> str:
    found = STATUS.get(status or "")
    return found.get(label_locale(language(request))) if found else str(status or "")


def buttons(session: Session, entity: Entity, record: Mapping[str, Any], locale: str) -> Buttons:
    """The actions offered on the form, labelled in `locale` ("zh-CN", "en")."""
    access = session.access
    found = Buttons()
    status = record.get("docstatus")
    found.delete = access.allowed(entity, "delete") and (not entity.is_document or status == "draft")
    plan = session.records.workflows.of(entity)
    if plan is not None:
        found.transitions = [Transition(step["action"], plan.by_action[step["action"]].label.get(locale)
                                        or step["label"], step["comment"], step["missing"])
                             for step in session.actions(entity.name, record["id"])]
    if entity.is_document:
        found.submit = status == "draft" and access.allowed(entity, "submit") and not (plan and plan.into("submit"))
        found.cancel = status == "submitted" and access.allowed(entity, "cancel") and not (
            plan and plan.into("cancel"))
        found.amend = status == "cancelled" and entity.amend and access.allowed(entity, "amend")
        if status == "submitted":
            found.make = [(target.name, link.label.get(locale) or target.label.get(locale))
                          for target in session.app.entities.values()
                          for source, link in target.make_from.items()
                          if source == entity.name and access.allowed(target, "create")]
    found.prints = [(name, fmt.label.get(locale) or name) for name, fmt in session.app.print_formats.items()
                    if fmt.entity == entity.name]
    return found


# --- actions ------------------------------------------------------------------------------------------------


def _version(form: Any) -> int:
    found = whole_number(form.get("version"))
    return -1 if found is None else found


async def _act(request: Request, work: Callable[[Session, Entity, int, Any], str]) -> Response:
    """Run an action in the user's name; then show where it leads (303), or the form with the refusal."""
    from engine.web import forms  # forms draws the buttons made here

    session = service(request)
    entity_name = request.path_params["entity"]
    record_id = int(request.path_params["record_id"])
    form = await request.form()

    def run() -> Response:
        entity = session.records.entity(entity_name)
        try:
            target = work(session, entity, record_id, form)
        except ValidationFailed as failed:
            return forms.record_page(request, entity_name, record_id, status=failed.status,
                                     message=gettext(request, "The action was refused:") + " "
                                     + refusal_text(request, failed),
                                     problems=failed.problems)
        except ServiceError as error:
            return forms.record_page(request, entity_name, record_id, status=error.status,
                                     message=gettext(request, "The action was refused:") + " "
                                     + refusal_text(request, error))
        return RedirectResponse(target, status_code=303)

    return await run_in_threadpool(run)


async def submit(request: Request) -> Response:
    def work(session: Session, entity: Entity, record_id: int, form: Any) -> str:
        session.submit(entity.name, record_id, version=_version(form))
        return f"/e/{entity.name}/{record_id}"

    return await _act(request, work)


async def cancel(request: Request) -> Response:
    def work(session: Session, entity: Entity, record_id: int, form: Any) -> str:
        session.cancel(entity.name, record_id, version=_version(form))
        return f"/e/{entity.name}/{record_id}"

    return await _act(request, work)


async def amend(request: Request) -> Response:
    def work(session: Session, entity: Entity, record_id: int, form: Any) -> str:
        copy = session.amend(entity.name, record_id)
        return f"/e/{entity.name}/{copy['id']}"

    return await _act(request, work)


async def transition(request: Request) -> Response:
    action = request.path_params["action"]

    def work(session: Session, entity: Entity, record_id: int, form: Any) -> str:
        from engine.web import forms
        from engine.web.widgets import read_form

        plan = session.records.workflows.of(entity)
        step = plan.by_action.get(action) if plan is not None else None
        values: dict[str, Any] | None = None
        if step is not None and step.requires:
            posted = read_form(session.app, entity, form, step.requires)
            problems = forms.resolve_links(session, posted)
            if problems:
                raise ValidationFailed(problems)
            values = {name: value for name, value in posted.values.items() if value not in (None, "", [])} or None
        comment = form.get("comment")
        session.transition(entity.name, record_id, action, version=_version(form),
                           comment=comment.strip() or None if isinstance(comment, str) else None, values=values)
        return f"/e/{entity.name}/{record_id}"

    return await _act(request, work)


async def delete(request: Request) -> Response:
    def work(session: Session, entity: Entity, record_id: int, form: Any) -> str:
        session.delete(entity.name, record_id)
        return f"/e/{entity.name}"

    return await _act(request, work)


async def make(request: Request) -> Response:
    """The pre-filled form of the target (the button is a GET form; a post here is sent on to it)."""
    params = f"from={request.path_params['entity']}&from_id={request.path_params['record_id']}"
    return RedirectResponse(f"/e/{request.path_params['target']}/new?{params}", status_code=303)


# --- the form of a document made from another ---------------------------------------------------------------


SOURCE_LINE = "_from"  # the hidden input of a mapped row: the source line it comes from


@dataclass
class MadeFrom:
    """A new document being made from `source` `source_id`: its mapped table, and for each row of that table
    on the form the source line it comes from (None for a row the user added)."""

    source: str
    source_id: int
    table: str | None = None
    lines: list[int | None] = field(default_factory=list)
    draft: dict[str, Any] = field(default_factory=dict)  # the mapping's values, as of now
    stale: list[str] = field(default_factory=list)  # rows whose source line has nothing left meanwhile


def made_from_of(entity: Entity, source: Any, source_id: Any) -> MadeFrom | None:
    """The source named by a query or the form's hidden inputs, if the target can be made from it."""
    if not isinstance(source, str) or not source:
        return None
    if source not in entity.make_from or whole_number(source_id) is None:
        raise NotFound(Message("{entity} cannot be made from {source} {id}", entity=entity.name, source=source,
                               id=source_id))
    link = entity.make_from[source]
    return MadeFrom(source, int(source_id), link.lines.target_table if link.lines else None)


def prefill(session: Session, entity: Entity, made: MadeFrom) -> tuple[dict[str, Any], Any]:
    """The new document as the mapping fills it in, computed like a save would (and the Preview), not saved."""
    made.draft = session.draft_from(entity.name, made.source, made.source_id)
    rows = made.draft.get(made.table or "") or []
    made.lines = [row.get("made_from_line") for row in rows]
    values = {name: value for name, value in made.draft.items() if _writable(session, entity, name)}
    if made.table and made.table in values:
        child = session.app.entities[entity.fields[made.table].table or ""]
        values[made.table] = [{name: value for name, value in row.items() if _writable(session, child, name)}
                              for row in rows]
    preview = session.preview(entity.name, values)
    return shown(session, entity, made, preview.record), preview


def shown(session: Session, entity: Entity, made: MadeFrom, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record to draw: what the mapping sets and the user cannot (the PO number), and each row's source."""
    record = dict(record, made_from_entity=made.source, made_from_id=made.source_id)
    for name, value in made.draft.items():
        if name != made.table and record.get(name) is None:
            record[name] = value
    if made.table:
        rows = record.get(made.table) or []
        lines = made.lines + [None] * (len(rows) - len(made.lines))
        record[made.table] = [dict(row, made_from_line=line) for row, line in zip(rows, lines, strict=False)]
    return record


def _writable(session: Session, entity: Entity, name: str) -> bool:
    spec = entity.fields.get(name)
    return spec is not None and (spec.type is FieldType.TABLE or not (spec.computed or spec.read_only)) \
        and session.access.field_access(entity.name, name) not in ("hidden", "read_only")


def order_rows(session: Session, entity: Entity, made: MadeFrom, form: Any, posted: Any) -> None:
    """Put the posted rows in the mapping's order (rows the user added last), as the saved record will have them,
    so that every problem is shown at the row it is about. `posted` is a widgets.Posted, changed in place."""
    made.draft = session.draft_from(entity.name, made.source, made.source_id)
    table = made.table
    if not table:
        return
    position = {row.get("made_from_line"): index for index, row in enumerate(made.draft.get(table) or [])}
    rows = posted.values.get(table) or []
    origins: list[int | None] = [None] * len(rows)
    for index, new_index in posted.row_paths.get(table, {}).items():
        raw = form.get(f"{table}[{index}].{SOURCE_LINE}")
        origins[new_index] = whole_number(raw)
    order = sorted(range(len(rows)), key=lambda i: (0, position[origins[i]], i) if origins[i] in position
                   else (1, 0, i))
    moved = {old: new for new, old in enumerate(order)}
    posted.values[table] = [rows[old] for old in order]
    made.lines = [origins[old] for old in order]
    made.stale = [f"{table}[{moved[old]}]" for old in order if origins[old] is not None
                  and origins[old] not in position]
    pattern = re.compile(rf"^{re.escape(table)}\[(\d+)\]")

    def renumber(path: str) -> str:
        return pattern.sub(lambda found: f"{table}[{moved.get(int(found.group(1)), int(found.group(1)))}]", path)

    posted.texts = {renumber(path): text for path, text in posted.texts.items()}
    posted.links = [replace(link, path=renumber(link.path)) for link in posted.links]
    posted.row_paths[table] = {index: moved[new] for index, new in posted.row_paths.get(table, {}).items()}


def make_draft(session: Session, entity: Entity, made: MadeFrom, values: Mapping[str, Any]) -> Record:
    """Save the new document through the service layer's make from: the user's values fill in the mapping,
    mapped rows by position (one the user removed is left out), the rows the user added after them."""
    if made.stale:
        raise ValidationFailed([FieldProblem(path, Message("this line of {source} has nothing left to take further "
                                                           "(taken meanwhile); remove it", source=made.source))
                                for path in made.stale])
    given = dict(values)
    if made.table:
        position = {row.get("made_from_line"): index for index, row in enumerate(made.draft.get(made.table) or [])}
        mapped: list[dict[str, Any] | None] = [None] * len(position)
        added = []
        for row, line in zip(given.pop(made.table, []), made.lines, strict=True):
            if line is None:
                added.append(row)
            else:
                mapped[position[line]] = row
        given[made.table] = mapped + added
    return session.make_from(entity.name, made.source, made.source_id, given)


def routes() -> list[BaseRoute]:
    base = "/e/{entity}/{record_id:int}"
    return [
        Route(base + "/submit", submit, methods=["POST"]),
        Route(base + "/cancel", cancel, methods=["POST"]),
        Route(base + "/amend", amend, methods=["POST"]),
        Route(base + "/delete", delete, methods=["POST"]),
        Route(base + "/do/{action}", transition, methods=["POST"]),
        Route(base + "/make/{target}", make, methods=["POST"]),
        Route(base + "/history", history, methods=["GET"]),  # engine/web/history.py
    ]
