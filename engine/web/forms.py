"""Form views: `/e/<entity>/new` and `/e/<entity>/<id>`, generated from the model, saved through the service layer.

A form works without JavaScript (post, then the record is shown again, or the form with every problem next to
its field). With engine/web/static/form.js it also recomputes while the user types: the draft is posted to
`/e/<entity>/compute` (or `/e/<entity>/<id>/compute`), which runs `Session.preview`, the very steps of a save
without the write, and answers the computed values, the problems by field and the fields that visible_if hides
or required_if requires now. Link fields search as the user types through `/lookup/<entity>?q=`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dsl.model import Entity, EntityKind, FieldType
from engine.errors import Conflict, FieldProblem, NotFound, ServiceError, ValidationFailed
from engine.messages import Message
from engine.records import Session
from engine.web import documents
from engine.web.context import label, language, render, service, translate, whole_number
from engine.web.formview import FormView, LinkTitles, build_view, editable_record, links_of
from engine.web.i18n import label_locale
from engine.web.widgets import (
    Posted,
    display_text,
    input_text,
    read_form,
    title_of,
)

LOOKUP_LIMIT = 20


# --- pages --------------------------------------------------------------------------------------------------------


def _entity(session: Session, name: str) -> Entity:
    entity = session.records.entity(name)  # NotFound for unknown names and rows' entities
    if entity.kind is EntityKind.CHILD:
        raise NotFound(Message("there is no entity '{name}'", name=name))
    return entity


def _record_id(request: Request) -> int:
    return int(request.path_params["record_id"])


def form_page(request: Request, view: FormView, status: int = 200) -> Response:
    return render(request, "form.html", status=status, view=view, label_of=lambda x: label(request, x))


def record_page(request: Request, entity_name: str, record_id: int, *, status: int = 200, message: str = "",
                problems: Iterable[FieldProblem] = ()) -> Response:
    """The form of a saved record; a refused action shows its message (and its problems by field)."""
    session = service(request)
    entity = _entity(session, entity_name)
    record = session.get(entity.name, record_id)
    view = build_view(request, session, entity, record, new=False, problems=problems, message=message,
                      **_conditions(session, entity, record))
    return form_page(request, view, status)


def _conditions(session: Session, entity: Entity, record: Mapping[str, Any]) -> dict[str, Any]:
    """visible_if and required_if of a record the user may edit, evaluated by the server."""
    if not editable_record(session, entity, record, False):
        return {}
    preview = session.preview(entity.name, {}, record_id=record["id"])
    return {"hidden": preview.hidden, "required": preview.required}


async def new_form(request: Request) -> Response:
    session = service(request)

    def run() -> Response:  # in a worker thread: the database is not waited for on the event loop
        entity = _entity(session, request.path_params["entity"])
        session.access.require(entity, "create")
        made = documents.made_from_of(entity, request.query_params.get("from"), request.query_params.get("from_id"))
        if made is not None:  # 生成入库单: the mapping's values, the rest left to the user
            record, preview = documents.prefill(session, entity, made)
            view = build_view(request, session, entity, record, new=True, hidden=preview.hidden,
                              required=preview.required, made=made)
            return form_page(request, view)
        preview = session.preview(entity.name, {})  # defaults, as a save would set them
        view = build_view(request, session, entity, preview.record, new=True, hidden=preview.hidden,
                          required=preview.required)
        return form_page(request, view)

    return await run_in_threadpool(run)


async def show_record(request: Request) -> Response:
    return await run_in_threadpool(record_page, request, request.path_params["entity"], _record_id(request))


async def create_record(request: Request) -> Response:
    session = service(request)
    entity = _entity(session, request.path_params["entity"])
    session.access.require(entity, "create")
    form = await request.form()
    posted = read_form(session.app, entity, form, _editable_fields(session, entity, None), creating=True)
    made = documents.made_from_of(entity, form.get("made_from_entity"), form.get("made_from_id"))
    if made is not None:
        return await run_in_threadpool(_save_made, request, session, entity, posted, made, form)
    submit = form.get("then") == "submit"  # 保存并提交: both in one transaction, or neither
    return await run_in_threadpool(_save, request, session, entity, posted, None, None, submit)


async def update_record(request: Request) -> Response:
    session = service(request)
    entity = _entity(session, request.path_params["entity"])
    record_id = _record_id(request)
    form = await request.form()
    current = await run_in_threadpool(session.get, entity.name, record_id)
    posted = read_form(session.app, entity, form, _editable_fields(session, entity, current))
    version = _version(form.get("version"))
    return await run_in_threadpool(_save, request, session, entity, posted, record_id, version)


def _version(text: Any) -> int:
    found = whole_number(text)
    return -1 if found is None else found  # -1: refused by the service layer as a stale version, with its message


def _editable_fields(session: Session, entity: Entity, record: Mapping[str, Any] | None) -> list[str]:
    state_field = session.records.workflows.state_field(entity)
    return [name for name, spec in entity.fields.items() if not spec.computed and not spec.read_only
            and name != state_field and session.access.field_access(entity.name, name) not in ("hidden", "read_only")]


def _save(request: Request, session: Session, entity: Entity, posted: Posted, record_id: int | None,
          version: int | None, submit: bool = False) -> Response:
    link_problems = resolve_links(session, posted)
    try:
        if link_problems:
            raise ValidationFailed(link_problems)
        if record_id is None:
            saved = session.create(entity.name, posted.values, submit=submit)
        else:
            assert version is not None
            saved = session.update(entity.name, record_id, posted.values, version=version)
    except ValidationFailed as failed:
        return _refused(request, session, entity, posted, record_id, version, list(failed.problems), "")
    except Conflict as conflict:
        return _refused(request, session, entity, posted, record_id, version, [], conflict.message, status=409)
    except ServiceError as error:  # the record may no longer be changed (submitted meanwhile), or not by this user
        if record_id is None:  # e.g. a row rule: the new record would be one the user may not keep
            return _refused(request, session, entity, posted, None, None, [], error.message, status=error.status)
        return record_page(request, entity.name, record_id, status=error.status, message=error.message)
    return RedirectResponse(f"/e/{entity.name}/{saved['id']}", status_code=303)


def _save_made(request: Request, session: Session, entity: Entity, posted: Posted, made: documents.MadeFrom,
               form: Any) -> Response:
    """Save a document made from another (its pre-filled form): through the service layer's make from."""
    try:
        documents.order_rows(session, entity, made, form, posted)
        link_problems = resolve_links(session, posted)
        if link_problems:
            raise ValidationFailed(link_problems)
        saved = documents.make_draft(session, entity, made, posted.values)
    except ValidationFailed as failed:
        return _refused(request, session, entity, posted, None, None, list(failed.problems), "", made=made)
    except ServiceError as error:  # the source was cancelled meanwhile, or everything taken further
        return _refused(request, session, entity, posted, None, None, [], error.message, status=error.status,
                        made=made)
    return RedirectResponse(f"/e/{entity.name}/{saved['id']}", status_code=303)


