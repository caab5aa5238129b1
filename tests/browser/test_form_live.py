"""form.js in a real browser: link boxes that search as the user types, totals computed by the server while
typing, a problem shown next to its cell before saving, rows added and removed, then a save."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import uvicorn

from tests.web_no_stock import Shop, no_stock_shop

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def served(db_engine) -> Iterator[tuple[Shop, str]]:
    shop = no_stock_shop(db_engine)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(shop.web.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield shop, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_purchase_order_is_typed_with_live_totals_and_saved(served, browser) -> None:
    from playwright.sync_api import expect

    shop, base = served
    context = browser.new_context()
    try:
        page = context.new_page()
        failures: list[str] = []
        page.on("pageerror", lambda error: failures.append(str(error)))
        page.goto(base + "/login")
        page.fill("input[name=name]", "cai")
        page.fill("input[name=password]", "pw-cai")
        page.press("input[name=password]", "Enter")
        page.wait_for_url(base + "/")
        page.goto(base + "/e/purchase_order/new")

        page.fill("[id='f-supplier']", "宁波")
        page.locator(".lookup-list li[role=option]", has_text="宁波五金").click()
        expect(page.locator("input[name=supplier]")).to_have_value(str(shop.supplier))
        page.fill("[id='f-lines[0].item']", "螺栓")
        page.locator(".lookup-list li[role=option]", has_text="M8 螺栓").click()
        page.fill("[id='f-lines[0].qty']", "10")
        expect(page.locator("[data-value=total]")).to_have_text("361.60")  # computed by the server, not saved
        expect(page.locator("[id='f-lines[0].price']")).to_have_value("32.00")  # the item's price, a default

        page.click("[data-add-row=lines]")
        page.fill("[id='f-lines[1].qty']", "-1")
        expect(page.locator("[data-errors-for='lines[1].qty']")).to_have_text("数量必须大于 0")
        page.click("tr[data-row='1'] [data-remove-row]")

        page.click("[data-action=save]")
        page.wait_for_url(base + "/e/purchase_order/*")
        order_id = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("[data-value=total]")).to_have_text("361.60")
    finally:
        context.close()
    assert failures == []
    stored = shop.system.get("purchase_order", order_id)
    assert [(line["item"], line["qty"]) for line in stored["lines"]] == [(shop.bolt, Decimal("10.000"))]
    assert stored["total"] == Decimal("361.60")
