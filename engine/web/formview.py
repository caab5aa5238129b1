"""What a record form draws: each field as a cell (its input text, how it reads, problems, whether it is shown
and required now), rows of inline tables, the buttons of the actions the user may take, and the names of
linked records. Built from the model and a record; the pages are in engine/web/forms.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from dsl.model import Entity, Field, FieldType
from engine.errors import FieldProblem
from engine.records import Session
from engine.web import documents
from engine.web.context import gettext, language, translate
from engine.web.i18n import label_locale
from engine.web.widgets import TEXT_SUFFIX, display_text, input_text, template_of, title_of

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
    source_line: int | None = None  # a row of a document being made from another: the line it comes from


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
    save_and_submit: bool = False  # a new document the user may submit directly (no workflow submits it)
    origins: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, url, text): made from, amended from
    state: str = ""  # the workflow's state, as the user reads it
    status: str = ""  # the document's status, as the user reads it
    made: Any = None  # documents.MadeFrom: a new document being made from another (its hidden inputs)


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
               message: str = "", made: Any = None) -> FormView:
    """The form of `record`; after a refused post, `texts` are what the user typed and `problems` why."""
    app = session.app
    locale = label_locale(language(request))
    editable = editable_record(session, entity, record, new)
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.field, []).append(translate(request, problem.message))
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
                                                    for f in shown_fields], errors.get(path, []),
                            row.get("made_from_line") if made is not None else None))
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
                    compute_url=f"{base}/compute" if new else f"{base}/{record['id']}/compute",
                    message=translate(request, message),
                    version=record.get("version") or 0)
    if new and entity.is_document and editable and session.access.allowed(entity, "submit") and made is None:
        plan = session.records.workflows.of(entity)
        view.save_and_submit = plan is None or not plan.into("submit")
    if made is not None:  # saved through make from, then submitted from the saved draft
        view.made = made
        view.origins = _origins(session, entity, record, locale)
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
        view.origins = _origins(session, entity, record, locale)
    return view


def _origins(session: Session, entity: Entity, record: Mapping[str, Any], locale: str) -> list[tuple[str, str, str]]:
    """The document this one was made from (PO → receipt) and the one it amends, as links."""
    found = []
    for kind, source, key in (("made_from", record.get("made_from_entity"), record.get("made_from_id")),
                              ("amended_from", entity.name if record.get("amended_from") else None,
                               record.get("amended_from"))):
        if not source or not isinstance(key, int) or source not in session.app.entities:
            continue
        name = LinkTitles(session).fetch({source: {key}}).get((source, key), f"#{key}")
        found.append((kind, f"/e/{source}/{key}", f"{session.app.entities[source].label.get(locale)} {name}"))
    return found


def _draft_title(request: Request, record: Mapping[str, Any]) -> str:
    return gettext(request, "draft") + f" #{record['id']}"
