"""The mobile scan pages (/m): which documents they make in an app, scanning (plain codes and GS1 barcodes with
batch and dates), and the requests their script sends through /api/batch applied exactly once however often the
queue is sent again. The pages in a real browser, offline, are in tests/browser/."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from engine.users import load_user
from engine.web.mobile import flow
from tests.apps_helpers import food_app, stock_of
from tests.service_helpers import APPS
from tests.web_helpers import Web, start_on, visible_text

GTIN = "6901234567892"  # an EAN-13 with a right check digit: the item's code, as printed under the barcode


def test_the_pages_make_the_documents_the_food_app_declares() -> None:
    app = food_app()
    receive, pick, count = flow(app, "receive"), flow(app, "pick"), flow(app, "count")
    assert receive is not None and (receive.source, receive.target, receive.warehouse) == (
        "purchase_order", "goods_receipt", "warehouse")
    assert (receive.batch, receive.production, receive.expiry) == ("batch_no", "production_date", "expiry")
    assert pick is not None and (pick.source, pick.target) == ("sales_order", "sales_shipment")
    assert count is not None and (count.target, count.qty, count.source) == ("stock_count", "counted_qty", None)


@pytest.fixture
def food(db_engine: Any) -> Any:
    started = start_on(db_engine, APPS / "food")
    web = Web(started)
    web.user("boss", "admin")
    web.user("chief", "admin")
    web.user("viewer", "viewer")
    yield started, web
    web.close()


def _as(started: Any, name: str) -> Any:
    return started.records.session(load_user(started.engine, started.app, started.records.schema, name))


def _master_data(started: Any) -> dict[str, int]:
    boss = _as(started, "boss")
    ids = {
        "cold": boss.create("warehouse", {"code": "WH-R", "name": "冷藏库", "storage": "chilled"})["id"],
        "supplier": boss.create("supplier", {"code": "S1", "name": "德青源"})["id"],
        "egg": boss.create("item", {"code": GTIN, "name": "鲜鸡蛋", "unit": "kg", "storage": "chilled",
                                    "shelf_life_days": 45, "purchase_price": "11.60"})["id"],
        "milk": boss.create("item", {"code": "RM-MILK", "name": "牛奶", "unit": "l", "storage": "chilled",
                                     "shelf_life_days": 20, "purchase_price": "6.00"})["id"],
    }
    order = boss.create("purchase_order", {"supplier": ids["supplier"], "lines": [
        {"item": ids["egg"], "qty": 10, "price": "11.60"}, {"item": ids["milk"], "qty": 5, "price": "6.00"}]})
    order = boss.transition("purchase_order", order["id"], "request", version=order["version"])
    order = _as(started, "chief").transition("purchase_order", order["id"], "approve", version=order["version"])
    assert order["docstatus"] == "submitted"
    ids["order"] = order["id"]
    return ids


def _scan(web: Web, code: str) -> Any:
    return web.get("/m/scan", params={"code": code})


@pytest.mark.both_dbs
def test_scanning_reads_the_item_and_a_gs1_barcode_s_batch_and_dates(food: Any) -> None:
    started, web = food
    ids = _master_data(started)
    web.login("boss")
    plain = _scan(web, "RM-MILK\r\n")
    assert plain.status_code == 200
    assert plain.json()["item"] == {"id": ids["milk"], "code": "RM-MILK", "name": "牛奶", "title": "RM-MILK 牛奶",
                                    "batch": True}
    gs1 = _scan(web, f"(01)0{GTIN}(11)261120(17)270105(10)L2611")
    assert gs1.status_code == 200
    assert {key: gs1.json()[key] for key in ("batch", "produced", "expiry")} == {
        "batch": "L2611", "produced": "2026-11-20", "expiry": "2027-01-05"}
    assert gs1.json()["item"]["id"] == ids["egg"]
    wrong = _scan(web, f"(01)0{GTIN[:-1]}3(10)L1")  # a wrong check digit
    assert wrong.status_code == 422 and "check digit" in wrong.json()["detail"]
    unknown = _scan(web, "NO-SUCH-CODE")
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("NO-SUCH-CODE:")
    assert _scan(web, "  ").status_code == 400


def test_the_receive_page_lists_the_open_orders_and_warehouses(food: Any) -> None:
    started, web = food
    ids = _master_data(started)
    web.login("boss")
    page = web.get("/m/receive")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "扫码收货" in text and "WH-R 冷藏库" in text and "待同步 0" in text
    assert f'<option value="{ids["order"]}">PO-' in page.text
    assert web.get("/m").status_code == 200 and 'href="/m/receive"' in web.get("/m").text
    worker = web.get("/sw.js")
    assert worker.headers["service-worker-allowed"] == "/" and "caches" in worker.text


def test_a_user_who_may_not_make_receipts_has_no_scan_pages(food: Any) -> None:
    _, web = food
    web.login("viewer")
    assert web.get("/m/receive").status_code == 404
    assert 'href="/m/receive"' not in web.get("/m").text


def _batch(web: Web, token: str, key: str, method: str, path: str, body: Any) -> dict[str, Any]:
    """One operation sent through /api/batch as the page's script sends it (cookie + CSRF header)."""
    answer = web.client.post("/api/batch", content=json.dumps({"operations": [
        {"key": key, "method": method, "path": path, "body": body}]}),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token})
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def _receive_from_order(web: Web, token: str, op: str, ids: dict[str, int], today: dt.date) -> list[dict[str, Any]]:
    """What mobile.js sends for eggs scanned in two batches against the order (milk not scanned): the order made
    into a receipt with the scanned lines at the positions of the order's open lines, then submitted."""
    egg = {"item": ids["egg"], "production_date": str(today - dt.timedelta(days=5)),
           "expiry": str(today + dt.timedelta(days=40))}
    lines = [{**egg, "qty": "6", "batch_no": "L2611"}, None, {**egg, "qty": "2", "batch_no": "L2612"}]
    made = _batch(web, token, f"{op}:make", "POST", f"/api/purchase_order/{ids['order']}/make/goods_receipt",
                  {"values": {"warehouse": ids["cold"], "lines": lines}})
    assert made["status"] == 201, made
    submitted = _batch(web, token, f"{op}:submit", "POST", f"/api/goods_receipt/{made['body']['id']}/submit",
                       {"version": made["body"]["version"]})
    return [made, submitted]


