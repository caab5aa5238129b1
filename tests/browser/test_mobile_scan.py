"""At 375 px, a GS1 barcode fills the line's batch and dates; a damaged one is explained, not added."""

from __future__ import annotations

from typing import Any

import pytest

from engine.users import load_user
from tests.browser.conftest import Server, open_scan_page, scan, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
GTIN = "6901234567892"


def test_a_gs1_barcode_fills_batch_and_dates_and_a_damaged_one_is_explained(browser: Any, server: Server,
                                                                           books: Any) -> None:
    admin = books.records.session(load_user(books.engine, books.app, books.records.schema, "admin"))
    admin.create("item", {"code": GTIN, "name": "土鸡蛋", "unit": "kg", "storage": "chilled", "shelf_life_days": 45})
    _, phone = open_scan_page(browser, server, "receive")
    scan(phone, f"(01)0{GTIN}(11)261120(17)270104(10)EG2611")
    line = phone.locator('#lines [data-line="0"]')
    line.wait_for()
    assert "土鸡蛋" in (line.text_content() or "")
    assert line.locator("input[data-field=batch]").input_value() == "EG2611"
    assert line.locator("input[data-field=production]").input_value() == "2026-11-20"
    assert line.locator("input[data-field=expiry]").input_value() == "2027-01-04"
    scan(phone, f"(01)0{GTIN}(11)261120(17)270104(10)EG2611")  # the same barcode again: one more
    phone.wait_for_function("() => document.querySelector('#lines [data-line=\"0\"] input[data-field=qty]').value === '2'")
    scan(phone, f"(01)0{GTIN[:-1]}3(10)EG2611")  # a wrong check digit
    phone.wait_for_selector("#message[data-kind=error]")
    assert "check digit" in (phone.locator("#message").text_content() or "")
    assert phone.locator("#lines [data-line]").count() == 1
    screenshot(phone, "mobile_gs1_scan")