def _refused(request: Request, session: Session, entity: Entity, posted: Posted, record_id: int | None,
             version: int | None, problems: list[FieldProblem], message: str, status: int = 422,
             made: documents.MadeFrom | None = None) -> Response:
    """The form again, as the user typed it, with every problem next to its field."""
    try:
        preview = session.preview(entity.name, posted.values, record_id=record_id)
    except ValidationFailed as failed:  # values that are not even field: value pairs
        problems += list(failed.problems)
        preview = session.preview(entity.name, {}, record_id=record_id)
    record = preview.record if made is None else documents.shown(session, entity, made, preview.record)
    view = build_view(request, session, entity, record, new=record_id is None, problems=problems,
                      texts=posted.texts, hidden=preview.hidden, required=preview.required, message=message,
                      made=made)
    if version is not None:
        view.version = version  # the version the user opened: a change made since is still caught
    return form_page(request, view, status)


def resolve_links(session: Session, posted: Posted) -> list[FieldProblem]:
    """Links typed as text (a form without JavaScript, or text changed after choosing): the one record the
    text finds, or a problem at that field saying none or several match."""
    problems: list[FieldProblem] = []
    titles = LinkTitles(session)
    for link in posted.links:
        target = session.app.entities[link.target]
        holder, name = _holder(posted.values, link.path)
        if holder is None:
            continue
        current = holder.get(name)
        if not link.many and whole_number(current) is not None:
            known = titles.fetch({link.target: {int(current)}}).get((link.target, int(current)))
            if known == link.text:
                continue  # chosen from the list, text unchanged
        try:
            page = session.list(link.target, search=link.text, limit=LOOKUP_LIMIT)
        except ServiceError as error:
            problems.append(FieldProblem(link.path, error.message))
            continue
        exact = [row for row in page.rows if title_of(target, row) == link.text or link.text in (
            str(row.get(target.key or "")), str(row.get("doc_no") or ""))]
        found = exact if len(exact) == 1 else page.rows
        if len(found) == 1:
            if link.many:
                holder[name] = [*(holder.get(name) or []), found[0]["id"]]
            else:
                holder[name] = found[0]["id"]
        elif not found:
            problems.append(FieldProblem(link.path, Message("no {label} matches '{text}'",
                                                            label=target.label.get(session.app.locale),
                                                            text=link.text)))
        else:
            names = "、".join(title_of(target, row) for row in found[:5])
            problems.append(FieldProblem(link.path, Message("'{text}' matches several: {names}; choose one",
                                                            text=link.text, names=names)))
    return problems


