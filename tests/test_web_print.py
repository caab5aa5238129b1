"""The print view: an app's print format (YAML + its template) with linked records, jxc's own layout with the
document number as a QR code, and permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from engine.web.printing import qr_svg
from tests.web_helpers import visible_text
from tests.web_no_stock import Shop, no_stock_shop


@pytest.fixture
def shop(db_engine) -> Iterator[Shop]:
    shop = no_stock_shop(db_engine)
    yield shop
    shop.web.close()


def submitted_sales_order(shop: Shop) -> dict:
    system = shop.system
    order = system.create("sales_order", {"customer": shop.customer, "contract_no": "HT-88", "lines": [
        {"item": shop.bolt, "qty": "1200"}, {"item": shop.nut, "qty": "3", "price": "2"}]})
    return system.submit("sales_order", order["id"], version=order["version"])


def test_the_apps_print_format_prints_the_document_with_its_linked_records(shop: Shop) -> None:
    order = submitted_sales_order(shop)
    shop.web.login("shou")
    page = shop.web.get(f"/e/sales_order/{order['id']}/print")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert f"单号： {order['doc_no']}" in text
    assert "客户：华东机电" in text and "客户合同号：HT-88" in text  # the link printed as the customer's name
    assert "螺栓" in text and "54,000.00" in text  # 1200 × 45.00, as the template formats money
    assert "@page { size: A4" in page.text  # the format's own print CSS
    same = shop.web.get(f"/e/sales_order/{order['id']}/print/sales_order_a4")
    assert same.text == page.text


def test_jxcs_own_layout_shows_the_number_the_fields_the_lines_and_a_qr_code(shop: Shop) -> None:
    system = shop.system
    po = system.create("purchase_order", {"supplier": shop.supplier, "lines": [{"item": shop.bolt, "qty": "10"}]})
    po = system.submit("purchase_order", po["id"], version=po["version"])  # jxc itself may skip the workflow
    shop.web.login("cai")
    page = shop.web.get(f"/e/purchase_order/{po['id']}/print")
    assert page.status_code == 200
    number = re.search(r"<strong data-number>([^<]+)</strong>", page.text).group(1)
    assert number == po["doc_no"]
    qr = re.search(r'<div class="qr" data-qr>(.*?)</div>', page.text, re.S).group(1)
    assert qr.strip().startswith("<svg") and str(qr_svg(po["doc_no"])) == qr.strip()
    text = visible_text(page.text)
    assert "供应商 S01 宁波五金" in text and "价税合计 361.60" in text
    assert "1 M8 螺栓 10 32.00 13% 320.00" in text


def test_a_qr_code_differs_with_the_number_it_holds() -> None:
    assert qr_svg("PO-202603-0001") != qr_svg("PO-202603-0002")
    assert "<path" in qr_svg("PO-202603-0001")


def test_printing_needs_the_right_to_read_and_an_existing_format(shop: Shop) -> None:
    order = submitted_sales_order(shop)
    shop.web.login("cai")  # purchasers do not read sales orders
    assert shop.web.get(f"/e/sales_order/{order['id']}/print").status_code == 403
    shop.web.client.post("/logout", data={"csrf_token": shop.web.token("/")})
    shop.web.login("shou")
    missing = shop.web.get(f"/e/sales_order/{order['id']}/print/no_such_format")
    assert missing.status_code == 404 and "sales_order_a4" in missing.text


def test_a_print_template_that_fails_on_the_data_says_so_without_a_trace(db_engine, tmp_path) -> None:
    from tests.web_helpers import Web, start_on

    folder = tmp_path / "app"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "note.html").write_text("<h1>{{ doc.title }}</h1>{{ doc.qty / 0 }}", encoding="utf-8")
    (folder / "app.yaml").write_text("""
name: notes
title: 便条
entities:
  note:
    label: 便条
    key: title
    fields:
      title: {type: string, required: true}
      qty: int
print_formats:
  note_print:
    entity: note
    label: 便条
    template: templates/note.html
    default: true
""", encoding="utf-8")
    web = Web(start_on(db_engine, folder))
    web.user("boss", "admin")
    note = web.started.records.system().create("note", {"title": "甲", "qty": 3})
    web.login("boss")
    page = web.get(f"/e/note/{note['id']}/print")
    assert page.status_code == 400
    assert "打印格式 note_print（templates/note.html）无法打印这条记录：ZeroDivisionError" in page.text
    assert "Traceback" not in page.text
    web.close()
