"""Document actions on the form: submit, cancel, amend, workflow transitions with comments, make from, the
history page; buttons only for what the user may do, and the service layer's message when an action is
refused."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest

from engine.records import Session
from engine.users import load_user
from tests.service_helpers import APPS
from tests.web_helpers import Web, app_folder, start_on, visible_text
from tests.web_no_stock import Shop, buttons, errors_at, no_stock_shop, send


@pytest.fixture
def shop(db_engine) -> Iterator[Shop]:
    shop = no_stock_shop(db_engine)
    yield shop
    shop.web.close()


def switch(shop: Shop, name: str) -> None:
    switch_to(shop.web, name)


def switch_to(web: Web, name: str) -> None:
    web.client.post("/logout", data={"csrf_token": web.token("/")})
    web.login(name)


def version_on(page: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def made_at(response, entity: str) -> int:
    assert response.status_code == 303, visible_text(response.text)[:1500]
    found = re.fullmatch(rf"/e/{entity}/(\d+)", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def sales_order(shop: Shop) -> int:
    response = send(shop.web, "/e/sales_order/new", {
        "customer": str(shop.customer), "order_date": "2026-03-05",
        "lines[0].item": str(shop.bolt), "lines[0].qty": "2"})
    return made_at(response, "sales_order")


def purchase_order(shop: Shop) -> int:
    response = send(shop.web, "/e/purchase_order/new", {
        "supplier": str(shop.supplier), "order_date": "2026-03-05",
        "lines[0].item": str(shop.bolt), "lines[0].qty": "10", "lines[1].item": str(shop.nut), "lines[1].qty": "4"})
    return made_at(response, "purchase_order")


@pytest.mark.both_dbs
def test_a_sales_order_is_saved_then_submitted_from_its_form(shop: Shop) -> None:
    web = shop.web
    web.login("shou")
    order_id = sales_order(shop)
    page = web.get(f"/e/sales_order/{order_id}")
    assert {"save", "submit"} <= buttons(page.text) and "cancel" not in buttons(page.text)

    response = send(web, f"/e/sales_order/{order_id}/submit", {"version": version_on(page.text)})
    assert made_at(response, "sales_order") == order_id
    stored = shop.system.get("sales_order", order_id)
    assert stored["docstatus"] == "submitted" and re.fullmatch(r"SO-\d{6}-0001", stored["doc_no"])
    page = web.get(f"/e/sales_order/{order_id}")
    assert stored["doc_no"] in page.text and "已提交" in visible_text(page.text)
    assert "save" not in buttons(page.text) and 'name="lines[0].qty"' not in page.text  # no more editing
    assert "cancel" in buttons(page.text)
    late = send(web, f"/e/sales_order/{order_id}", {"version": version_on(page.text), "remark": "改一下"})
    assert late.status_code == 409 and f"sales_order {stored['doc_no']} 已提交，不能再修改" in html.unescape(late.text)
    again = send(web, f"/e/sales_order/{order_id}/submit", {"version": version_on(page.text)})
    assert again.status_code == 409 and f"sales_order {stored['doc_no']} 当前为已提交状态" in html.unescape(again.text)
    web.client.cookies.set("jxc_lang", "en")  # the same refusals read as before in English
    late = send(web, f"/e/sales_order/{order_id}", {"version": version_on(page.text), "remark": "改一下"})
    assert f"sales_order {stored['doc_no']} is submitted and can no longer be changed" in html.unescape(late.text)
    again = send(web, f"/e/sales_order/{order_id}/submit", {"version": version_on(page.text)})
    assert f"sales_order {stored['doc_no']} is already submitted" in html.unescape(again.text)
    assert shop.system.get("sales_order", order_id)["remark"] is None


def test_cancel_then_amend_makes_a_corrected_copy_and_opens_it(shop: Shop) -> None:
    web = shop.web
    web.login("shou")
    order_id = sales_order(shop)
    send(web, f"/e/sales_order/{order_id}/submit", {"version": version_on(web.get(f"/e/sales_order/{order_id}").text)})
    page = web.get(f"/e/sales_order/{order_id}")
    response = send(web, f"/e/sales_order/{order_id}/cancel", {"version": version_on(page.text)})
    assert made_at(response, "sales_order") == order_id
    cancelled = web.get(f"/e/sales_order/{order_id}")
    assert "已作废" in visible_text(cancelled.text)
    assert buttons(cancelled.text) >= {"amend"} and "cancel" not in buttons(cancelled.text)

    copy_id = made_at(send(web, f"/e/sales_order/{order_id}/amend"), "sales_order")
    copy = shop.system.get("sales_order", copy_id)
    assert copy_id != order_id and copy["amended_from"] == order_id and copy["docstatus"] == "draft"
    assert copy["lines"][0]["qty"] == Decimal("2.000")
    copy_page = web.get(f"/e/sales_order/{copy_id}").text
    assert "save" in buttons(copy_page)
    cancelled_no = shop.system.get("sales_order", order_id)["doc_no"]
    assert re.search(rf'data-origin="amended_from">.*?<a href="/e/sales_order/{order_id}">销售订单 {cancelled_no}</a>',
                     copy_page, re.S)


def test_a_refused_action_shows_the_service_layers_message_on_the_form(shop: Shop) -> None:
    web = shop.web
    web.login("shou")
    order_id = sales_order(shop)
    stale = send(web, f"/e/sales_order/{order_id}/submit", {"version": "0"})
    assert stale.status_code == 409
    assert "在你打开之后已被" in html.unescape(stale.text)  # the conflict in the page's language (zh-CN)
    assert shop.system.get("sales_order", order_id)["docstatus"] == "draft"

    switch(shop, "cai")
    po = purchase_order(shop)
    switch(shop, "jing")  # a purchase order is submitted by its workflow's approval, not by "submit"
    refused = send(web, f"/e/purchase_order/{po}/submit", {"version": "1"})
    assert refused.status_code == 409
    assert "遵循工作流 采购审批" in html.unescape(refused.text)


def test_a_purchase_order_is_requested_approved_and_its_history_lists_each_step(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    po = purchase_order(shop)
    page = web.get(f"/e/purchase_order/{po}")
    assert "do:request" in buttons(page.text) and "do:approve" not in buttons(page.text)
    assert "submit" not in buttons(page.text)  # the workflow submits it
    response = send(web, f"/e/purchase_order/{po}/do/request", {"version": version_on(page.text),
                                                                "comment": "请审批"})
    assert made_at(response, "purchase_order") == po
    page = web.get(f"/e/purchase_order/{po}")
    assert "待部门审批" in visible_text(page.text)
    assert "do:approve" not in buttons(page.text) and "do:withdraw" in buttons(page.text)

    switch(shop, "jing")
    page = web.get(f"/e/purchase_order/{po}")
    assert {"do:approve", "do:reject"} <= buttons(page.text) and "do:escalate" not in buttons(page.text)
    unexplained = send(web, f"/e/purchase_order/{po}/do/reject", {"version": version_on(page.text)})
    assert unexplained.status_code in (409, 422)
    assert "comment" in html.unescape(unexplained.text)
    assert shop.system.get("purchase_order", po)["workflow_state"] == "pending"
    send(web, f"/e/purchase_order/{po}/do/approve", {"version": version_on(page.text), "comment": "同意"})
    stored = shop.system.get("purchase_order", po)
    assert (stored["workflow_state"], stored["docstatus"]) == ("approved", "submitted")

    history = web.get(f"/e/purchase_order/{po}/history")
    assert history.status_code == 200
    steps = [visible_text(step) for step in re.findall(r'<li class="step".*?</li>', history.text, re.S)]
    assert [step.split()[:2] for step in steps] == [["创建", "蔡采购"], ["提交审批", "蔡采购"], ["批准", "经理"]]
    assert "请审批" in steps[1] and "同意" in steps[2] and stored["doc_no"] in steps[2]
    assert "供应商 S01 宁波五金" in steps[0] and "物料 M8 螺栓" in steps[0]  # links by name, not by id
    assert "税率 13%" in steps[0] and "数量 10 " in steps[0]  # values as the form shows them
    assert "created_by" not in steps[0] and "version" not in steps[0]  # bookkeeping: the head says who and when
    assert "采购审批 草稿 待部门审批" in steps[1]  # the workflow's states, as the user reads them


def test_a_goods_receipt_is_made_from_an_approved_purchase_order_and_opened(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    po = purchase_order(shop)
    assert "make:purchase_receipt" not in buttons(web.get(f"/e/purchase_order/{po}").text)  # not approved yet
    shop.as_user("cai").transition("purchase_order", po, "request", version=1)
    shop.as_user("jing").transition("purchase_order", po, "approve", version=2)
    page = web.get(f"/e/purchase_order/{po}")
    assert "make:purchase_receipt" in buttons(page.text) and "确认收货" in page.text

    assert re.search(r'<form method="get" action="/e/purchase_receipt/new"', page.text)  # opens a form: nothing saved
    prefilled = web.get(f"/e/purchase_receipt/new?from=purchase_order&from_id={po}")
    assert prefilled.status_code == 200 and shop.system.list("purchase_receipt").rows == []
    receipt_id = made_at(send(web, "/e/purchase_receipt/new", form_values(prefilled.text)), "purchase_receipt")
    receipt = shop.system.get("purchase_receipt", receipt_id)
    order = shop.system.get("purchase_order", po)
    assert receipt["docstatus"] == "draft" and receipt["po_no"] == order["doc_no"]
    assert (receipt["made_from_entity"], receipt["made_from_id"]) == ("purchase_order", po)
    assert [(line["item"], line["qty"]) for line in receipt["lines"]] == [(shop.bolt, Decimal("10.000")),
                                                                          (shop.nut, Decimal("4.000"))]
    opened = web.get(f"/e/purchase_receipt/{receipt_id}")
    assert opened.status_code == 200
    origin = re.search(r'<span data-origin="made_from">(.*?)</span>', opened.text, re.S).group(1)
    assert f'<a href="/e/purchase_order/{po}">采购订单 {order["doc_no"]}</a>' in origin


def test_buttons_show_only_what_the_user_may_do(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    po = purchase_order(shop)
    switch(shop, "cw")  # finance reads purchase orders and does nothing with them
    page = web.get(f"/e/purchase_order/{po}")
    assert page.status_code == 200 and buttons(page.text) == set()
    refused = send(web, f"/e/purchase_order/{po}/do/request", {"version": "1"})
    assert refused.status_code == 403
    assert shop.system.get("purchase_order", po)["workflow_state"] == "draft"
    switch(shop, "xiao")  # sales may not even read purchase orders
    assert web.get(f"/e/purchase_order/{po}").status_code == 403


CLAIMS = """
name: claims
title: 报销
entities:
  claim:
    label: 报销单
    kind: document
    naming: BX-{YYYY}-{####}
    fields:
      title: {type: string, required: true, label: 事由}
      amount: {type: money, required: true, label: 金额}
      approver: {type: string, label: 审批人}
roles:
  staff:
    label: 员工
    permissions:
      claim: [read, create, write]
  boss:
    label: 老板
    permissions:
      claim: [read, write, submit]
workflows:
  claim_flow:
    entity: claim
    label: 报销审批
    states:
      draft: {label: 草稿, initial: true}
      approved: {label: 已批准, submit: true}
    transitions:
      - action: approve
        label: 批准
        from: draft
        to: approved
        roles: [boss]
        requires: [approver]
        comment: none
"""


def test_a_transition_asks_for_the_fields_it_requires_and_fills_them_in(db_engine) -> None:
    web = Web(start_on(db_engine, app_folder(CLAIMS)))
    web.user("yuan", "staff")
    web.user("lao", "boss")
    web.login("yuan")
    claim = made_at(send(web, "/e/claim/new", {"title": "出差", "amount": "880"}), "claim")
    switch_to(web, "lao")
    page = web.get(f"/e/claim/{claim}")
    approve = re.search(r'<form[^>]*action="/e/claim/\d+/do/approve".*?</form>', page.text, re.S).group(0)
    assert 'name="approver"' in approve and 'name="comment"' not in approve  # asked for; no comment taken

    refused = send(web, f"/e/claim/{claim}/do/approve", {"version": version_on(page.text)})
    assert refused.status_code in (409, 422)
    assert errors_at(refused.text, "approver") == ["执行 批准 (approve) 时必填"]
    assert web.started.records.system().get("claim", claim)["workflow_state"] == "draft"
    send(web, f"/e/claim/{claim}/do/approve", {"version": version_on(page.text), "approver": "老王"})
    stored = web.started.records.system().get("claim", claim)
    assert (stored["workflow_state"], stored["docstatus"], stored["approver"]) == ("approved", "submitted", "老王")
    web.close()


def test_a_draft_is_deleted_from_its_form_and_a_record_in_use_is_not(shop: Shop) -> None:
    web = shop.web
    web.login("shou")
    order_id = sales_order(shop)
    kept_id = sales_order(shop)
    assert "delete" in buttons(web.get(f"/e/sales_order/{order_id}").text)
    response = send(web, f"/e/sales_order/{order_id}/delete")
    assert response.status_code == 303 and response.headers["location"] == "/e/sales_order"
    assert [row["id"] for row in shop.system.list("sales_order").rows] == [kept_id]

    in_use = send(web, f"/e/customer/{shop.customer}/delete")
    assert in_use.status_code == 409
    assert "它被这些记录引用：1 销售订单" in html.unescape(in_use.text)
    assert shop.system.get("customer", shop.customer)["name"] == "华东机电"
    send(web, f"/e/sales_order/{kept_id}/submit", {"version": "1"})
    assert "delete" not in buttons(web.get(f"/e/sales_order/{kept_id}").text)


def test_save_and_submit_does_both_in_one_step_or_neither(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    assert "save-submit" not in buttons(web.get("/e/purchase_order/new").text)  # its workflow submits it
    switch(shop, "shou")
    assert "save-submit" in buttons(web.get("/e/sales_order/new").text)
    line = {"customer": str(shop.customer), "lines[0].item": str(shop.bolt)}
    refused = send(web, "/e/sales_order/new", {**line, "lines[0].qty": "-1", "then": "submit"})
    assert refused.status_code == 422 and shop.system.list("sales_order").rows == []
    order_id = made_at(send(web, "/e/sales_order/new", {**line, "lines[0].qty": "2", "then": "submit"}),
                       "sales_order")
    stored = shop.system.get("sales_order", order_id)
    assert stored["docstatus"] == "submitted" and stored["doc_no"].startswith("SO-")


# --- make from in the food app: the form is pre-filled, the user fills in what the mapping leaves open --------


def form_values(page: str) -> dict[str, str]:
    """What the record form on `page` posts as it is drawn (inputs, chosen options, text areas)."""
    form = re.search(r'<form method="post"[^>]*id="record-form".*?</form>', page, re.S).group(0)
    form = re.sub(r"<template.*?</template>", "", form, flags=re.S)
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and ('type="checkbox"' not in tag or " checked" in tag):
            values[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        values[name] = html.unescape(chosen.group(1)) if chosen else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(text)
    values.pop("csrf_token", None)
    return values


@pytest.fixture
def food(db_engine) -> Iterator[Web]:
    web = Web(start_on(db_engine, APPS / "food"))
    web.user("boss", "admin")
    web.user("chief", "admin")
    yield web
    web.close()


def _approved_order(web: Web) -> dict[str, int]:
    started = web.started

    def session(name: str) -> Session:
        return started.records.session(load_user(started.engine, started.app, started.records.schema, name))

    boss = session("boss")
    ids = {"cold": boss.create("warehouse", {"code": "WH-R", "name": "冷藏库", "storage": "chilled"})["id"],
           "supplier": boss.create("supplier", {"code": "S1", "name": "德青源"})["id"],
           "egg": boss.create("item", {"code": "RM-EGG", "name": "鲜鸡蛋", "unit": "kg", "storage": "chilled",
                                       "shelf_life_days": 45, "purchase_price": "11.60"})["id"],
           "milk": boss.create("item", {"code": "RM-MILK", "name": "牛奶", "unit": "l", "storage": "chilled",
                                        "shelf_life_days": 20, "purchase_price": "6.00"})["id"]}
    order = boss.create("purchase_order", {"supplier": ids["supplier"], "lines": [
        {"item": ids["egg"], "qty": 10, "price": "11.60"}, {"item": ids["milk"], "qty": 5, "price": "6.00"}]})
    order = boss.transition("purchase_order", order["id"], "request", version=order["version"])
    ids["order"] = session("chief").transition("purchase_order", order["id"], "approve",
                                               version=order["version"])["id"]
    return ids


@pytest.mark.both_dbs
def test_a_goods_receipt_made_from_an_order_is_filled_in_saved_submitted_and_the_order_shows_it(food: Web) -> None:
    web = food
    ids = _approved_order(web)
    system = web.started.records.system()
    web.login("boss")
    order_page = web.get(f"/e/purchase_order/{ids['order']}")
    assert "make:goods_receipt" in buttons(order_page.text) and "生成入库单" in order_page.text

    opened = web.get(f"/e/goods_receipt/new?from=purchase_order&from_id={ids['order']}")
    assert opened.status_code == 200 and system.list("goods_receipt").rows == []
    posted = form_values(opened.text)
    order_no = system.get("purchase_order", ids["order"])["doc_no"]
    assert order_no in visible_text(opened.text)  # the PO number the mapping sets, read-only
    assert (posted["supplier"], posted["lines[0].item"], posted["lines[0].qty"], posted["lines[1].qty"]) == (
        str(ids["supplier"]), str(ids["egg"]), "10", "5")
    assert posted["warehouse"] == "" and posted["lines[0].batch_no"] == ""  # left to the user

    refused = send(web, "/e/goods_receipt/new", posted)  # saved as opened: what is missing is shown, not saved
    assert refused.status_code == 422 and system.list("goods_receipt").rows == []
    assert errors_at(refused.text, "warehouse") and errors_at(refused.text, "lines[1].expiry")
    again = form_values(refused.text)  # the form drawn again still makes the receipt from the order
    assert (again["made_from_entity"], again["made_from_id"], again["lines[1]._from"]) == (
        "purchase_order", str(ids["order"]), posted["lines[1]._from"])

    again.update({"warehouse": str(ids["cold"]), "warehouse__text": "", "lines[0].qty": "6",
                  "lines[0].batch_no": "EG2611", "lines[0].production_date": "2026-11-20",
                  "lines[0].expiry": "2027-01-05", "lines[1]._delete": "on"})  # 6 eggs arrived, no milk yet
    receipt_id = made_at(send(web, "/e/goods_receipt/new", again), "goods_receipt")
    receipt = system.get("goods_receipt", receipt_id)
    assert (receipt["docstatus"], receipt["made_from_entity"], receipt["made_from_id"]) == (
        "draft", "purchase_order", ids["order"])
    assert receipt["po_no"] == order_no
    assert [(line["item"], line["qty"], line["batch_no"]) for line in receipt["lines"]] == [
        (ids["egg"], Decimal("6.000"), "EG2611")]

    page = web.get(f"/e/goods_receipt/{receipt_id}")
    assert made_at(send(web, f"/e/goods_receipt/{receipt_id}/submit", {"version": version_on(page.text)}),
                   "goods_receipt") == receipt_id
    order = system.get("purchase_order", ids["order"])
    assert [line["received_qty"] for line in order["lines"]] == [Decimal("6.000"), Decimal("0.000")]
    assert "部分收货" in visible_text(web.get(f"/e/purchase_order/{ids['order']}").text)
    left = form_values(web.get(f"/e/goods_receipt/new?from=purchase_order&from_id={ids['order']}").text)
    assert (left["lines[0].qty"], left["lines[1].qty"]) == ("4", "5")  # what is still open comes over next time


def test_a_line_received_meanwhile_is_pointed_at_and_nothing_is_saved(food: Web) -> None:
    web = food
    ids = _approved_order(web)
    system = web.started.records.system()
    web.login("boss")
    posted = form_values(web.get(f"/e/goods_receipt/new?from=purchase_order&from_id={ids['order']}").text)
    posted.update({"warehouse": str(ids["cold"]), "warehouse__text": ""})
    for index in (0, 1):
        posted.update({f"lines[{index}].batch_no": f"B{index}", f"lines[{index}].production_date": "2026-11-20",
                       f"lines[{index}].expiry": "2027-01-05"})
    meanwhile = system.make_from("goods_receipt", "purchase_order", ids["order"], {  # all the milk, elsewhere
        "warehouse": ids["cold"], "lines": [None, {"batch_no": "M1", "production_date": "2026-11-20",
                                                   "expiry": "2026-12-05"}]})
    system.submit("goods_receipt", meanwhile["id"], version=meanwhile["version"])

    refused = send(web, "/e/goods_receipt/new", posted)
    assert refused.status_code == 422
    assert [receipt["id"] for receipt in system.list("goods_receipt").rows] == [meanwhile["id"]]
    assert errors_at(refused.text, "lines[1]") == [
        "purchase_order 的这一行已没有可继续处理的数量（在此期间已被处理）；请删除这一行"]
    again = form_values(refused.text)
    again["lines[1]._delete"] = "on"
    receipt_id = made_at(send(web, "/e/goods_receipt/new", again), "goods_receipt")
    assert [line["item"] for line in system.get("goods_receipt", receipt_id)["lines"]] == [ids["egg"]]
