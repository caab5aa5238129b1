"""Mobile scan pages under /m: receive goods, pick an order, count stock — at 375 px, with a keyboard-wedge
scanner (it types the code and Enter into the focused input), and offline.

Which documents the pages make comes from the app model, never from per-app code: "receive" makes the first
document whose stock effect brings goods *in* and that is made from a document without stock effects (采购订单
→ 入库单); "pick" the same with goods going *out* (销售订单 → 销售出库单); "count" the stock count. The page's
script (static/mobile.js) builds the requests and sends them through `POST /api/batch`, each with its own
idempotency key, so a queue replayed after a lost answer applies everything exactly once; while offline the
operations wait in IndexedDB (static/offline-queue.js) and the service worker (static/sw.js, served at /sw.js
so that its scope is the whole site) serves the cached pages.

`/m/scan?code=` reads a scanned code through the jxc_scan plugins (GS1: item, batch, dates) and finds the item;
`/m/items` is the item catalogue the page keeps for scanning while offline.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dsl.model import App, Entity, Formula
from engine.context import CurrentUser
from engine.errors import ServiceError
from engine.plugins import scan
from engine.stock.count import COUNT
from engine.web.context import NavGroup, NavItem, gettext, render, service, web_state
from engine.web.context import label as label_of
from engine.web.state import STATIC
from engine.web.widgets import title_of

MODES = ("receive", "pick", "count")
_BARE = re.compile(r"(?:parent\.)?([a-z][a-z0-9_]*)")
_PAGE = 500  # records per read of the catalogue (the service layer's largest page)
TEXTS = {  # what the page's script says, in the user's language
    "pending": "Pending sync",
    "online": "Online",
    "offline": "Offline",
    "choose_warehouse": "Choose a warehouse first",
    "nothing": "Nothing scanned yet",
    "added": "Added",
    "queued": "Saved on this device; it is sent when the network is back",
    "sending": "Sending…",
    "synced": "Sent",
    "refused": "Refused",
    "discard": "Discard",
    "remove": "Remove",
    "offline_unknown": "Offline: this code is not in the item list saved on this device",
    "login_again": "Please log in again, then the queue is sent",
    "lines": "lines",
}


@dataclass(frozen=True, slots=True)
class Flow:
    """What one scan page makes: the document, its lines table and the line fields the page fills in."""

    mode: str
    target: str
    table: str
    item: str
    qty: str
    warehouse: str | None  # the document's warehouse field
    source: str | None  # the document it is made from (make_from), if any
    batch: str | None = None
    production: str | None = None
    expiry: str | None = None


def _bare(formula: Formula | None) -> str | None:
    """The field a stock effect names (`qty`, `parent.warehouse`), or None for a computed expression."""
    if formula is None:
        return None
    match = _BARE.fullmatch(formula.source.strip())
    return match.group(1) if match else None


def flow(app: App, mode: str) -> Flow | None:
    """The scan page `mode` of this app, or None if the app has no such document."""
    if app.stock is None or mode not in MODES:
        return None
    if mode == "count":
        entity = app.entities.get(COUNT)
        if entity is None or not entity.stock:
            return None
        effect = entity.stock[0]
        return Flow(mode, entity.name, effect.table, _bare(effect.item) or "item", "counted_qty",
                    _bare(effect.warehouse), None, batch=_bare(effect.batch))
    direction = "in" if mode == "receive" else "out"
    candidates: list[tuple[int, Entity, Any]] = []
    for entity in app.entities.values():
        if entity.name == COUNT:
            continue
        for effect in entity.stock:
            if effect.direction != direction or _bare(effect.item) is None or _bare(effect.qty) is None:
                continue
            sources = [name for name in entity.make_from if not app.entities[name].stock]
            candidates.append((0 if sources else 1, entity, (effect, sources[0] if sources else None)))
            break
    if not candidates:
        return None
    _, entity, (effect, source) = min(candidates, key=lambda candidate: candidate[0])
    return Flow(mode, entity.name, effect.table, _bare(effect.item) or "item", _bare(effect.qty) or "qty",
                _bare(effect.warehouse), source, batch=_bare(effect.batch),
                production=_bare(effect.production_date), expiry=_bare(effect.expiry))


# --- pages --------------------------------------------------------------------------------------------------


def index_page(request: Request) -> Response:
    app = web_state(request).started.app
    session = service(request)
    pages = []
    for mode in MODES:
        found = flow(app, mode)
        if found is not None and session.access.allowed(app.entities[found.target], "create"):
            target = label_of(request, app.entities[found.target].label)
            pages.append({"mode": mode, "url": f"/m/{mode}", "target": target})
    return render(request, "mobile/index.html", pages=pages, titles=_titles(request))


def scan_page(request: Request) -> Response:
    mode = request.path_params["mode"]
    app = web_state(request).started.app
    found = flow(app, mode)
    session = service(request)
    if found is None or not session.access.allowed(app.entities[found.target], "create"):
        raise HTTPException(404)
    target = app.entities[found.target]
    child = app.entities[target.fields[found.table].table or ""]
    config = {
        **asdict(found),
        "target_label": label_of(request, target.label),
        "submit": mode != "count",  # a count is saved for review: its variances are approved before submit
        "fields": {name: label_of(request, child.fields[name].label) for name in
                   (found.item, found.qty, found.batch, found.production, found.expiry) if name in child.fields},
        "texts": {key: gettext(request, text) for key, text in TEXTS.items()},
        "source_lines": _source_lines(app, found),
        "user": session.user.name,  # a shared phone: each user's queue is sent in their own name only
    }
    return render(request, "mobile/scan.html", mode=mode, title=_titles(request)[mode], config=config,
                  warehouses=_warehouses(request),
                  sources=_sources(request, found))


def _source_lines(app: App, found: Flow) -> dict[str, str | None] | None:
    """Which lines of the order a document made from it takes over (those still open), so that the script can put
    the scanned lines at their positions: {table, item, ordered, fulfilled} of the order's lines."""
    if found.source is None:
        return None
    lines = app.entities[found.target].make_from[found.source].lines
    if lines is None:
        return None
    item = next((name for name, formula in lines.fields.items() if name == found.item), None)
    item_source = _bare(lines.fields[item]) if item else None
    return {"table": lines.source_table, "item": item_source, "ordered": lines.limit, "fulfilled": lines.fulfil}


