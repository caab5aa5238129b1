"""The service layer's records: create/get/update/delete with server-side defaults, computed fields and
validation (every problem at once, by field, nothing written), optimistic locking, referential integrity and
the audit log. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import Conflict, InUse, NotFound, ValidationFailed
from tests.service_helpers import NOW, D, audit_entries, count, problems, snapshot

pytest_plugins = ["tests.service_fixtures"]
pytestmark = pytest.mark.both_dbs


def master_data(session):
    category = session.create("item_category", {"code": "FAST", "name": "紧固件"})
    bolt = session.create("item", {"code": "M8-30", "name": "六角螺栓", "unit": "box", "category": category["id"],
                                   "sale_price": "45.00", "purchase_price": "32.00"})
    nut = session.create("item", {"code": "M8-N", "name": "六角螺母", "unit": "box", "sale_price": "18",
                                  "tax_rate": "9%"})
    customer = session.create("customer", {"code": "C001", "name": "华东五金", "credit_limit": "200000"})
    return bolt, nut, customer


def test_create_fills_defaults_computes_totals_and_get_reads_the_same_record(records):
    session = records.system()
    bolt, nut, customer = master_data(session)
    assert (bolt["unit"], bolt["tax_rate"], bolt["active"], nut["purchase_price"]) == ("box", D("0.1300"), True,
                                                                                      D("0.00"))

    order = session.create("sales_order", {"customer": customer["id"], "lines": [
        {"item": bolt["id"], "qty": "120"},
        {"item": nut["id"], "qty": "10", "price": "20", "discount": "10%"}]})

    # defaults: today's date, prices and tax rates from the items, no discount, nothing delivered or paid
    assert order["order_date"] == NOW.date()
    assert [(line["price"], line["tax_rate"], line["discount"], line["delivered_qty"]) for line in order["lines"]] \
        == [(D("45.00"), D("0.1300"), D("0.0000"), D("0.000")), (D("20.00"), D("0.0900"), D("0.1000"), D("0.000"))]
    # computed, rows first: 120 × 45 = 5400 (tax 702), 10 × 20 × 0.9 = 180 (tax 16.20)
    assert [(line["amount"], line["tax"], line["amount_with_tax"]) for line in order["lines"]] \
        == [(D("5400.00"), D("702.00"), D("6102.00")), (D("180.00"), D("16.20"), D("196.20"))]
    assert (order["subtotal"], order["tax"], order["total"], order["unpaid_amount"]) \
        == (D("5580.00"), D("718.20"), D("6298.20"), D("6298.20"))
    assert (order["docstatus"], order["doc_no"], order["delivery_status"], order["version"]) \
        == ("draft", None, "pending", 1)
    assert (order["created_at"], order["modified_at"]) == (NOW, NOW)

    assert session.get("sales_order", order["id"]) == order


def test_computed_fields_run_in_the_order_their_formulas_need(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    # net is declared before rebate, rebate before gross, gross sums the rows
    order = session.create("purchase_order", {"supplier": "东方", "discount": "10%", "lines": [
        {"item": item["id"], "qty": "3"}, {"item": item["id"], "qty": "2", "price": "12.5"}]})
    assert (order["gross"], order["rebate"], order["net"]) == (D("55.00"), D("5.50"), D("49.50"))
    assert session.get("purchase_order", order["id"])["net"] == D("49.50")


def test_given_values_are_converted_to_what_the_fields_hold(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "1,280.5", "rank": "3", "since": "2026-03-01",
                                   "checked_at": "2026-01-31T08:30:00Z"})
    # a time with an offset is kept as the app's local time (Asia/Shanghai)
    assert (item["price"], item["rank"], item["since"], item["checked_at"]) \
        == (D("1280.50"), 3, dt.date(2026, 3, 1), dt.datetime(2026, 1, 31, 16, 30))
    assert session.get("item", item["id"]) == item
    item = session.update("item", item["id"], {"checked_at": "2026-02-01 09:15", "area": ""}, version=1)
    assert (item["checked_at"], item["area"]) == (dt.datetime(2026, 2, 1, 9, 15), None)
    with pytest.raises(ValidationFailed) as caught:
        session.update("item", item["id"], {"rank": "2.5", "price": "1.005", "area": "north", "checked_at": "noon"},
                       version=item["version"])
    assert problems(caught.value) == {
        "rank": "must be a whole number, not 2.5", "price": "has more than 2 decimal places",
        "area": "'north' is not one of the options: east (华东), west (华西)",
        "checked_at": "'noon' is not a date and time; write it as 2026-01-31 08:30"}


def test_update_changes_adds_and_removes_rows_and_recomputes(records):
    session = records.system()
    bolt, nut, customer = master_data(session)
    order = session.create("sales_order", {"customer": customer["id"], "lines": [
        {"item": bolt["id"], "qty": "1"}, {"item": nut["id"], "qty": "2"}]})
    first, second = order["lines"]

    changed = session.update("sales_order", order["id"], {"remark": "急", "lines": [
        {"id": second["id"], "qty": "5"},          # kept (now first), quantity changed, price kept
        {"item": bolt["id"], "qty": "2"}]},        # new row; the first row is gone
        version=order["version"])

    assert changed["version"] == 2
    assert [(line["item"], line["qty"], line["price"]) for line in changed["lines"]] \
        == [(nut["id"], D("5.000"), D("18.00")), (bolt["id"], D("2.000"), D("45.00"))]
    assert changed["lines"][0]["id"] == second["id"] and first["id"] not in {line["id"] for line in changed["lines"]}
    assert (changed["subtotal"], changed["total"]) == (D("180.00"), D("199.80"))  # 90 + 90; tax 8.10 (9%) + 11.70
    assert session.get("sales_order", order["id"]) == changed
    assert count(records, "sales_order_lines") == 2


def test_every_problem_of_the_given_values_comes_back_at_once_by_field_and_nothing_is_written(records):
    session = records.system()
    bolt, _, customer = master_data(session)
    before = snapshot(records)

    with pytest.raises(ValidationFailed) as caught:
        session.create("sales_order", {
            "customr": customer["id"], "doc_no": "SO-1", "total": "5", "order_date": "yesterday",
            "lines": [{"item": bolt["id"], "qty": "abc"}, {"item": 999, "qty": "1"}, {"qty": "2"}]})

    found = problems(caught.value)
    assert found["customr"] == "sales_order has no field 'customr' (did you mean 'customer'?)"
    assert found["doc_no"] == "is set by jxc and cannot be given"
    assert found["total"] == "is computed (subtotal + tax) and cannot be given"
    assert found["order_date"] == "'yesterday' is not a date; write it as 2026-01-31"
    assert found["lines[0].qty"] == "'abc' is not a number"
    assert found["lines[1].item"] == "there is no item with id 999"
    assert found["lines[2].item"] == "is required"
    assert found["customer"] == "is required"
    assert caught.value.message.startswith(f"{len(caught.value.problems)} problems: ")
    assert snapshot(records) == before  # no order, no rows, no audit entry


def test_validation_formulas_of_the_record_and_its_rows_are_all_reported(records):
    session = records.system()
    bolt, _, _ = master_data(session)
    small = session.create("customer", {"code": "C002", "name": "小客户", "credit_limit": "100"})
    before = snapshot(records)

    with pytest.raises(ValidationFailed) as caught:
        session.create("sales_order", {"customer": small["id"], "delivery_date": "2026-03-01", "lines": [
            {"item": bolt["id"], "qty": "10"},
            {"item": bolt["id"], "qty": "0", "price": "-1"},
            {"item": bolt["id"], "qty": "3", "discount": "150%"}]})

    assert problems(caught.value) == {
        "": "交货日期不能早于订单日期 | 订单价税合计超过了该客户的信用额度，请调整订单或申请提高额度",
        "lines[1].qty": "数量必须大于 0",
        "lines[1].price": "单价不能为负",
        "lines[2].discount": "折扣率应在 0% 到 100% 之间",
    }
    with pytest.raises(ValidationFailed) as caught:
        session.create("sales_order", {"lines": []})
    assert problems(caught.value) == {"customer": "is required", "lines": "needs at least one row"}
    assert snapshot(records) == before


def test_required_if_unique_and_composite_unique_are_enforced_on_the_server(toy):
    session = toy.system()
    east = session.create("region", {"code": "E", "name": "华东"})
    session.create("item", {"code": "A", "name": "螺栓", "region": east["id"]})
    before = snapshot(toy)

    with pytest.raises(ValidationFailed) as caught:
        session.create("item", {"code": "A", "name": "螺栓", "region": east["id"], "status": "stopped",
                                "price": "-2"})
    assert problems(caught.value) == {
        "code": "'A' is already used by another item (id 1)",
        "name": "these values are already used by another item (id 1)",
        "stop_reason": 'is required when status = "stopped"',
        "price": "单价不能为负",
    }
    assert snapshot(toy) == before

    # the same name in another region, with a reason for stopping: fine
    other = session.create("item", {"code": "B", "name": "螺栓", "status": "stopped", "stop_reason": "停产"})
    # a record does not collide with itself when saved again
    again = session.update("item", other["id"], {"note": "备注"}, version=other["version"])
    assert again["version"] == 2
    with pytest.raises(ValidationFailed) as caught:
        session.update("item", other["id"], {"code": "A", "stop_reason": ""}, version=again["version"])
    assert problems(caught.value) == {"code": "'A' is already used by another item (id 1)",
                                      "stop_reason": 'is required when status = "stopped"'}
    assert session.get("item", other["id"])["code"] == "B"


def test_a_failed_update_leaves_the_record_and_the_audit_log_as_they_were(records):
    session = records.system()
    bolt, _, customer = master_data(session)
    order = session.create("sales_order", {"customer": customer["id"], "lines": [{"item": bolt["id"], "qty": "1"}]})
    before = snapshot(records)

    with pytest.raises(ValidationFailed) as caught:
        session.update("sales_order", order["id"], {"remark": "改了", "lines": [
            {"id": order["lines"][0]["id"], "qty": "-5"}, {"id": 12345, "qty": "1"}]}, version=order["version"])
    assert problems(caught.value) == {"lines[1]": "there is no row with id 12345 in this sales_order"}
    with pytest.raises(ValidationFailed) as caught:
        session.update("sales_order", order["id"], {"remark": "改了", "lines": [
            {"id": order["lines"][0]["id"], "qty": "-5"}]}, version=order["version"])
    assert problems(caught.value) == {"lines[0].qty": "数量必须大于 0"}
    assert snapshot(records) == before


def test_a_save_based_on_a_stale_version_is_refused_naming_who_changed_it(records, user):
    session = records.system()
    _, _, customer = master_data(session)
    wang = user("wangfang", "data_clerk", full_name="王芳")
    records.clock.fixed = NOW + dt.timedelta(minutes=5)
    records.session(wang).update("customer", customer["id"], {"phone": "0571-88886666"},
                                 version=customer["version"])
    before = snapshot(records)

    with pytest.raises(Conflict) as caught:
        session.update("customer", customer["id"], {"contact": "王经理"}, version=customer["version"])
    assert caught.value.message == ("customer 华东五金 was changed by 王芳 at 2026-03-05 09:35 after you opened it "
                                    "(your version 1, now 2); reload it and make your change again")
    assert snapshot(records) == before
    fresh = session.get("customer", customer["id"])
    assert (fresh["phone"], fresh["contact"], fresh["modified_by"]) == ("0571-88886666", None, wang.id)
    assert session.update("customer", customer["id"], {"contact": "王经理"}, version=2)["version"] == 3


def test_a_record_others_point_to_cannot_be_deleted_and_the_error_names_them(records):
    session = records.system()
    bolt, nut, customer = master_data(session)
    for _ in range(2):
        session.create("sales_order", {"customer": customer["id"], "lines": [{"item": bolt["id"], "qty": "1"}]})
    before = snapshot(records)

    with pytest.raises(InUse) as caught:
        session.delete("customer", customer["id"])
    assert caught.value.message == "客户 华东五金 cannot be deleted: it is used by 2 销售订单 (draft #1, draft #2)"
    assert caught.value.referrers == (("2 销售订单", "draft #1, draft #2"),)
    with pytest.raises(InUse) as caught:
        session.delete("item_category", bolt["category"])
    assert caught.value.message == "商品分类 紧固件 cannot be deleted: it is used by 1 商品 (六角螺栓)"
    with pytest.raises(InUse) as caught:
        session.delete("item", bolt["id"])
    # a line that uses the item counts as its document
    assert caught.value.message == "商品 六角螺栓 cannot be deleted: it is used by 2 销售订单 (draft #1, draft #2)"
    assert snapshot(records) == before

    session.delete("item", nut["id"])  # nobody uses it
    with pytest.raises(NotFound) as missing:
        session.get("item", nut["id"])
    assert missing.value.message == f"there is no item with id {nut['id']}"


def test_every_change_is_in_the_audit_log_with_who_when_and_each_field_before_and_after(records, user):
    session = records.system()
    bolt, nut, customer = master_data(session)
    sun = user("sunli", "sales_manager", full_name="孙丽")
    sales = records.session(sun)
    order = sales.create("sales_order", {"customer": customer["id"], "lines": [
        {"item": nut["id"], "qty": "2"}, {"item": bolt["id"], "qty": "1"}]})
    first, second = order["lines"]
    records.clock.fixed = NOW + dt.timedelta(hours=1)
    order = sales.update("sales_order", order["id"], {"remark": "急", "lines": [
        {"id": second["id"], "qty": "3"}, {"item": nut["id"], "qty": "4"}]}, version=order["version"])
    third = order["lines"][1]["id"]

    created, updated = audit_entries(records, "sales_order", order["id"])
    assert (created["action"], created["user_id"], created["at"]) == ("create", sun.id, NOW)
    assert created["changes"]["customer"] == [None, customer["id"]]
    assert created["changes"]["total"] == [None, "90.09"]  # 36 × 1.09 + 45 × 1.13
    assert created["changes"]["lines"][str(second["id"])] == {
        "added": True, "item": [None, bolt["id"]], "qty": [None, "1.000"], "price": [None, "45.00"],
        "discount": [None, "0.0000"], "tax_rate": [None, "0.1300"], "amount": [None, "45.00"],
        "tax": [None, "5.85"], "amount_with_tax": [None, "50.85"], "delivered_qty": [None, "0.000"]}

    assert (updated["action"], updated["user_id"], updated["at"]) == ("update", sun.id, NOW + dt.timedelta(hours=1))
    changes = updated["changes"]
    assert changes["remark"] == [None, "急"]
    assert changes["subtotal"] == ["81.00", "207.00"]  # 3 × 45 + 4 × 18
    assert changes["lines"][str(second["id"])] == {"qty": ["1.000", "3.000"], "amount": ["45.00", "135.00"],
                                                   "tax": ["5.85", "17.55"], "amount_with_tax": ["50.85", "152.55"]}
    assert changes["lines"][str(third)]["added"] is True
    assert changes["lines"][str(third)]["qty"] == [None, "4.000"]
    assert changes["lines"][str(first["id"])]["removed"] is True
    assert changes["lines"][str(first["id"])]["qty"] == ["2.000", None]
    assert "version" not in changes and "modified_at" not in changes

    assert [entry["action"] for entry in sales.history("sales_order", order["id"])] == ["create", "update"]

    session.delete("item", session.create("item", {"code": "X", "name": "作废", "unit": "pcs"})["id"])
    deleted = audit_entries(records, "item")[-1]
    assert deleted["action"] == "delete" and deleted["user_id"] is None
    assert (deleted["changes"]["code"], deleted["changes"]["name"]) == (["X", None], ["作废", None])


def test_ids_of_deleted_records_and_rows_are_never_given_again(records):
    session = records.system()
    gone = session.create("item", {"code": "X", "name": "作废", "unit": "pcs"})
    session.delete("item", gone["id"])
    new = session.create("item", {"code": "Y", "name": "新品", "unit": "pcs"})
    assert new["id"] != gone["id"]
    assert [entry["action"] for entry in session.history("item", new["id"])] == ["create"]
    # nor a removed row's id: the audit tells the removed row from the added one
    customer = session.create("customer", {"code": "C1", "name": "客户"})
    order = session.create("sales_order", {"customer": customer["id"], "lines": [{"item": new["id"], "qty": "1"}]})
    [old_row] = order["lines"]
    order = session.update("sales_order", order["id"], {"lines": [{"item": new["id"], "qty": "2"}]},
                           version=order["version"])
    [new_row] = order["lines"]
    assert new_row["id"] != old_row["id"]
    rows = audit_entries(records, "sales_order", order["id"])[-1]["changes"]["lines"]
    assert (rows[str(old_row["id"])]["removed"], rows[str(new_row["id"])]["added"]) == (True, True)


def test_a_record_sent_back_as_read_is_accepted_and_changed_values_of_computed_fields_are_not(records):
    session = records.system()
    bolt, _nut, customer = master_data(session)
    order = session.create("sales_order", {"customer": customer["id"], "lines": [{"item": bolt["id"], "qty": "2"}]})
    posted = {key: value for key, value in order.items()}  # what a form or an API client sends back
    posted["lines"] = [dict(order["lines"][0], qty="3")]
    saved = session.update("sales_order", order["id"], posted, version=order["version"])
    assert saved["lines"][0]["qty"] == 3 and saved["lines"][0]["amount"] == 3 * saved["lines"][0]["price"]
    with pytest.raises(ValidationFailed) as caught:
        session.update("sales_order", order["id"], {"total": "1", "version": 99}, version=saved["version"])
    assert {p.field for p in caught.value.problems} == {"total", "version"}
