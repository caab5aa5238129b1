"""apps/no_stock on the test's database with its web UI, users of each role and a little master data, for the
tests of forms, document actions and printing (tests/test_web_forms.py, test_web_documents.py,
test_web_print.py)."""

from __future__ import annotations

import functools
import html as html_module
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from engine.migrate import migrate
from engine.records import Records
from engine.startup import Started, load
from engine.users import add_user
from engine.web.auth import hash_password
from tests.web_helpers import Web, password_of

NO_STOCK = Path(__file__).parent.parent / "apps" / "no_stock"
USERS = {"boss": ("admin",), "cai": ("purchaser",), "jing": ("purchase_manager",), "zong": ("general_manager",),
         "xiao": ("sales",), "shou": ("sales_manager",), "cw": ("finance",)}


@dataclass
class Shop:
    web: Web
    supplier: int
    customer: int
    bolt: int  # 螺栓, purchase price 32.00, sale price 45.00, VAT 13%
    nut: int  # 螺母, purchase price 1.50, VAT 9%

    @property
    def system(self) -> Any:
        return self.web.started.records.system()

    def as_user(self, name: str) -> Any:
        from engine.users import load_user

        started = self.web.started
        return started.records.session(load_user(started.engine, started.app, started.records.schema, name))


@functools.cache
def _loaded() -> tuple[Any, Any]:
    return load(NO_STOCK)  # the model is immutable: one load serves every test


@functools.cache
def _hash(password: str) -> str:
    return hash_password(password)  # argon2 is slow on purpose; the same password need not be hashed twice


def no_stock_shop(engine: Engine) -> Shop:
    app, manager = _loaded()
    started = Started(app, engine, Records(app, engine, plugins=manager), manager, migrate(app, engine))
    web = Web(started)
    for name, roles in USERS.items():
        add_user(engine, app, started.records.schema, name, roles=roles,
                 full_name={"cai": "蔡采购", "jing": "经理"}.get(name), password_hash=_hash(password_of(name)))
    system = web.started.records.system()
    supplier = system.create("supplier", {"code": "S01", "name": "宁波五金"})["id"]
    customer = system.create("customer", {"code": "C01", "name": "华东机电"})["id"]
    bolt = system.create("item", {"code": "M8", "name": "螺栓", "unit": "box", "purchase_price": "32.00",
                                  "sale_price": "45.00"})["id"]
    nut = system.create("item", {"code": "M8N", "name": "螺母", "unit": "box", "purchase_price": "1.50",
                                 "tax_rate": "9%"})["id"]
    return Shop(web, supplier, customer, bolt, nut)


def errors_at(html: str, path: str) -> list[str]:
    """The messages shown next to the field at `path` (an input name such as lines[1].qty)."""
    found = re.search(r'data-errors-for="' + re.escape(path) + r'"[^>]*>(.*?)</ul>', html, re.S)
    return [html_module.unescape(m) for m in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)] if found else []


def buttons(html: str) -> set[str]:
    """The actions offered on a form page (data-action of its buttons)."""
    return set(re.findall(r'data-action="([^"]+)"', html))


def send(web: Web, path: str, data: dict[str, Any] | None = None) -> Any:
    """A form post of a logged-in user, with the CSRF token of their session (read from the home page)."""
    return web.post(path, data, token_from="/")
