"""The print view: `/e/<entity>/<id>/print` (the entity's default print format, else jxc's own layout) and
`/e/<entity>/<id>/print/<format>`.

A print format's template (from the app's YAML) is rendered in the sandbox its check compiled it in, with `doc`
(the record as the user may see it, links as the linked records: `doc.customer.name`, rows under their table
name), `qr` (the document number as a QR code, inline SVG), `app` and `entity` (name and title or label) and
`printed_at`. Print CSS comes from the
template; jxc's layout (templates/print.html) sets the paper size of the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import segno
from jinja2 import TemplateError
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from dsl.build.printing import print_environment
from dsl.model import Entity, FieldType, PrintFormat
from engine.errors import NotFound, ServiceError
from engine.messages import Message
from engine.records import Session
from engine.web.context import language, render, service
from engine.web.formview import links_of
from engine.web.i18n import label_locale
from engine.web.widgets import display_text, title_of

_CHUNK = 100


def qr_svg(text: str) -> Markup:
    """`text` as a QR code, inline SVG (no image file, prints sharp at any size)."""
    return Markup(segno.make(text, error="m").svg_inline(scale=3, title=text))


def linked_records(session: Session, entity: Entity, record: Mapping[str, Any]) -> dict[tuple[str, int], Any]:
    """The records the document's links (and its rows' links) point at, as the user may read them."""
    found: dict[tuple[str, int], Any] = {}
    for target, ids in links_of(session.app, entity, record).items():
        if not session.access.allowed(session.app.entities[target], "read"):
            continue
        ordered = sorted(ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start:start + _CHUNK]
            page = session.list(target, filter=" OR ".join(f"id = {key}" for key in chunk), limit=len(chunk))
            found.update({(target, row["id"]): row for row in page.rows})
    return found


def printable(session: Session, entity: Entity, record: Mapping[str, Any],
              linked: Mapping[tuple[str, int], Any]) -> dict[str, Any]:
    """The record for a template: each link replaced by the linked record (a mapping; its id if unreadable)."""
    result = dict(record)
    for name, spec in entity.fields.items():
        value = record.get(name)
        if spec.type is FieldType.LINK and value is not None:
            target = str(spec.link)
            result[name] = [linked.get((target, key), key) for key in value] if isinstance(value, list) \
                else linked.get((target, value), value)
        elif spec.type is FieldType.TABLE:
            child = session.app.entities[spec.table or ""]
            result[name] = [printable(session, child, row, linked) for row in value or ()]
    return result


def _format(session: Session, entity: Entity, name: str | None) -> PrintFormat | None:
    formats = {key: fmt for key, fmt in session.app.print_formats.items() if fmt.entity == entity.name}
    if name is None:
        return next((fmt for fmt in formats.values() if fmt.default), None)
    if name not in formats:
        raise NotFound(Message("{entity} has no print format '{name}'; it has: {formats}", entity=entity.name,
                               name=name, formats=", ".join(formats) or Message("none")))
    return formats[name]


def print_page(request: Request, session: Session, entity_name: str, record_id: int, format_name: str | None
               ) -> Response:
    entity = session.records.entity(entity_name)
    record = session.get(entity.name, record_id)
    fmt = _format(session, entity, format_name)
    linked = linked_records(session, entity, record)
    number = record.get("doc_no") or title_of(entity, record)
    locale = label_locale(language(request))
    qr = qr_svg(str(number))
    printed_at = session.records.clock.now()
    if fmt is not None:
        doc = printable(session, entity, record, linked)
        try:
            template = print_environment().from_string(fmt.template_source)
            html = template.render(doc=doc, qr=qr, printed_at=printed_at, app={
                "name": session.app.name, "title": session.app.title.get(locale)},
                entity={"name": entity.name, "label": entity.label.get(locale)})  # data only, not the model
        except Exception as error:  # the app author's template failed on this record's data: say so, not a trace
            what = str(error) if isinstance(error, TemplateError) else f"{type(error).__name__}: {error}"
            raise ServiceError(Message("print format {name} ({template}) cannot print this record: {error}",
                                       name=fmt.name, template=fmt.template, error=what)) from None
        return HTMLResponse(html)
    titles = {key: title_of(session.app.entities[key[0]], row) for key, row in linked.items()}
    fields, tables = _layout(session, entity, record, titles, locale)
    return render(request, "print.html", entity=entity, record=record, number=number, qr=qr, fields=fields,
                  tables=tables, paper="A4", printed_at=printed_at)


def _layout(session: Session, entity: Entity, record: Mapping[str, Any], titles: Mapping[tuple[str, int], str],
            locale: str) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """jxc's own print layout: the filled-in fields as label/value pairs, then each table."""
    fields = []
    tables = []
    for name, spec in entity.fields.items():
        if name not in record:
            continue  # hidden from this user
        if spec.type is FieldType.TABLE:
            child = session.app.entities[spec.table or ""]
            columns = [f for n, f in child.fields.items() if any(n in row for row in record[name] or ())]
            rows = [[(display_text(f, row.get(f.name), locale, titles), f.is_numeric) for f in columns]
                    for row in record[name] or ()]
            tables.append({"label": spec.label.get(locale) or name,
                           "columns": [(f.label.get(locale) or f.name, f.is_numeric) for f in columns],
                           "rows": rows})
            continue
        shown = display_text(spec, record.get(name), locale, titles)
        if shown:
            fields.append((spec.label.get(locale) or name, shown))
    return fields, tables


async def print_view(request: Request) -> Response:
    session = service(request)
    return await run_in_threadpool(print_page, request, session, request.path_params["entity"],
                                   int(request.path_params["record_id"]), request.path_params.get("format"))


def routes() -> list[BaseRoute]:
    return [
        Route("/e/{entity}/{record_id:int}/print", print_view, methods=["GET"]),
        Route("/e/{entity}/{record_id:int}/print/{format}", print_view, methods=["GET"]),
    ]