def _titles(request: Request) -> dict[str, str]:
    return {"receive": gettext(request, "Scan to receive"), "pick": gettext(request, "Scan to pick"),
            "count": gettext(request, "Stock count")}


def _warehouses(request: Request) -> list[dict[str, Any]]:
    app = web_state(request).started.app
    assert app.stock is not None
    entity = app.entities[app.stock.warehouse]
    return [{"id": row["id"], "title": title_of(entity, row)}
            for row in _all(service(request), entity.name)]


def _sources(request: Request, found: Flow) -> list[dict[str, Any]]:
    """The open documents a receipt or a pick can be made from: submitted, not yet fulfilled."""
    if found.source is None:
        return []
    app = web_state(request).started.app
    session = service(request)
    source = app.entities[found.source]
    if not session.access.allowed(source, "read"):
        return []
    condition = 'docstatus = "submitted"'
    progress = app.entities[found.target].make_from[found.source].progress
    if progress is not None and progress.status and progress.complete:
        condition += f' AND {progress.status} <> "{progress.complete}"'
    return [{"id": row["id"], "title": title_of(source, row)} for row in _all(session, source.name, condition)]


def _all(session: Any, entity: str, condition: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page = session.list(entity, filter=condition, after=after, limit=_PAGE)
        rows.extend(page.rows)
        if page.next is None:
            return rows
        after = page.next


# --- JSON for the page's script --------------------------------------------------------------------------------


def scan_code(request: Request) -> Response:
    """What a scanned code is: the item (id, code, name, batch-tracked), batch and dates from the barcode."""
    code = request.query_params.get("code", "").strip("\r\n")
    started = web_state(request).started
    app = started.app
    session = service(request)
    if not code.strip():
        return _problem(request, 400, gettext(request, "Scan or type a code"))
    found = scan(started.plugins, app, code) or {"kind": "item", "code": code.strip()}  # a label with the code
    if found.get("error"):
        return _problem(request, 422, f"{code}: {found['error']}")
    if found.get("kind") != "item" or app.stock is None:
        return _problem(request, 422, f"{code}: {gettext(request, 'not an item code')}")
    item = _item(session, app, str(found.get("code") or ""), str(found.get("gtin") or ""))
    if item is None:
        return _problem(request, 404, f"{code}: {gettext(request, 'no item has this code')}")
    answer: dict[str, Any] = {"code": code, "item": item}
    for key in ("batch", "expiry", "produced", "best_before", "quantity", "serial"):
        value = found.get(key)
        if value is not None:
            answer[key] = value.isoformat() if isinstance(value, dt.date) else value
    return JSONResponse(answer)


def item_catalogue(request: Request) -> Response:
    """Every item the user may see, for scanning while offline (codes only; GS1 is read online)."""
    app = web_state(request).started.app
    session = service(request)
    if app.stock is None:
        return JSONResponse({"items": []})
    return JSONResponse({"items": [_item_json(app, row) for row in _all(session, app.stock.item)]})


def _item(session: Any, app: App, *codes: str) -> dict[str, Any] | None:
    assert app.stock is not None
    entity = app.entities[app.stock.item]
    if not entity.key:
        return None
    for code in dict.fromkeys(code for code in codes if code):
        try:
            rows = session.list(entity.name, filter=f"{entity.key} = {json.dumps(code, ensure_ascii=False)}",
                                limit=1).rows
        except ServiceError:  # a code the formula language cannot hold as text is no item's code
            continue
        if rows:
            return _item_json(app, rows[0])
    return None


def _item_json(app: App, row: dict[str, Any]) -> dict[str, Any]:
    assert app.stock is not None
    entity = app.entities[app.stock.item]
    batch_field = app.stock.batch_required
    return {"id": row["id"], "code": row.get(entity.key) if entity.key else None,
            "name": row.get(entity.title) if entity.title else None, "title": title_of(entity, row),
            "batch": bool(batch_field and row.get(batch_field))}


def _problem(request: Request, status: int, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status,
                        media_type="application/problem+json")


def service_worker(request: Request) -> Response:
    """The service worker, from the site root so that its scope covers /m and /static."""
    return FileResponse(STATIC / "sw.js", media_type="text/javascript",
                        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})


def navigation(request: Request, user: CurrentUser) -> list[NavGroup]:
    return [NavGroup(gettext(request, "Mobile"), [NavItem(gettext(request, "Scan pages"), "/m", "mobile")])]


def routes() -> list[BaseRoute]:
    return [
        Route("/m", index_page, name="mobile"),
        Route("/m/scan", scan_code, name="mobile_scan"),
        Route("/m/items", item_catalogue, name="mobile_items"),
        Route("/m/{mode:str}", scan_page, name="mobile_page"),
        Route("/sw.js", service_worker, name="service_worker"),
    ]