def _holder(values: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    table, _, rest = path.partition("[")
    if not rest:
        return values, path
    index_text, _, name = rest.partition("].")
    rows = values.get(table) or []
    index = int(index_text)
    return (rows[index] if index < len(rows) else None), name


# --- the live round-trip and lookups ---------------------------------------------------------------------------


async def compute(request: Request) -> Response:
    """The draft as the server computes it: values by path, problems by path, fields hidden and required."""
    session = service(request)
    entity = _entity(session, request.path_params["entity"])
    record_id = int(request.path_params["record_id"]) if "record_id" in request.path_params else None
    form = await request.form()

    def run() -> dict[str, Any]:
        current = session.get(entity.name, record_id) if record_id is not None else None
        posted = read_form(session.app, entity, form, _editable_fields(session, entity, current),
                           creating=record_id is None)
        problems = resolve_links(session, posted)
        preview = session.preview(entity.name, posted.values, record_id=record_id)
        problems += list(preview.problems)
        locale = label_locale(language(request))
        titles = LinkTitles(session).fetch(links_of(session.app, entity, preview.record))
        values: dict[str, dict[str, str]] = {}

        def put(owner: Entity, row: Mapping[str, Any], prefix: str) -> None:
            for name, spec in owner.fields.items():
                if spec.type is FieldType.TABLE:
                    child = session.app.entities[spec.table or ""]
                    for index, child_row in enumerate(row.get(name) or ()):
                        put(child, child_row, f"{name}[{index}].")
                elif name in row:
                    values[prefix + name] = {"text": input_text(spec, row[name]),
                                             "shown": display_text(spec, row[name], locale, titles)}

        put(entity, preview.record, "")
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.field, []).append(translate(request, problem.message))
        return {"values": values, "errors": errors, "hidden": sorted(preview.hidden),
                "required": sorted(preview.required),
                "rows": {table: {str(k): v for k, v in paths.items()} for table, paths in posted.row_paths.items()}}

    try:
        return JSONResponse(await run_in_threadpool(run))
    except ServiceError as error:
        return JSONResponse({"detail": translate(request, error.message)}, status_code=error.status)


async def lookup(request: Request) -> Response:
    """Records of an entity matching `q` (its search fields), as id and title, for a link box."""
    session = service(request)
    text = request.query_params.get("q", "").strip()[:200]

    def run() -> list[dict[str, Any]]:
        entity = _entity(session, request.path_params["entity"])
        page = session.list(entity.name, search=text or None, limit=LOOKUP_LIMIT)
        return [{"id": row["id"], "title": title_of(entity, row)} for row in page.rows]

    try:
        return JSONResponse(await run_in_threadpool(run))
    except ServiceError as error:
        return JSONResponse({"detail": translate(request, error.message)}, status_code=error.status)


def routes() -> list[BaseRoute]:
    return [
        Route("/e/{entity}/new", new_form, methods=["GET"]),
        Route("/e/{entity}/new", create_record, methods=["POST"]),
        Route("/e/{entity}/compute", compute, methods=["POST"]),
        Route("/e/{entity}/{record_id:int}", show_record, methods=["GET"]),
        Route("/e/{entity}/{record_id:int}", update_record, methods=["POST"]),
        Route("/e/{entity}/{record_id:int}/compute", compute, methods=["POST"]),
        Route("/lookup/{entity}", lookup, methods=["GET"]),
    ]
