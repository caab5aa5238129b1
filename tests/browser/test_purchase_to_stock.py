"""In a real browser: a buyer writes a purchase order with two lines and sees the total computed as they type,
and asks for approval; the purchasing manager approves it; on a phone (375 px) the warehouse receives it by
scanning against the order; the inventory dashboard's stock chart shows the goods, and the order is received; the rest of the shrimps come in later, received on the desktop from the order's
生成入库单 button (a form pre-filled from the order, the warehouse, batch and dates filled in by hand)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from tests.browser.conftest import Server, choose, new_page, open_scan_page, scan, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _number(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.\-]", "", text))


def _stock_level(page: Any, server: Server, item: str) -> Decimal:
    """The bar of `item` in the dashboard's stock chart, read from what the chart was drawn with."""
    page.goto(f"{server.url}/dashboards/stock_board")
    chart = page.locator("section.widget-bar", has_text="实时库存水位").locator(".chart")
    chart.wait_for()
    page.wait_for_selector(".chart[data-drawn=true]")
    option = json.loads(page.locator(f"#{chart.get_attribute('data-chart')}").text_content() or "{}")
    bars = dict(zip(option["xAxis"]["data"], (bar["value"] for bar in option["series"][0]["data"]), strict=True))
    return Decimal(bars.get(item, "0"))


def _line(page: Any, index: int, name: str) -> Any:
    return page.locator(f'#lines [data-line="{index}"] input[data-field="{name}"]')


def test_order_approved_received_by_scanning_and_seen_on_the_stock_chart(browser: Any, server: Server) -> None:
    buyer = new_page(browser, server, "buyer", **DESKTOP)
    buyer.goto(f"{server.url}/e/purchase_order/new")
    choose(buyer, "f-supplier", "S004")
    choose(buyer, "f-lines[0].item", "RM-SHRIMP")
    buyer.fill('[id="f-lines[0].qty"]', "100")
    buyer.fill('[id="f-lines[0].price"]', "78.00")
    buyer.click("[data-add-row=lines]")
    choose(buyer, "f-lines[1].item", "FG-DUMP")
    buyer.fill('[id="f-lines[1].qty"]', "10")
    buyer.fill('[id="f-lines[1].price"]', "150")
    # 100 × 78 + 9% VAT and 10 × 150 + 13% VAT, computed by the server while the buyer types
    buyer.wait_for_function("() => document.getElementById('f-total').textContent.replace(/,/g, '') === '10197.00'")
    assert _number(buyer.locator('[id="f-tax"]').text_content() or "") == Decimal("897.00")
    screenshot(buyer, "purchase_order_new")
    buyer.click("button[data-action=save]")
    buyer.wait_for_url(re.compile(r"/e/purchase_order/\d+$"))
    order_url = buyer.url
    order_id = int(order_url.rsplit("/", 1)[1])
    buyer.click("button[data-action='do:request']")
    buyer.wait_for_selector("text=待部门审批")

    manager = new_page(browser, server, "manager", **DESKTOP)
    manager.goto(order_url)
    manager.click("button[data-action='do:approve']")
    manager.wait_for_selector("text=已批准")
    screenshot(manager, "purchase_order_approved")
    before = _stock_level(new_page(browser, server, "admin", **DESKTOP), server, "冷冻虾仁")

    _, phone = open_scan_page(browser, server, "receive")
    phone.select_option("#source", value=str(order_id))
    phone.select_option("#warehouse", label="WH-C 冷冻库")
    scan(phone, "RM-SHRIMP")
    phone.wait_for_selector('#lines [data-line="0"]')
    scan(phone, "RM-SHRIMP")  # the same code again: one more on the same line
    phone.wait_for_function("() => document.querySelector('#lines [data-line=\"0\"] input[data-field=qty]').value === '2'")
    scan(phone, "FG-DUMP")
    phone.wait_for_selector('#lines [data-line="1"]')
    _line(phone, 0, "qty").fill("60")  # a partial delivery: 60 of the 100 ordered
    for index, batch in ((0, "SH261125"), (1, "DP261125")):
        _line(phone, index, "batch").fill(batch)
        _line(phone, index, "production").fill("2026-11-20")
        _line(phone, index, "expiry").fill("2027-11-19")
    screenshot(phone, "mobile_receive_scanned")
    phone.click("#submit")
    phone.wait_for_selector("#message >> text=/已同步: RK-/")
    assert phone.locator("#pending").text_content() == "待同步 0"
    screenshot(phone, "mobile_receive_sent")

    desk = new_page(browser, server, "admin", **DESKTOP)
    assert _stock_level(desk, server, "冷冻虾仁") - before == Decimal(60)
    screenshot(desk, "stock_dashboard")
    desk.goto(order_url)
    assert "部分收货" in (desk.locator("main").text_content() or "")

    desk.click("button[data-action='make:goods_receipt']")  # what is still open: 40 shrimps, 9 dumplings
    desk.wait_for_url(re.compile(r"/e/goods_receipt/new\?from=purchase_order&from_id=\d+$"))
    assert [desk.locator(f'[id="f-lines[{index}].qty"]').input_value() for index in (0, 1)] == ["40", "9"]
    desk.locator('tr[data-row="1"] [data-remove-row]').click()  # 30 shrimps arrive, no dumplings
    choose(desk, "f-warehouse", "WH-C")
    desk.fill('[id="f-lines[0].qty"]', "30")
    desk.fill('[id="f-lines[0].batch_no"]', "SH261126")
    desk.fill('[id="f-lines[0].production_date"]', "2026-11-21")
    desk.fill('[id="f-lines[0].expiry"]', "2027-11-20")
    desk.click("button[data-action=save]")
    desk.wait_for_url(re.compile(r"/e/goods_receipt/\d+$"))
    desk.click("button[data-action=submit]")
    desk.wait_for_selector("[data-status=submitted]")
    screenshot(desk, "goods_receipt_made_from_order")
    assert _stock_level(desk, server, "冷冻虾仁") - before == Decimal(90)