@pytest.mark.both_dbs
def test_a_receipt_sent_again_after_a_lost_answer_is_applied_once(food: Any) -> None:
    started, web = food
    ids = _master_data(started)
    web.login("boss")
    token = web.token("/m/receive")
    today = started.records.clock.now().date()
    first = _receive_from_order(web, token, "m:phone:1", ids, today)
    assert [result["status"] for result in first] == [201, 200]
    assert first[1]["body"]["docstatus"] == "submitted"
    again = _receive_from_order(web, token, "m:phone:1", ids, today)  # the phone never saw the answers
    assert [result["replayed"] for result in again] == [True, True]
    assert again[1]["body"]["doc_no"] == first[1]["body"]["doc_no"]
    receipts = _as(started, "boss").list("goods_receipt").rows
    assert len(receipts) == 1
    assert stock_of(started.records, ids["egg"], ids["cold"])["on_hand"] == Decimal(8)
    order = _as(started, "boss").get("purchase_order", ids["order"])
    received = {row["item"]: row["received_qty"] for row in order["lines"]}
    assert received == {ids["egg"]: Decimal(6), ids["milk"]: Decimal(0)}  # the scanned line kept its order line
    assert order["receipt_status"] == "partial"


@pytest.mark.both_dbs
def test_an_operation_on_a_receipt_changed_meanwhile_comes_back_refused_with_the_reason(food: Any) -> None:
    started, web = food
    ids = _master_data(started)
    web.login("boss")
    token = web.token("/m/receive")
    today = started.records.clock.now().date()
    made = _batch(web, token, "m:a:make", "POST", f"/api/purchase_order/{ids['order']}/make/goods_receipt",
                  {"values": {"warehouse": ids["cold"], "lines": [
                      {"qty": "1", "batch_no": "B", "production_date": str(today), "expiry": str(today + dt.timedelta(days=9))},
                      None]}})
    assert made["status"] == 201, made
    draft = made["body"]
    assert [row["item"] for row in draft["lines"]] == [ids["egg"]]  # the milk line left out
    _as(started, "chief").update("goods_receipt", draft["id"], {"remark": "改了"}, version=draft["version"])
    stale = _batch(web, token, "m:a:submit", "POST", f"/api/goods_receipt/{draft['id']}/submit",
                   {"version": draft["version"]})
    assert stale["status"] == 409 and "chief" in stale["body"]["detail"]
    assert _as(started, "boss").get("goods_receipt", draft["id"])["docstatus"] == "draft"


