"""Actions on a form: submit, cancel, amend, workflow transitions, make from (采购订单 → 生成收货单), delete
(drafts and master data); their routes include the history page (engine/web/history.py).

A button is shown only when the user may take the action on the record as it is now (the same rules the
service layer applies); an action refused anyway (the record changed meanwhile, a guard, a missing comment)
shows the form again with the service layer's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dsl.model import Entity
from engine.errors import ServiceError, ValidationFailed
from engine.records import Session
from engine.web.context import gettext, language, service
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
    text = form.get("version")
    return int(text) if isinstance(text, str) and text.isdigit() else -1


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
                                     message=gettext(request, "The action was refused:") + " " + failed.message,
                                     problems=failed.problems)
        except ServiceError as error:
            return forms.record_page(request, entity_name, record_id, status=error.status,
                                     message=gettext(request, "The action was refused:") + " " + error.message)
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
    target = request.path_params["target"]

    def work(session: Session, entity: Entity, record_id: int, form: Any) -> str:
        made = session.make_from(target, entity.name, record_id)
        return f"/e/{target}/{made['id']}"

    return await _act(request, work)


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
