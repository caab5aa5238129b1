"""Form views: `/e/<entity>/new` and `/e/<entity>/<id>`, generated from the model, saved through the service layer.

A form works without JavaScript (post, then the record is shown again, or the form with every problem next to
its field). With engine/web/static/form.js it also recomputes while the user types: the draft is posted to
`/e/<entity>/compute` (or `/e/<entity>/<id>/compute`), which runs `Session.preview`, the very steps of a save
without the write, and answers the computed values, the problems by field and the fields that visible_if hides
or required_if requires now. Link fields search as the user types through `/lookup/<entity>?q=`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dsl.model import Entity, EntityKind, Field, FieldType
from engine.errors import Conflict, FieldProblem, NotFound, ServiceError, ValidationFailed
from engine.records import Session
from engine.web import documents
from engine.web.context import label, language, render, service
from engine.web.i18n import label_locale
from engine.web.widgets import (
    TEXT_SUFFIX,
    Posted,
    display_text,
    input_text,
    read_form,
    template_of,
    title_of,
)

LOOKUP_LIMIT = 20
_TITLE_CHUNK = 100  # ids per query when naming linked records


# --- what a template draws ------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One field of the form (top-level or in a row), ready to draw."""

    path: str
    field: Field
    label: str
    text: str  # what its input holds
    shown: str  # how it reads when not editable
    editable: bool
    required: bool = False
    hidden: bool = False  # visible_if does not hold
    errors: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    lookup: str = ""  # links: where to search
    chosen: list[tuple[int, str]] = field(default_factory=list)  # links: (id, title) of what is chosen
    help: str = ""

    @property
    def template(self) -> str:
        return template_of(self.field)

    @property
    def computed(self) -> bool:
        return self.field.computed

    @property
    def numeric(self) -> bool:
        return self.field.is_numeric


@dataclass
class Row:
    index: int | str
    id: int | None
    cells: list[Cell]
    errors: list[str] = field(default_factory=list)


@dataclass
class Table:
    name: str
    label: str
    columns: list[Cell]  # the cells of a blank row: headers, and the row form.js adds
    rows: list[Row]
    editable: bool
    required: bool
    errors: list[str] = field(default_factory=list)
    spare: Row | None = None  # a blank row to fill in without JavaScript


@dataclass
class FormView:
    entity: Entity
    record: Mapping[str, Any]
    new: bool
    editable: bool
    cells: list[Cell]
    tables: list[Table]
    errors: list[str]  # problems of the whole record
    title: str
    action: str
    compute_url: str
    buttons: Any = None  # documents.Buttons
    message: str = ""
    version: int = 0  # optimistic locking: the version the user opened
    state: str = ""  # the workflow's state, as the user reads it
    status: str = ""  # the document's status, as the user reads it


# --- building a view ---------------------------------------------------------------------------------------------