@pytest.mark.both_dbs
def test_a_pick_against_a_sales_order_and_a_count_as_the_pages_send_them(food: Any) -> None:
    started, web = food
    ids = _master_data(started)
    boss = _as(started, "boss")
    today = started.records.clock.now().date()
    boss.create("goods_receipt", {"warehouse": ids["cold"], "lines": [
        {"item": ids["egg"], "qty": 10, "batch_no": "L1", "production_date": today - dt.timedelta(days=3),
         "expiry": today + dt.timedelta(days=40)}]}, submit=True)
    customer = boss.create("customer", {"code": "C1", "name": "永辉"})["id"]
    order = boss.create("sales_order", {"customer": customer, "lines": [
        {"item": ids["egg"], "qty": 4, "price": "20"}, {"item": ids["milk"], "qty": 2, "price": "9"}]}, submit=True)
    web.login("boss")
    token = web.token("/m/pick")
    # three eggs scanned; the milk line of the order not picked (null at its position); the batch left to FEFO
    made = _batch(web, token, "m:p:make", "POST", f"/api/sales_order/{order['id']}/make/sales_shipment",
                  {"values": {"warehouse": ids["cold"], "lines": [{"item": ids["egg"], "qty": "3"}, None]}})
    assert made["status"] == 201, made
    shipped = _batch(web, token, "m:p:submit", "POST", f"/api/sales_shipment/{made['body']['id']}/submit",
                     {"version": made["body"]["version"]})
    assert shipped["status"] == 200, shipped
    assert stock_of(started.records, ids["egg"], ids["cold"])["on_hand"] == Decimal(7)
    lines = boss.get("sales_order", order["id"])["lines"]
    assert [(row["item"], row["shipped_qty"]) for row in lines] == [(ids["egg"], Decimal(3)), (ids["milk"], Decimal(0))]

    counted = _batch(web, token, "m:c:create", "POST", "/api/stock_count", {"warehouse": ids["cold"], "lines": [
        {"item": ids["egg"], "batch_no": "L1", "counted_qty": "6"}]})
    assert counted["status"] == 201, counted
    assert counted["body"]["docstatus"] == "draft"  # saved for review: variances are approved before submitting
    assert [(row["item"], Decimal(row["counted_qty"])) for row in counted["body"]["lines"]] == [(ids["egg"], 6)]


def test_an_app_without_inventory_has_no_scan_pages(tmp_path: Any) -> None:
    from sqlalchemy import create_engine

    started = start_on(create_engine(f"sqlite:///{tmp_path / 'shop.sqlite'}"))
    assert started.app.stock is None and flow(started.app, "receive") is None
    web = Web(started)
    web.user("boss", "admin")
    web.login("boss")
    assert web.get("/m/receive").status_code == 404
    assert web.get("/m/items").json() == {"items": []}
    assert "/m/" not in web.get("/m").text.replace('href="/m"', "")
    web.close()
