"""The inbox page `/inbox`: the documents waiting for the user's action, with the actions they may take there,
and the messages jxc sent them (alerts), which they mark read.

Both come from the service layer: `Session.inbox()` (engine.workflow: one query per workflow, the user's
roles, row rules and guards applied) and engine.notify.inbox (a user only ever sees their own messages). An
action is taken through `Session.transition` with the version the page showed, so an order changed meanwhile
is refused (409) rather than approved unseen; a refusal is shown on the page with its reason.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from engine.context import CurrentUser
from engine.errors import NotFound, ServiceError
from engine.notify import inbox as notify_inbox
from engine.web.context import (
    NavGroup,
    NavItem,
    gettext,
    refusal_text,
    render,
    require_user,
    service,
    translate,
    web_state,
)
from engine.web.context import label as label_of

FLASH = "jxc_inbox_done"  # the session key of the message shown once after an action


async def inbox_page(request: Request) -> Response:
    done = request.session.pop(FLASH, None) if "session" in request.scope else None
    return _page(request, done=done)


def _page(request: Request, *, error: str | None = None, done: str | None = None, status: int = 200) -> Response:
    session = service(request)
    records = web_state(request).started.records
    waiting = []
    for item in session.inbox():
        try:  # the version the action will be taken on: a change after this page was drawn is refused
            version = session.get(item["entity"], item["id"])["version"]
        except NotFound:  # gone between the two reads
            continue
        waiting.append({**item, "title": translate(request, item["title"]), "version": version,
                        "url": f"/e/{item['entity']}/{item['id']}"})
    messages = [{**message, "url": record_link(message.get("link"))}
                for message in notify_inbox.messages(records, session.user)]
    return render(request, "inbox.html", status=status, waiting=waiting, messages=messages, error=error, done=done,
                  unread=sum(1 for message in messages if message["read_at"] is None))


async def take_action(request: Request) -> Response:
    session = service(request)
    form = await request.form()
    entity, action = str(form.get("entity", "")), str(form.get("action", ""))
    try:
        record_id, version = whole(form.get("id")), whole(form.get("version"))
    except ValueError:
        return _page(request, error=gettext(request, "The request cannot be used"), status=400)
    comment = str(form.get("comment", "")).strip() or None
    try:
        record = session.transition(entity, record_id, action, version=version, comment=comment)
    except ServiceError as refusal:  # not allowed, changed meanwhile, a comment or a field missing...
        return _page(request, error=refusal_text(request, refusal), status=refusal.status)
    label = _action_label(request, entity, action)
    title = record.get("doc_no") or f"#{record_id}"
    request.session[FLASH] = gettext(request, "Done: %(action)s, %(title)s.") % {"action": label, "title": title}
    return RedirectResponse("/inbox", status_code=303)


def _action_label(request: Request, entity: str, action: str) -> str:
    """The action's label in the workflow of `entity`."""
    for workflow in web_state(request).started.app.workflows.values():
        if workflow.entity == entity:
            for step in workflow.transitions:
                if step.action == action:
                    return label_of(request, step.label)
    return action


async def mark_read(request: Request) -> Response:
    user = require_user(request)
    form = await request.form()
    records = web_state(request).started.records
    ids: list[int] | None = None
    if "id" in form:
        try:
            ids = [whole(value) for value in form.getlist("id")]
        except ValueError:
            return _page(request, error=gettext(request, "The request cannot be used"), status=400)
    count = notify_inbox.mark_read(records, user, ids)
    request.session[FLASH] = gettext(request, "%(count)d messages marked read.") % {"count": count}
    return RedirectResponse("/inbox", status_code=303)


def whole(value: Any) -> int:
    """An id or a version from a form: a whole number a database column holds (else ValueError)."""
    number = int(str(value if value is not None else "").strip())
    if not 0 < number < 2 ** 63:
        raise ValueError(f"{number} is not an id")
    return number


def record_link(link: str | None) -> str | None:
    """Where a message's link leads in the web UI: a record's page, or another page of this site. Links to
    other sites (or javascript:) are not followed from the inbox."""
    if not link:
        return None
    return link if link.startswith("/") and not link.startswith("//") else None


def navigation(request: Request, user: CurrentUser) -> list[NavGroup]:
    records = web_state(request).started.records
    unread = notify_inbox.unread_count(records, user) if user.id is not None else 0
    title = gettext(request, "Inbox")
    return [NavGroup(title, [NavItem(f"{title} ({unread})" if unread else title, "/inbox", "inbox")])]


def routes() -> list[BaseRoute]:
    return [
        Route("/inbox", inbox_page, methods=["GET"]),
        Route("/inbox/act", take_action, methods=["POST"]),
        Route("/inbox/read", mark_read, methods=["POST"]),
    ]


__all__ = ["navigation", "record_link", "routes"]
