"""Helpers for tests of the web UI: an app started on a test database, real users with passwords, and a
client that logs in and posts forms with their CSRF token, as a browser does.

    started = start_on(db_engine)                    # SHOP (below) on the test's database; or start_on(e, folder)
    web = Web(started)                               # the ASGI app and a starlette TestClient
    web.user("lin", "clerk")                         # a user with a role, password "pw-lin"
    web.login("lin")
    page = web.get("/e/item")
    web.post("/e/item/new", {"code": "A"})           # with the CSRF token of the session

Errors are answered by the app's own error pages (raise_server_exceptions=False): a test sees what a
browser would.
"""

from __future__ import annotations

import functools
import re
import tempfile
import textwrap
import warnings
from pathlib import Path
from typing import Any

import httpx
import pluggy
from sqlalchemy.engine import Engine

with warnings.catch_warnings():  # starlette suggests httpx2, which is not packaged yet; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from engine.migrate import migrate
from engine.records import Records
from engine.startup import Started, load
from engine.users import add_user
from engine.web.app import create_app
from engine.web.auth import hash_password

# A small shop: two groups in the navigation, list columns, search fields, a document, and roles that
# see different things (a hidden field, a row rule, an entity one role may not read), and a scheduled alert.
SHOP = """
name: webshop
title: {zh: 小店, en: Little shop}
entities:
  category:
    label: {zh: 类别, en: Category}
    group: {zh: 基础资料, en: Master data}
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true, max_length: 20}
      name: {type: string, required: true}
  item:
    label: {zh: 商品, en: Item}
    group: {zh: 基础资料, en: Master data}
    key: code
    title: name
    search: [code, name]
    list: [code, name, category, price, area, active]
    fields:
      code: {type: string, required: true, unique: true, max_length: 20}
      name: {type: string, required: true}
      category: {type: link, link: category}
      price: {type: money, default: 0}
      cost: money
      area: {type: choice, options: {east: {zh: 华东, en: East}, west: {zh: 华西, en: West}}}
      active: {type: bool, default: "TRUE"}
      since: date
      note: text
  purchase_order:
    label: {zh: 采购订单, en: Purchase order}
    group: {zh: 采购, en: Purchasing}
    kind: document
    naming: PO-{YYYY}-{####}
    list: [doc_no, supplier, order_date, total]
    search: [supplier]
    fields:
      supplier: {type: string, required: true}
      order_date: date
      total: {type: money, formula: SUM(lines.amount)}
      lines:
        type: table
        fields:
          item: {type: link, link: item, required: true}
          qty: {type: decimal, scale: 3, required: true}
          price: {type: money, default: item.price}
          amount: {type: money, formula: "ROUND(qty * price, 2)"}
alerts:
  free_items:
    label: {zh: 零价商品, en: Items priced zero}
    scope: item
    condition: price = 0
    schedule: daily 07:30
    recipients: {roles: [clerk]}
    channels: [inbox]
    message: "{{ record.name }} 没有定价"
roles:
  clerk:
    label: {zh: 文员, en: Clerk}
    permissions:
      category: read
      item: [read, create, write]
    fields:
      item: {cost: hidden}
  east:
    label: {zh: 华东业务, en: East sales}
    permissions:
      item: read
    rows:
      item: area = "east"
  buyer:
    label: {zh: 采购员, en: Buyer}
    permissions:
      category: read
      item: read
      purchase_order: [read, create, write, submit, cancel]
"""


@functools.cache
def app_folder(text: str = SHOP) -> Path:
    """An app folder holding `text` as its app.yaml (written once per text)."""
    folder = Path(tempfile.mkdtemp(prefix="jxc_web_")) / "app"
    folder.mkdir()
    (folder / "app.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


def start_on(engine: Engine, folder: str | Path | None = None, *, manager: pluggy.PluginManager | None = None
             ) -> Started:
    """The app (SHOP by default) started on `engine` (the `db_engine` fixture: SQLite or PostgreSQL), migrated
    the way `jxc serve` does it; `manager` brings plugins (engine.plugins.plugin_manager(extra=...))."""
    app, manager = load(folder or app_folder(), manager)
    migration = migrate(app, engine)
    return Started(app, engine, Records(app, engine, plugins=manager), manager, migration)


def password_of(name: str) -> str:
    return f"pw-{name}"


class Web:
    """A started app's web UI and one browser (cookie jar) talking to it."""

    def __init__(self, started: Started, **options: Any) -> None:
        self.started = started
        self.app = create_app(started, **options)
        self.client = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)

    def user(self, name: str, *roles: str, password: str | None = None, full_name: str | None = None,
             **fields: Any) -> str:
        """A user with `roles` and a password (default "pw-<name>"); returns the password."""
        secret = password or password_of(name)
        started = self.started
        add_user(started.engine, started.app, started.records.schema, name, roles=roles, full_name=full_name,
                 password_hash=hash_password(secret), fields=fields or None)
        return secret

    def token(self, path: str = "/login") -> str:
        """The CSRF token of this browser's session, read from a page as a form would carry it."""
        page = self.client.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, f"no CSRF token on {path} ({page.status_code})"
        return found.group(1)

    def login(self, name: str, password: str | None = None) -> httpx.Response:
        response = self.post("/login", {"name": name, "password": password or password_of(name)})
        assert response.status_code == 303, f"login of {name} failed: {response.status_code} {response.text[:300]}"
        return response

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.client.get(path, **options)

    def post(self, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/login",
             **options: Any) -> httpx.Response:
        """A form post carrying the session's CSRF token, as the app's forms do."""
        return self.client.post(path, data={"csrf_token": self.token(token_from), **(data or {})}, **options)

    def close(self) -> None:
        self.client.close()


def visible_text(html: str) -> str:
    """The page's text without tags, scripts and styles (what a user reads)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