class LinkTitles:
    """Titles of linked records, fetched once per target entity through the service layer (so a record the
    user may not read shows as its id only)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.titles: dict[tuple[str, int], str] = {}

    def fetch(self, wanted: Mapping[str, set[int]]) -> dict[tuple[str, int], str]:
        for target, ids in wanted.items():
            entity = self.session.app.entities[target]
            missing = sorted(key for key in ids if (target, key) not in self.titles)
            if not missing or not self.session.access.allowed(entity, "read"):
                continue
            for start in range(0, len(missing), _TITLE_CHUNK):
                chunk = missing[start:start + _TITLE_CHUNK]
                page = self.session.list(target, filter=" OR ".join(f"id = {key}" for key in chunk),
                                         limit=len(chunk))
                for row in page.rows:
                    self.titles[(target, row["id"])] = title_of(entity, row)
        return self.titles


def links_of(app: Any, entity: Entity, record: Mapping[str, Any]) -> dict[str, set[int]]:
    """The ids each link of the record (and of its rows) points at, by target entity."""
    wanted: dict[str, set[int]] = {}

    def collect(owner: Entity, row: Mapping[str, Any]) -> None:
        for name, spec in owner.fields.items():
            value = row.get(name)
            if spec.type is FieldType.LINK and value not in (None, []):
                for key in value if isinstance(value, list) else [value]:
                    if isinstance(key, int):
                        wanted.setdefault(str(spec.link), set()).add(key)
            elif spec.type is FieldType.TABLE:
                for child_row in value or ():
                    collect(app.entities[spec.table or ""], child_row)

    collect(entity, record)
    return wanted


def editable_record(session: Session, entity: Entity, record: Mapping[str, Any], new: bool) -> bool:
    if new:
        return session.access.allowed(entity, "create")
    if entity.is_document and record.get("docstatus") != "draft":
        return False
    return session.access.allowed(entity, "write")


def build_view(request: Request, session: Session, entity: Entity, record: Mapping[str, Any], *, new: bool,
               problems: Iterable[FieldProblem] = (), texts: Mapping[str, str] | None = None,
               hidden: frozenset[str] = frozenset(), required: frozenset[str] | None = None,
               message: str = "") -> FormView:
    """The form of `record`; after a refused post, `texts` are what the user typed and `problems` why."""
    app = session.app
    locale = label_locale(language(request))
    editable = editable_record(session, entity, record, new)
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.field, []).append(problem.message)
    titles = LinkTitles(session).fetch(links_of(app, entity, record))
    texts = texts or {}
    state_field = session.records.workflows.state_field(entity)

    def cell(owner: Entity, spec: Field, path: str, row: Mapping[str, Any], row_editable: bool) -> Cell:
        value = row.get(spec.name)
        access = session.access.field_access(owner.name, spec.name)
        may_edit = row_editable and not spec.computed and not spec.read_only and access != "read_only" \
            and spec.name != state_field
        shown = display_text(spec, value, locale, titles)
        text = texts.get(path, input_text(spec, value))
        chosen: list[tuple[int, str]] = []
        if spec.type is FieldType.LINK:
            ids = value if isinstance(value, list) else ([value] if isinstance(value, int) else [])
            chosen = [(key, titles.get((str(spec.link), key), f"#{key}")) for key in ids]
            text = texts.get(path + TEXT_SUFFIX, ", ".join(title for _, title in chosen) if not spec.many else "")
        is_required = path in required if required is not None else spec.required
        return Cell(path=path, field=spec, label=spec.label.get(locale) or spec.name, text=text, shown=shown,
                    editable=may_edit, required=is_required, hidden=path in hidden or (
                        not may_edit and spec.visible_if is not None and shown == ""),
                    errors=errors.get(path, []),
                    options=[(choice.value, choice.label.get(locale) or choice.value) for choice in spec.options],
                    lookup=f"/lookup/{spec.link}" if spec.link else "", chosen=chosen,
                    help=spec.help.get(locale) if spec.help else "")

    cells: list[Cell] = []
    tables: list[Table] = []
    for name, spec in entity.fields.items():
        if session.access.field_access(entity.name, name) == "hidden":
            continue
        if spec.type is not FieldType.TABLE:
            cells.append(cell(entity, spec, name, record, editable))
            continue
        child = app.entities[spec.table or ""]
        shown_fields = [f for n, f in child.fields.items() if session.access.field_access(child.name, n) != "hidden"]
        rows = []
        for index, row in enumerate(record.get(name) or ()):
            path = f"{name}[{index}]"
            rows.append(Row(index, row.get("id"), [cell(child, f, f"{path}.{f.name}", row, editable)
                                                    for f in shown_fields], errors.get(path, [])))
        columns = [cell(child, f, f"{name}[__i__].{f.name}", {}, editable) for f in shown_fields]
        spare = None
        if editable:
            spare_index = len(rows)
            spare = Row(spare_index, None, [cell(child, f, f"{name}[{spare_index}].{f.name}", {}, editable)
                                            for f in shown_fields])
        tables.append(Table(name, spec.label.get(locale) or name, columns, rows, editable,
                            name in required if required is not None else spec.required,
                            errors.get(name, []), spare))
    known = {c.path for c in cells} | {t.name for t in tables}
    known |= {c.path for t in tables for r in t.rows for c in r.cells} | {f"{t.name}[{r.index}]" for t in tables
                                                                         for r in t.rows}
    record_errors = [message for path, messages in errors.items() if path not in known for message in
                     (messages if path == "" else [f"{path}: {m}" for m in messages])]
    base = f"/e/{entity.name}"
    view = FormView(entity=entity, record=record, new=new, editable=editable, cells=cells, tables=tables,
                    errors=record_errors, title=entity.label.get(locale) or entity.name,
                    action=f"{base}/new" if new else f"{base}/{record['id']}",
                    compute_url=f"{base}/compute" if new else f"{base}/{record['id']}/compute", message=message,
                    version=record.get("version") or 0)
    if not new:
        named = record.get("doc_no") or not entity.is_document
        view.title = f"{view.title} {title_of(entity, record) if named else _draft_title(request, record)}"
        view.buttons = documents.buttons(session, entity, record, locale)
        for step in view.buttons.transitions:  # the fields a transition requires that are still blank
            step.cells = [cell(entity, entity.fields[name], name, record, True) for name in step.missing
                          if name in entity.fields]
        plan = session.records.workflows.of(entity)
        if plan is not None:
            state = plan.workflow.states.get(record.get(plan.field) or "")
            view.state = state.label.get(locale) if state else str(record.get(plan.field) or "")
        if entity.is_document:
            view.status = documents.status_label(request, record.get("docstatus"))
    return view


def _draft_title(request: Request, record: Mapping[str, Any]) -> str:
    from engine.web.context import gettext

    return gettext(request, "draft") + f" #{record['id']}"


# --- pages --------------------------------------------------------------------------------------------------------


def _entity(session: Session, name: str) -> Entity:
    entity = session.records.entity(name)  # NotFound for unknown names and rows' entities
    if entity.kind is EntityKind.CHILD:
        raise NotFound(f"there is no entity '{name}'")
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
    return await run_in_threadpool(_save, request, session, entity, posted, None, None)


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
    if isinstance(text, str) and text.isdigit():
        return int(text)
    return -1  # refused by the service layer as a stale version, with its message


def _editable_fields(session: Session, entity: Entity, record: Mapping[str, Any] | None) -> list[str]:
    state_field = session.records.workflows.state_field(entity)
    return [name for name, spec in entity.fields.items() if not spec.computed and not spec.read_only
            and name != state_field and session.access.field_access(entity.name, name) not in ("hidden", "read_only")]


def _save(request: Request, session: Session, entity: Entity, posted: Posted, record_id: int | None,
          version: int | None) -> Response:
    link_problems = resolve_links(session, posted)
    try:
        if link_problems:
            raise ValidationFailed(link_problems)
        if record_id is None:
            saved = session.create(entity.name, posted.values)
        else:
            assert version is not None
            saved = session.update(entity.name, record_id, posted.values, version=version)
    except ValidationFailed as failed:
        return _refused(request, session, entity, posted, record_id, version, list(failed.problems), "")
    except Conflict as conflict:
        return _refused(request, session, entity, posted, record_id, version, [], conflict.message, status=409)
    except ServiceError as error:  # the record may no longer be changed (submitted meanwhile), or not by this user
        if record_id is None:
            raise
        return record_page(request, entity.name, record_id, status=error.status, message=error.message)
    return RedirectResponse(f"/e/{entity.name}/{saved['id']}", status_code=303)


def _refused(request: Request, session: Session, entity: Entity, posted: Posted, record_id: int | None,
             version: int | None, problems: list[FieldProblem], message: str, status: int = 422) -> Response:
    """The form again, as the user typed it, with every problem next to its field."""
    try:
        preview = session.preview(entity.name, posted.values, record_id=record_id)
    except ValidationFailed as failed:  # values that are not even field: value pairs
        problems += list(failed.problems)
        preview = session.preview(entity.name, {}, record_id=record_id)
    view = build_view(request, session, entity, preview.record, new=record_id is None, problems=problems,
                      texts=posted.texts, hidden=preview.hidden, required=preview.required, message=message)
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
        if not link.many and isinstance(current, str) and current.isdigit():
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
            problems.append(FieldProblem(link.path, f"no {target.label.get(session.app.locale)} matches "
                                                    f"'{link.text}'"))
        else:
            names = "、".join(title_of(target, row) for row in found[:5])
            problems.append(FieldProblem(link.path, f"'{link.text}' matches several: {names}; choose one"))
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
            errors.setdefault(problem.field, []).append(problem.message)
        return {"values": values, "errors": errors, "hidden": sorted(preview.hidden),
                "required": sorted(preview.required),
                "rows": {table: {str(k): v for k, v in paths.items()} for table, paths in posted.row_paths.items()}}

    try:
        return JSONResponse(await run_in_threadpool(run))
    except ServiceError as error:
        return JSONResponse({"detail": error.message}, status_code=error.status)


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
        return JSONResponse({"detail": error.message}, status_code=error.status)


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
