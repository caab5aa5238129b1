"""The inbox page (engine.web.inbox) on apps/no_stock's purchase approval: a purchase order awaiting approval
is listed for the approver with the actions they may take, and for no one else; an action taken there moves
the order (or is refused with its reason, leaving it as it was); alert messages are listed for their
recipient only and marked read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.notify.queue import Notification, notify
from engine.notify.tables import notify_tables
from engine.users import load_user
from engine.web import app as web_app_module
from engine.web.inbox import record_link
from tests.web_helpers import Web, start_on, visible_text

NO_STOCK = Path(__file__).parent.parent / "apps" / "no_stock"


class Approval:
    """apps/no_stock with a purchaser (zhao), a purchasing manager (qian), the general manager (wang) and a
    salesperson's manager (sun); zhao has asked for approval of a 28,250.00 order."""

    def __init__(self, started, web: Web) -> None:
        self.started = started
        self.web = web
        for name, role in (("zhao", "purchaser"), ("qian", "purchase_manager"), ("wang", "general_manager"),
                           ("sun", "sales_manager")):
            web.user(name, role)
        records = started.records
        system = records.system()
        item = system.create("item", {"code": "A", "name": "螺栓", "purchase_price": "100"})
        supplier = system.create("supplier", {"code": "S001", "name": "宁波紧固件"})
        zhao = self.session("zhao")
        order = zhao.create("purchase_order", {"supplier": supplier["id"],
                                               "lines": [{"item": item["id"], "qty": "250"}]})
        self.order = zhao.transition("purchase_order", order["id"], "request", version=order["version"])

    def session(self, name: str):
        records = self.started.records
        return records.session(load_user(records.engine, records.app, records.schema, name))

    def as_user(self, name: str) -> None:
        self.web.client.cookies.clear()
        self.web.login(name)

    def current(self):
        return self.started.records.system().get("purchase_order", self.order["id"])

    def act(self, action: str, *, version: int | None = None, comment: str = ""):
        return self.web.post("/inbox/act", {"entity": "purchase_order", "id": str(self.order["id"]),
                                            "action": action, "comment": comment,
                                            "version": str(version if version is not None else
                                                           self.current()["version"])}, token_from="/inbox")


@pytest.fixture
def approval(db_engine, monkeypatch) -> Iterator[Approval]:
    modules = [m for m in ("engine.web.inbox", "engine.web.dashboards") if m not in web_app_module.WEB_MODULES]
    monkeypatch.setattr(web_app_module, "WEB_MODULES", (*web_app_module.WEB_MODULES, *modules))
    started = start_on(db_engine, NO_STOCK)
    web = Web(started, secret_key="test-secret")
    yield Approval(started, web)
    web.close()


def waiting_items(html: str) -> list[tuple[str, str]]:
    """(entity, id) of each document listed as waiting."""
    section = html.split('id="waiting"')[1].split('id="messages"')[0]
    return re.findall(r'<li class="inbox-item" data-entity="([a-z_]+)" data-id="(\d+)"', section)


@pytest.mark.both_dbs
def test_the_approver_sees_the_order_with_the_actions_they_may_take(approval: Approval) -> None:
    order_id = str(approval.order["id"])
    approval.as_user("qian")
    page = approval.web.get("/inbox")
    assert page.status_code == 200
    assert waiting_items(page.text) == [("purchase_order", order_id)]
    text = visible_text(page.text)
    assert "采购订单" in text and "待部门审批" in text
    buttons = re.findall(r'<button type="submit" name="action" value="([a-z_]+)"', page.text)
    assert buttons == ["approve", "reject", "withdraw"]
    assert f'href="/e/purchase_order/{order_id}"' in page.text
    assert f'name="version" value="{approval.order["version"]}"' in page.text
    for other in ("zhao", "wang", "sun"):  # the author, a GM (who may only reject here), someone else entirely
        approval.as_user(other)
        page = approval.web.get("/inbox")
        assert waiting_items(page.text) == [], other
        assert "没有待您处理的单据" in visible_text(page.text)


@pytest.mark.both_dbs
def test_approving_from_the_inbox(approval: Approval) -> None:
    approval.as_user("qian")
    response = approval.act("approve", comment="同意")
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    order = approval.current()
    assert (order["workflow_state"], order["docstatus"]) == ("approved", "submitted")
    page = approval.web.get("/inbox")
    assert f"已完成：{order['doc_no']}，批准。" in visible_text(page.text)
    assert waiting_items(page.text) == []
    assert "已完成" not in visible_text(approval.web.get("/inbox").text)  # the notice is shown once


