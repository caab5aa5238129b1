"""Permissions on every call of the service layer: entity rights per verb, hidden and read-only fields, row
rules, and no path around them (history, draft_from, make_from, list, filters, sorting). SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from engine.errors import InvalidQuery, NotFound, PermissionDenied, ValidationFailed
from tests.service_helpers import D, make_user, problems, snapshot

pytest_plugins = ["tests.service_fixtures"]
pytestmark = pytest.mark.both_dbs


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(PermissionDenied) as caught:
        call(*args, **kwargs)
    return caught.value.message


def purchasing(records):
    session = records.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "purchase_price": "8"})
    supplier = session.create("supplier", {"code": "S001", "name": "宁波紧固件"})
    return session, item, supplier


def test_each_verb_needs_its_right_on_the_entity(records, user):
    _, item, supplier = purchasing(records)
    zhao = records.session(user("zhaomin", "purchaser"))
    qian = records.session(user("qian", "purchase_manager"))
    sun = records.session(user("sunli", "sales_manager"))
    nobody = records.session(user("nobody"))
    boss = records.session(user("boss", "admin"))

    # the purchaser writes orders but may not submit, cancel or amend them
    order = zhao.create("purchase_order", {"supplier": supplier["id"], "lines": [{"item": item["id"], "qty": "5"}]})
    order = zhao.update("purchase_order", order["id"], {"buyer": "赵敏"}, version=order["version"])
    assert refused(zhao.submit, "purchase_order", order["id"], version=order["version"]) \
        == "zhaomin may not submit 采购订单 (purchase_order)"
    # the manager approves (which submits), cancels and amends, but neither creates nor deletes orders
    assert refused(qian.create, "purchase_order", {"supplier": supplier["id"]}) \
        == "qian may not create 采购订单 (purchase_order)"
    assert refused(qian.delete, "purchase_order", order["id"]) == "qian may not delete 采购订单 (purchase_order)"
    order = zhao.transition("purchase_order", order["id"], "request", version=order["version"])
    order = qian.transition("purchase_order", order["id"], "approve", version=order["version"])
    assert refused(zhao.cancel, "purchase_order", order["id"], version=order["version"]) \
        == "zhaomin may not cancel 采购订单 (purchase_order)"
    order = qian.transition("purchase_order", order["id"], "cancel", version=order["version"], comment="作废")
    assert refused(zhao.amend, "purchase_order", order["id"]) == "zhaomin may not amend 采购订单 (purchase_order)"
    copy = qian.amend("purchase_order", order["id"])  # the right to amend makes the corrected copy
    assert (copy["amended_from"], copy["created_by"]) == (order["id"], qian.user.id)

    # sales may not see purchase orders at all; a user without roles sees nothing
    before = snapshot(records)
    assert refused(sun.get, "purchase_order", order["id"]) == "sunli may not read 采购订单 (purchase_order)"
    assert refused(sun.update, "purchase_order", copy["id"], {"buyer": "x"}, version=copy["version"]) \
        == "sunli may not write 采购订单 (purchase_order)"
    assert refused(sun.update, "item", item["id"], {"name": "x"}, version=item["version"]) \
        == "sunli may not write 商品 (item)"
    assert refused(nobody.get, "item", item["id"]) == "nobody may not read 商品 (item)"
    assert refused(nobody.create, "customer", {"code": "C9", "name": "x"}) == "nobody may not create 客户 (customer)"
    assert snapshot(records) == before
    # the admin role may do everything
    assert boss.delete("purchase_order", copy["id"]) is None
    assert boss.get("supplier", supplier["id"])["name"] == "宁波紧固件"


def test_no_path_around_the_right_to_read(records, user):
    session, item, supplier = purchasing(records)
    order = session.create("purchase_order", {"supplier": supplier["id"], "lines": [{"item": item["id"], "qty": "5"}]})
    order = session.submit("purchase_order", order["id"], version=order["version"])
    sun = records.session(user("sunli", "sales_manager"))
    finance = records.session(user("cai", "finance"))
    before = snapshot(records)

    expected = "sunli may not read 采购订单 (purchase_order)"
    assert refused(sun.list, "purchase_order") == expected
    assert refused(sun.history, "purchase_order", order["id"]) == expected
    assert refused(sun.draft_from, "supplier_payment", "purchase_order", order["id"]) == expected
    assert refused(sun.make_from, "supplier_payment", "purchase_order", order["id"]) \
        == "sunli may not create 付款单 (supplier_payment)"
    # reading the order is not the right to make a receipt from it
    assert refused(finance.make_from, "purchase_receipt", "purchase_order", order["id"]) \
        == "cai may not create 收货确认单 (purchase_receipt)"
    assert snapshot(records) == before
    payment = finance.make_from("supplier_payment", "purchase_order", order["id"])
    assert (payment["amount"], payment["note"]) == (D("45.20"), "采购订单 PO-202603-0001")


def test_hidden_fields_are_absent_everywhere_and_cannot_be_written(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10", "cost": "7", "area": "east"})
    clerk = toy.session(make_user(toy, "clerk", "clerk"))

    shown = clerk.get("item", item["id"])
    assert "cost" not in shown and "margin" not in shown and shown["price"] == D("10.00")
    assert all("cost" not in row and "margin" not in row for row in clerk.list("item").rows)

    before = snapshot(toy)
    with pytest.raises(ValidationFailed) as caught:
        clerk.create("item", {"code": "B", "name": "螺母", "cost": "3", "price": "4", "margin": "1"})
    assert problems(caught.value) == {"cost": "item has no field 'cost'", "price": "is read-only for you",
                                      "margin": "item has no field 'margin'"}  # not its formula either
    with pytest.raises(ValidationFailed) as caught:
        clerk.update("item", item["id"], {"cost": "1"}, version=item["version"])
    assert problems(caught.value) == {"cost": "item has no field 'cost'"}
    assert snapshot(toy) == before

    created = clerk.create("item", {"code": "B", "name": "螺母"})
    assert "cost" not in created and "margin" not in created and created["price"] == D("0.00")
    updated = clerk.update("item", item["id"], {"name": "六角螺栓"}, version=item["version"])
    assert "cost" not in updated
    assert session.get("item", item["id"])["cost"] == D("7.00")  # the hidden value is kept

    # in documents and their rows
    order = clerk.create("purchase_order", {"supplier": "东方", "lines": [{"item": item["id"], "qty": "2"}]})
    assert "secret" not in order and "list_price" not in order["lines"][0] and order["gross"] == D("20.00")
    with pytest.raises(ValidationFailed) as caught:
        clerk.update("purchase_order", order["id"], {"secret": "回扣", "lines": [
            {"id": order["lines"][0]["id"], "list_price": "1", "received": "2"}]}, version=order["version"])
    assert problems(caught.value) == {"secret": "purchase_order has no field 'secret'",
                                      "lines[0].list_price": "purchase_order_lines has no field 'list_price'",
                                      "lines[0].received": "is read-only"}
    # read-only fields are read-only for everybody, the system included
    with pytest.raises(ValidationFailed) as caught:
        session.update("purchase_order", order["id"], {"lines": [{"id": order["lines"][0]["id"], "received": "2"}]},
                       version=order["version"])
    assert problems(caught.value) == {"lines[0].received": "is read-only"}


def test_the_history_of_a_record_does_not_show_hidden_fields(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10", "cost": "7"})
    session.update("item", item["id"], {"cost": "8", "name": "六角螺栓"}, version=item["version"])
    order = session.create("purchase_order", {"supplier": "东方", "secret": "回扣",
                                              "lines": [{"item": item["id"], "qty": "2"}]})
    clerk = toy.session(make_user(toy, "clerk", "clerk"))

    created, updated = clerk.history("item", item["id"])
    assert (created["changes"]["code"], updated["changes"]) == ([None, "A"], {"name": ["螺栓", "六角螺栓"]})
    assert "cost" not in created["changes"] and "margin" not in created["changes"]
    assert "cost" in session.history("item", item["id"])[1]["changes"]  # the admin sees everything

    [entry] = clerk.history("purchase_order", order["id"])
    assert "secret" not in entry["changes"]
    [row] = entry["changes"]["lines"].values()
    assert "list_price" not in row and row["qty"] == [None, "2.000"]


def test_hidden_fields_cannot_be_used_to_filter_sort_or_search(toy):
    session = toy.system()
    session.create("item", {"code": "A", "name": "螺栓", "cost": "7", "note": "机密"})
    clerk = toy.session(make_user(toy, "clerk", "clerk"))
    local = toy.session(make_user(toy, "dong", "east"))

    for text, message in [
        ("cost > 5", "filter, column 1: item has no field 'cost'"),
        ('name = "螺栓" AND margin > 0', "filter, column 17: item has no field 'margin'"),
    ]:
        with pytest.raises(InvalidQuery) as caught:
            clerk.list("item", filter=text)
        assert caught.value.message == message
    with pytest.raises(InvalidQuery) as caught:
        clerk.list("item", sort="-cost")
    assert caught.value.message == "cannot sort by 'cost': item has no such column"
    assert [row["code"] for row in clerk.list("item", filter="price >= 0", sort="name").rows] == ["A"]
    with pytest.raises(InvalidQuery) as caught:
        clerk.list("purchase_order", filter="SUM(lines.list_price) > 0")
    assert caught.value.message == "filter, column 5: purchase_order_lines has no field 'list_price'"
    # following a link into records the user may not read tells nothing either
    assert [row["code"] for row in clerk.list("item", filter='region.code = "E"').rows] == []  # clerks read regions
    with pytest.raises(InvalidQuery) as caught:
        local.list("item", filter='region.code = "E"')
    assert caught.value.message == "filter, column 1: region has no field 'code'"


def test_row_rules_limit_what_a_role_sees_and_roles_add_up(toy):
    session = toy.system()
    east = session.create("item", {"code": "E1", "name": "东区螺栓", "area": "east"})
    west = session.create("item", {"code": "W1", "name": "西区螺栓", "area": "west"})
    blank = session.create("item", {"code": "N1", "name": "无区域"})
    ours = session.create("purchase_order", {"supplier": "东方", "lines": [{"item": east["id"], "qty": "1"}]})
    theirs = session.create("purchase_order", {"supplier": "西方", "lines": [{"item": west["id"], "qty": "1"}]})
    theirs = session.submit("purchase_order", theirs["id"], version=theirs["version"])
    local = toy.session(make_user(toy, "dong", "east"))
    both = toy.session(make_user(toy, "auditor", "east", "auditor"))

    assert [row["code"] for row in local.list("item", sort="code").rows] == ["E1"]
    assert [row["code"] for row in local.list("item", filter='code <> "E1"').rows] == []
    assert local.get("item", east["id"])["code"] == "E1"
    for record_id in (west["id"], blank["id"]):
        with pytest.raises(NotFound) as caught:
            local.get("item", record_id)
        assert caught.value.message == f"there is no item with id {record_id}"  # as if it did not exist
    with pytest.raises(NotFound):
        local.history("item", west["id"])
    assert [row["supplier"] for row in local.list("purchase_order").rows] == ["东方"]
    assert local.get("purchase_order", ours["id"])["supplier"] == "东方"
    with pytest.raises(NotFound):
        local.history("purchase_order", theirs["id"])
    with pytest.raises(NotFound):
        local.draft_from("goods_receipt", "purchase_order", theirs["id"])

    # a second role without row rules on items shows them all; orders stay limited by the first
    assert [row["code"] for row in both.list("item", sort="code").rows] == ["E1", "N1", "W1"]
    assert both.get("item", west["id"])["code"] == "W1"
    assert [row["supplier"] for row in both.list("purchase_order").rows] == ["东方"]


def test_buyer_makes_a_receipt_only_from_orders_it_may_read(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    order = session.create("purchase_order", {"supplier": "东方", "lines": [{"item": item["id"], "qty": "10"}]})
    order = session.submit("purchase_order", order["id"], version=order["version"])
    buyer = toy.session(make_user(toy, "buyer", "buyer"))
    local = toy.session(make_user(toy, "dong", "east"))
    receiver = toy.session(make_user(toy, "receiver", "receiver"))

    # the right to create receipts is not the right to read the orders they are made from
    assert refused(receiver.make_from, "goods_receipt", "purchase_order", order["id"]) \
        == "receiver may not read 采购订单 (purchase_order)"
    assert refused(receiver.draft_from, "goods_receipt", "purchase_order", order["id"]) \
        == "receiver may not read 采购订单 (purchase_order)"
    receipt = buyer.make_from("goods_receipt", "purchase_order", order["id"])
    receipt = buyer.submit("goods_receipt", receipt["id"], version=receipt["version"])
    assert buyer.get("purchase_order", order["id"])["receipt_status"] == "done"
    assert refused(local.make_from, "goods_receipt", "purchase_order", order["id"]) \
        == "dong may not create 入库单 (goods_receipt)"
    assert refused(buyer.amend, "goods_receipt", receipt["id"]) == "buyer may not amend 入库单 (goods_receipt)"


def test_a_row_rule_on_the_current_user_shows_each_salesperson_their_own_orders(records, user):
    session = records.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "sale_price": "10"})
    customer = session.create("customer", {"code": "C1", "name": "客户"})
    sun = records.session(user("sunli", "sales"))
    zhou = records.session(user("zhou", "sales"))
    mine = sun.create("sales_order", {"customer": customer["id"], "lines": [{"item": item["id"], "qty": "1"}]})
    theirs = zhou.create("sales_order", {"customer": customer["id"], "lines": [{"item": item["id"], "qty": "2"}]})

    assert [row["id"] for row in sun.list("sales_order").rows] == [mine["id"]]
    assert sun.get("sales_order", mine["id"])["id"] == mine["id"]
    with pytest.raises(NotFound):
        sun.get("sales_order", theirs["id"])
    with pytest.raises(NotFound):
        sun.update("sales_order", theirs["id"], {"remark": "x"}, version=theirs["version"])
