"""On a phone (375 px) that loses the network: the scan page still opens (service worker), scans are read from
the item list saved on the phone, the receipt waits in the queue ("待同步 1"), and when the network is back it is
sent — exactly once, even when the first answer is lost on the way back and the phone sends it again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.apps_helpers import stock_of
from tests.browser.conftest import Server, open_scan_page, scan, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _ids(books: Any, entity: str, code: str) -> int:
    table = books.records.schema.tables[entity]
    with books.engine.connect() as connection:
        return connection.execute(select(table.c.id).where(table.c.code == code)).scalar_one()


def _receipts(books: Any) -> int:
    table = books.records.schema.tables["goods_receipt"]
    with books.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_scans_queued_offline_are_received_once_when_the_network_returns(browser: Any, server: Server,
                                                                          books: Any) -> None:
    flour, cookie, store = (_ids(books, "item", "RM-FLOUR"), _ids(books, "item", "FG-COOKIE"),
                            _ids(books, "warehouse", "WH-A"))
    flour_before, cookie_before = stock_of(books.records, flour, store), stock_of(books.records, cookie, store)
    receipts_before = _receipts(books)
    context, phone = open_scan_page(browser, server, "receive")

    context.set_offline(True)
    phone.reload()  # served by the service worker
    phone.wait_for_selector("#online >> text=离线")
    phone.select_option("#warehouse", label="WH-A 常温库")
    scan(phone, "RM-FLOUR")
    phone.wait_for_selector('#lines [data-line="0"]')
    scan(phone, "RM-FLOUR")
    scan(phone, "FG-COOKIE")
    phone.wait_for_selector('#lines [data-line="1"]')
    assert phone.locator('#lines [data-line="0"] input[data-field=qty]').input_value() == "2"
    for index, batch in ((0, "WF261126"), (1, "CK261126")):
        line = phone.locator(f'#lines [data-line="{index}"]')
        line.locator("input[data-field=batch]").fill(batch)
        line.locator("input[data-field=production]").fill("2026-11-24")
        line.locator("input[data-field=expiry]").fill("2027-05-20")
    phone.click("#submit")
    phone.wait_for_selector("#pending >> text=待同步 1")
    screenshot(phone, "mobile_offline_queued")
    assert _receipts(books) == receipts_before

    # the network is back, but the answer to the first send is lost: the server applied it, the phone never heard
    lost: list[str] = []

    def lose_the_answer(route: Any) -> None:
        if not lost:
            route.fetch()  # the request reaches the server and is applied...
            lost.append(route.request.post_data or "")
            route.abort()  # ...and the phone sees a failed request
        else:
            route.continue_()

    context.route("**/api/batch", lose_the_answer)
    context.set_offline(False)
    phone.wait_for_function("() => navigator.onLine")
    phone.evaluate("() => window.jxcMobile.flush()")
    assert lost, "the queued receipt was not sent when the network came back"
    assert phone.locator("#pending").text_content() == "待同步 1"  # still waiting: no answer came back
    phone.evaluate("() => window.jxcMobile.flush()")  # sent again with the same keys: answered from the record
    phone.wait_for_selector("#pending >> text=待同步 0")
    phone.wait_for_selector("#message >> text=/已同步: RK-/")
    screenshot(phone, "mobile_offline_synced")

    assert _receipts(books) == receipts_before + 1
    assert stock_of(books.records, flour, store)["on_hand"] - flour_before["on_hand"] == Decimal(2)
    assert stock_of(books.records, cookie, store)["on_hand"] - cookie_before["on_hand"] == Decimal(1)


def test_a_refused_receipt_stays_on_the_phone_with_the_reason(browser: Any, server: Server, books: Any) -> None:
    receipts_before = _receipts(books)
    _, phone = open_scan_page(browser, server, "receive")
    phone.select_option("#warehouse", label="WH-A 常温库")
    scan(phone, "FG-DUMP")  # frozen dumplings into the ambient store
    line = phone.locator('#lines [data-line="0"]')
    line.wait_for()
    line.locator("input[data-field=batch]").fill("DP261126")
    line.locator("input[data-field=production]").fill("2026-11-24")
    line.locator("input[data-field=expiry]").fill("2027-11-20")
    phone.click("#submit")
    refused = phone.locator("#queue li[data-state=refused]")
    refused.wait_for()
    assert "被拒绝" in (refused.text_content() or "") and "储存条件" in (refused.text_content() or "")
    assert phone.locator("#pending").text_content() == "待同步 0"
    assert (phone.locator("#message").text_content() or "").startswith("被拒绝: ")
    screenshot(phone, "mobile_refused")
    refused.locator("button").click()  # 放弃
    phone.wait_for_function("() => !document.querySelector('#queue li')")
    assert _receipts(books) == receipts_before