@pytest.mark.both_dbs
def test_refusals_are_shown_and_change_nothing(approval: Approval) -> None:
    approval.as_user("qian")
    before = approval.current()
    rejected = approval.act("reject")  # a rejection needs a reason
    assert rejected.status_code == 422
    assert "1 个问题：comment: 驳回 (reject) 需要填写意见（原因）" in visible_text(rejected.text)  # zh-CN
    stale = approval.act("approve", version=before["version"] - 1)  # the page was drawn before a change
    assert stale.status_code == 409
    assert approval.current() == before
    assert waiting_items(stale.text) == [("purchase_order", str(before["id"]))]  # the inbox is shown again
    approval.as_user("sun")
    assert approval.act("approve").status_code in (403, 404)
    assert approval.current() == before
    bad = approval.web.post("/inbox/act", {"entity": "purchase_order", "id": "x", "action": "approve",
                                           "version": "1"}, token_from="/inbox")
    assert bad.status_code == 400 and "Traceback" not in bad.text
    huge = approval.web.post("/inbox/act", {"entity": "purchase_order", "id": str(10 ** 30), "action": "approve",
                                            "version": "1"}, token_from="/inbox")
    assert huge.status_code == 400
    assert approval.web.post("/inbox/read", {"id": "-1"}, token_from="/inbox").status_code == 400
    unknown = approval.web.post("/inbox/act", {"entity": "no_such_thing", "id": "1", "action": "approve",
                                               "version": "1"}, token_from="/inbox")
    assert unknown.status_code == 404 and "Traceback" not in unknown.text


def nav_label(html: str) -> str:
    found = re.search(r'data-nav="inbox"[^>]*>([^<]*)</a>', html)
    assert found, "no inbox in the navigation"
    return found.group(1)


def send(approval: Approval, key: str, subject: str, user: str, path: str | None = None) -> None:
    records = approval.started.records
    with records.engine.begin() as connection:
        notify(connection, records, Notification(key=key, subject=subject, text=f"{subject}：请跟进\n第二行",
                                                 path=path, source="alert:purchase_order_late"), users=[user])


@pytest.mark.both_dbs
def test_alert_messages_are_listed_for_their_recipient_and_marked_read(approval: Approval) -> None:
    order_id = approval.order["id"]
    send(approval, "m1", "采购订单逾期未到货", "qian", f"/e/purchase_order/{order_id}")
    send(approval, "m2", "另一条提醒 <script>", "qian")
    send(approval, "m3", "给别人的提醒", "zhao")
    approval.as_user("qian")
    page = approval.web.get("/inbox").text
    assert nav_label(page) == "待办 (2)"
    titles = re.findall(r'data-message="\d+"', page)
    assert len(titles) == 2 and "给别人的提醒" not in page
    assert f'<a href="/e/purchase_order/{order_id}">采购订单逾期未到货</a>' in page
    assert "另一条提醒 &lt;script&gt;" in page and "<script>" not in page.split('id="messages"')[1]
    assert "未读 2" in visible_text(page)
    first = re.search(r'data-message="(\d+)"', page)
    assert first
    response = approval.web.post("/inbox/read", {"id": first.group(1)}, token_from="/inbox")
    assert response.status_code == 303
    page = approval.web.get("/inbox").text
    assert "已将 1 条消息标为已读" in visible_text(page) and nav_label(page) == "待办 (1)"
    approval.web.post("/inbox/read", {}, token_from="/inbox")  # mark all read
    page = approval.web.get("/inbox").text
    assert nav_label(page) == "待办" and "unread" not in page.split('id="messages"')[1]
    inbox = notify_tables(approval.started.records.schema).inbox
    with approval.started.engine.connect() as connection:
        unread = connection.execute(select(inbox.c.title).where(inbox.c.read_at.is_(None))).scalars().all()
    assert unread == ["给别人的提醒"]  # zhao's message is untouched


def test_message_links_stay_on_this_site() -> None:
    assert record_link("/e/purchase_order/12") == "/e/purchase_order/12"
    assert record_link("/dashboards/stock_board") == "/dashboards/stock_board"
    assert [record_link(link) for link in ("javascript:alert(1)", "//evil.example/x", "https://evil.example",
                                           "", None)] == [None] * 5
