"""Every kind of page on a 375 px phone: nothing wider than the screen (wide tables scroll inside their own box),
so warehouse staff never pan a whole page sideways. Screenshots of each go to test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.browser.conftest import PHONE, Server, new_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _pages(books: Any) -> list[str]:
    tables = books.records.schema.tables
    with books.engine.connect() as connection:
        order = connection.execute(select(tables["purchase_order"].c.id).limit(1)).scalar_one()
        receipt = connection.execute(select(tables["goods_receipt"].c.id).limit(1)).scalar_one()
    pages = ["/", "/e/item", "/e/purchase_order", "/e/purchase_order/new", f"/e/purchase_order/{order}",
             f"/e/goods_receipt/{receipt}", f"/e/purchase_order/{order}/history", "/inbox", "/m", "/m/receive",
             "/m/pick", "/m/count"]
    return pages + [f"/dashboards/{name}" for name in books.app.dashboards]


def test_every_kind_of_page_fits_a_phone(browser: Any, server: Server, books: Any) -> None:
    page = new_page(browser, server, "admin", viewport=PHONE, has_touch=True)
    too_wide = {}
    for path in _pages(books):
        response = page.goto(server.url + path)
        assert response is not None and response.ok, f"{path}: {response.status if response else 'no answer'}"
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > PHONE["width"] + 1:
            too_wide[path] = width
        screenshot(page, "phone" + path.replace("/", "_"))
    page.context.close()
    assert too_wide == {}, f"pages wider than a {PHONE['width']} px phone: {too_wide}"
