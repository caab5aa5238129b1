"""List views: `/e/<entity>` for every entity the user may read, and its export to CSV and XLSX.

Columns are the entity's declared `list:` (else its number, key, title and first fields), without the fields
the user may not see. Search (`q`) runs over the entity's `search:` fields, the filter (`filter`) is a formula
run as SQL by the service layer (engine.query), `sort` names a column (`-price`: descending), and pages are
keyset pages: `after` is the cursor of the page, `trail` the cursors of the pages before it (for "previous").
A bad filter, sort or cursor shows its located message above an empty list, never an error page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dsl.model import Entity, EntityKind, Field, FieldType
from engine.errors import InvalidQuery
from engine.messages import Message
from engine.query import MAX_PAGE
from engine.records import Session
from engine.web import export
from engine.web.context import gettext, label, language, render, service, translate
from engine.web.i18n import label_locale

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000  # rows in one export; a bigger one is refused with a message (narrow it with a filter)
MAX_TRAIL = 200  # pages "previous" can walk back through
DOCSTATUS = {"draft": ("Draft", "草稿"), "submitted": ("Submitted", "已提交"), "cancelled": ("Cancelled", "已取消")}
_NUMERIC = (FieldType.INT, FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT)
_DEFAULT_SKIP = (FieldType.TABLE, FieldType.TEXT, FieldType.ATTACHMENT)


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    field: Field | None  # None: a system column (doc_no, docstatus)
    numeric: bool = False


@dataclass(frozen=True)
class ListQuery:
    """What the user asked for, from the URL."""

    q: str = ""
    filter: str = ""
    sort: str = ""
    after: str = ""
    trail: tuple[str, ...] = ()
    size: int = PAGE_SIZE

    @classmethod
    def from_request(cls, request: Request) -> ListQuery:
        params = request.query_params
        try:
            size = int(params.get("size", PAGE_SIZE))
        except ValueError:
            size = PAGE_SIZE
        trail = tuple(t for t in params.get("trail", "").split(",") if t)[-MAX_TRAIL:]
        return cls(q=params.get("q", "").strip(), filter=params.get("filter", "").strip(),
                   sort=params.get("sort", "").strip(), after=params.get("after", "").strip(), trail=trail,
                   size=min(max(size, 1), MAX_PAGE))

    def url(self, base: str, **changes: Any) -> str:
        values = {"q": self.q, "filter": self.filter, "sort": self.sort, "after": self.after,
                  "trail": ",".join(self.trail), "size": "" if self.size == PAGE_SIZE else str(self.size)}
        values.update({key: value for key, value in changes.items()})
        kept = {key: value for key, value in values.items() if value}
        return base + ("?" + urlencode(kept) if kept else "")

    def options(self) -> dict[str, Any]:
        return {"search": self.q or None, "filter": self.filter or None, "sort": self.sort or None}


def entity_of(session: Session, name: str) -> Entity:
    """The entity of the URL; an unknown one is a 404, one the user may not read a 403 (both pages)."""
    entity = session.app.entities.get(name)
    if entity is None or entity.kind is EntityKind.CHILD:
        raise HTTPException(404)
    session.access.require(entity, "read")
    return entity


def columns(session: Session, entity: Entity, lang: str) -> list[Column]:
    locale = label_locale(lang)
    names = list(entity.list_columns)
    if not names:
        names = [n for n in ("doc_no", entity.key, entity.title) if n]
        names += [n for n, f in entity.fields.items() if f.type not in _DEFAULT_SKIP and not f.many][:6]
        names = list(dict.fromkeys(names))[:7]
    if entity.is_document and "docstatus" not in names:
        names.append("docstatus")
    result = []
    for name in names:
        field = entity.fields.get(name)
        if field is None:
            title = {"doc_no": ("No.", "单号"), "docstatus": ("Status", "状态")}.get(name, (name, name))
            result.append(Column(name, title[0] if locale.startswith("en") else title[1], None))
        elif session.access.field_access(entity.name, name) != "hidden" and not field.many \
                and field.type is not FieldType.TABLE:
            result.append(Column(name, field.label.get(locale) or name, field, field.type in _NUMERIC))
    return result


def link_titles(session: Session, entity: Entity, cols: Sequence[Column], rows: Sequence[Mapping[str, Any]]
                ) -> dict[tuple[str, int], str]:
    """The titles of the records the link columns point to (one query per linked entity); "#id" stays for
    records of entities the user may not read."""
    wanted: dict[str, set[int]] = {}
    for column in cols:
        if column.field is not None and column.field.type is FieldType.LINK and column.field.link:
            ids = {row[column.name] for row in rows if isinstance(row.get(column.name), int)}
            wanted.setdefault(column.field.link, set()).update(ids)
    titles: dict[tuple[str, int], str] = {}
    schema = session.records.schema
    for target_name, ids in wanted.items():
        target = session.app.entities.get(target_name)
        if not ids or target is None or not session.access.allowed(target, "read"):
            continue
        shown = next((n for n in (target.title, target.key, "doc_no") if n and n in schema.tables[target_name].c
                      and (n == "doc_no" or session.access.field_access(target_name, n) != "hidden")), None)
        if shown is None:
            continue
        table = schema.tables[target_name]
        with session.records.engine.connect() as connection:
            for key, title in connection.execute(select(table.c.id, table.c[shown]).where(table.c.id.in_(ids))):
                if title is not None:
                    titles[(target_name, key)] = str(title)
    return titles


def cell_value(column: Column, value: Any, locale: str, titles: Mapping[tuple[str, int], str]) -> Any:
    """A value as a spreadsheet should hold it: numbers stay numbers, choices and links become their text."""
    if value is None:
        return None
    field = column.field
    if field is None:
        if column.name == "docstatus" and value in DOCSTATUS:
            return DOCSTATUS[value][0 if locale.startswith("en") else 1]
        return value
    if field.type is FieldType.CHOICE:
        return next((c.label.get(locale) or c.value for c in field.options if c.value == value), value)
    if field.type is FieldType.LINK:
        return titles.get((str(field.link), value), f"#{value}")
    return value


def cell_text(column: Column, value: Any, locale: str, titles: Mapping[tuple[str, int], str]) -> str:
    """A value as the list page shows it."""
    shown = cell_value(column, value, locale, titles)
    if shown is None:
        return ""
    kind = column.field.type if column.field is not None else None
    if isinstance(shown, bool):
        return ("Yes" if shown else "No") if locale.startswith("en") else ("是" if shown else "否")
    if kind is FieldType.PERCENT and isinstance(shown, Decimal):
        return format((shown * 100).normalize(), "f") + "%"
    if kind is FieldType.MONEY and isinstance(shown, Decimal):
        return f"{shown:,.2f}" if shown == shown.quantize(Decimal("0.01")) else f"{shown:,f}"
    if isinstance(shown, Decimal | int) and not isinstance(shown, bool):
        return f"{shown:,}" if isinstance(shown, int) else f"{shown:,f}"
    if isinstance(shown, dt.datetime):
        return shown.strftime("%Y-%m-%d %H:%M")
    return str(shown)


def filter_fields(session: Session, entity: Entity, locale: str) -> list[tuple[str, str]]:
    """The names a filter may use, with their labels (the user types names, but knows labels)."""
    fields = [(name, field.label.get(locale) or name) for name, field in entity.fields.items()
              if field.type is not FieldType.TABLE and session.access.field_access(entity.name, name) != "hidden"]
    if entity.is_document:
        fields = [("doc_no", "No." if locale.startswith("en") else "单号"),
                  ("docstatus", "Status" if locale.startswith("en") else "状态"), *fields]
    return fields


def list_page(request: Request) -> Response:
    session = service(request)
    entity = entity_of(session, request.path_params["entity"])
    lang = language(request)
    locale = label_locale(lang)
    query = ListQuery.from_request(request)
    cols = columns(session, entity, lang)
    base = f"/e/{entity.name}"
    rows: list[dict[str, Any]] = []
    next_cursor = None
    error = ""
    try:
        page = session.list(entity.name, **query.options(), after=query.after or None, limit=query.size)
        rows, next_cursor = page.rows, page.next
    except InvalidQuery as problem:
        error = translate(request, problem.message)
    titles = link_titles(session, entity, cols, rows)
    table = [{"id": row["id"], "url": f"{base}/{row['id']}", "status": row.get("docstatus"),
              "cells": [cell_text(c, row.get(c.name), locale, titles) for c in cols]} for row in rows]
    previous = None
    if query.after:
        previous = query.url(base, after=query.trail[-1] if query.trail else "", trail=",".join(query.trail[:-1]))
    following = None
    if next_cursor:
        following = query.url(base, after=next_cursor, trail=",".join((*query.trail, query.after))
                              if query.after else "")
    sort_links = {c.name: query.url(base, sort=("-" if query.sort == c.name else "") + c.name, after="", trail="")
                  for c in cols}
    return render(request, "list.html", status=400 if error else 200, entity=entity, title=label(request, entity.label),
                  columns=cols, rows=table, query=query, error=error, base=base, previous=previous,
                  following=following, sort_links=sort_links,
                  can_create=session.access.allowed(entity, "create"),
                  export_csv=query.url(f"{base}/export.csv", after="", trail=""),
                  export_xlsx=query.url(f"{base}/export.xlsx", after="", trail=""),
                  filter_help=gettext(request, "A condition in the formula language, e.g. price > 10 AND "
                                               "name <> \"\""),
                  filter_fields=filter_fields(session, entity, locale))


def _all_rows(session: Session, entity: Entity, query: ListQuery) -> Iterator[dict[str, Any]]:
    after = None
    count = 0
    while True:
        page = session.list(entity.name, **query.options(), after=after, limit=MAX_PAGE)
        for row in page.rows:
            count += 1
            if count > EXPORT_LIMIT:
                raise InvalidQuery(Message("an export holds at most {most} records; narrow the list with a filter",
                                           most=EXPORT_LIMIT))
            yield row
        if page.next is None:
            return
        after = page.next


def export_list(request: Request) -> Response:
    session = service(request)
    entity = entity_of(session, request.path_params["entity"])
    kind = request.path_params["kind"]
    if kind not in ("csv", "xlsx"):
        raise HTTPException(404)
    lang = language(request)
    locale = label_locale(lang)
    query = ListQuery.from_request(request)
    cols = columns(session, entity, lang)
    rows = list(_all_rows(session, entity, query))  # a bad filter raises InvalidQuery: a 400 page with its message
    titles = link_titles(session, entity, cols, rows)
    headers = [c.title for c in cols]
    values = ([cell_value(c, row.get(c.name), locale, titles) for c in cols] for row in rows)
    title = entity.label.get(locale) or entity.name
    stamp = session.records.clock.now().strftime("%Y%m%d-%H%M")
    filename = f"{title}-{stamp}.{kind}"
    disposition = f"attachment; filename=\"{entity.name}-{stamp}.{kind}\"; filename*=UTF-8''{quote(filename)}"
    if kind == "csv":
        return Response(export.to_csv(headers, values), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})
    return Response(export.to_xlsx(title, headers, values),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": disposition})


def routes() -> list[BaseRoute]:
    return [
        Route("/e/{entity}", list_page, methods=["GET"]),
        Route("/e/{entity}/export.{kind}", export_list, methods=["GET"]),
    ]
