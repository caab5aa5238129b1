"""Documents: submit (numbered gap-free, immutable), cancel (effects reversed), amend (a linked, numbered copy),
make_from with line fulfilment and progress, and plugins' hooks inside the submit/cancel transaction.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine import audit, hookimpl
from engine.errors import Conflict, LifecycleError, NotFound, ValidationFailed, Vetoed
from engine.naming import peek
from engine.plugins import plugin_manager
from tests.service_helpers import NOW, D, audit_entries, count, problems, snapshot, toy_app

pytest_plugins = ["tests.service_fixtures"]
pytestmark = pytest.mark.both_dbs


def toy_order(session, item, *quantities, supplier="东方"):
    return session.create("purchase_order", {"supplier": supplier,
                                             "lines": [{"item": item["id"], "qty": qty} for qty in quantities]})


def submit(session, entity, record):
    return session.submit(entity, record["id"], version=record["version"])


def cancel(session, entity, record):
    return session.cancel(entity, record["id"], version=record["version"])


def series_used(records, entity="purchase_order"):
    """How many numbers the entity's series gave in NOW's year."""
    with records.engine.connect() as connection:
        naming = records.app.entities[entity].naming
        return peek(connection, records.schema, naming, entity, NOW.date())


class Hooks:
    """A plugin that records what it is called with and can refuse or fail on demand."""

    def __init__(self):
        self.veto: str | None = None
        self.fail_after_submit = False
        self.fail_after_cancel = False
        self.seen: list[tuple] = []

    @hookimpl
    def jxc_before_submit(self, session, entity, record, connection):
        self.seen.append(("before_submit", entity.name, record.get("doc_no"), record["docstatus"]))
        return self.veto

    @hookimpl
    def jxc_after_submit(self, session, entity, record, connection):
        self.seen.append(("after_submit", entity.name, record["doc_no"], record["docstatus"]))
        # the plugin writes in the submit's own transaction
        audit.record_change(connection, session.records.schema, at=session.records.clock.now(), user_id=None,
                            entity=entity.name, record_id=record["id"], action="posted")
        if self.fail_after_submit:
            raise RuntimeError("记账失败")

    @hookimpl
    def jxc_after_cancel(self, session, entity, record, connection):
        self.seen.append(("after_cancel", entity.name, record["doc_no"], record["docstatus"]))
        audit.record_change(connection, session.records.schema, at=session.records.clock.now(), user_id=None,
                            entity=entity.name, record_id=record["id"], action="unposted")
        if self.fail_after_cancel:
            raise RuntimeError("冲销失败")


# --- numbering -------------------------------------------------------------------------------------------


def test_submit_numbers_documents_gap_free_per_series_and_year(make_records):
    hooks = Hooks()
    records = make_records(toy_app(), plugins=plugin_manager({"hooks": hooks}, entry_points=False))
    session = records.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    spare = session.create("item", {"code": "B", "name": "螺母", "price": "5"})
    orders = [toy_order(session, item, "1") for _ in range(3)]
    stale = toy_order(session, spare, "1")

    first = submit(session, "purchase_order", orders[0])
    assert (first["doc_no"], first["docstatus"], first["version"]) == ("PO-2026-00001", "submitted", 2)

    # a submit that fails validation (the item was stopped since the order was saved) takes no number
    session.update("item", spare["id"], {"status": "stopped", "stop_reason": "停产"}, version=spare["version"])
    with pytest.raises(ValidationFailed) as caught:
        submit(session, "purchase_order", stale)
    assert problems(caught.value) == {"lines[0].item": "物料已停用"}
    assert session.get("purchase_order", stale["id"])["docstatus"] == "draft"

    # nor does one a plugin refuses
    hooks.veto = "供应商未签合同"
    with pytest.raises(Vetoed):
        submit(session, "purchase_order", orders[1])
    hooks.veto = None
    assert series_used(records) == 1

    assert submit(session, "purchase_order", orders[1])["doc_no"] == "PO-2026-00002"
    records.clock.fixed = dt.datetime(2027, 1, 2, 8, 0)  # a new year starts the series again
    assert submit(session, "purchase_order", orders[2])["doc_no"] == "PO-2027-00001"
    assert series_used(records) == 2
    numbers = [row["doc_no"] for row in session.list("purchase_order", filter='docstatus = "submitted"',
                                                     sort="doc_no").rows]
    assert numbers == ["PO-2026-00001", "PO-2026-00002", "PO-2027-00001"]


def test_a_submitted_document_can_no_longer_be_changed_or_deleted(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    draft = toy_order(session, item, "2")
    with pytest.raises(LifecycleError) as caught:
        cancel(session, "purchase_order", draft)
    assert caught.value.message == (f"only submitted documents can be cancelled; purchase_order {draft['id']} is "
                                    "draft")
    with pytest.raises(Conflict):
        session.submit("purchase_order", draft["id"], version=draft["version"] + 1)

    order = submit(session, "purchase_order", draft)
    before = snapshot(toy)
    with pytest.raises(LifecycleError) as caught:
        session.update("purchase_order", order["id"], {"supplier": "西方"}, version=order["version"])
    assert caught.value.message == "purchase_order PO-2026-00001 is submitted and can no longer be changed"
    with pytest.raises(LifecycleError) as caught:
        session.delete("purchase_order", order["id"])
    assert caught.value.message == ("purchase_order PO-2026-00001 is submitted; only drafts can be deleted; "
                                    "cancel it instead")
    with pytest.raises(LifecycleError) as caught:
        submit(session, "purchase_order", order)
    assert caught.value.message == "purchase_order PO-2026-00001 is already submitted"
    with pytest.raises(LifecycleError) as caught:
        session.submit("item", item["id"], version=item["version"])
    assert caught.value.message == "item is master data; only documents are submitted or cancelled"
    assert snapshot(toy) == before

    cancelled = cancel(session, "purchase_order", order)
    assert (cancelled["docstatus"], cancelled["doc_no"]) == ("cancelled", "PO-2026-00001")
    with pytest.raises(LifecycleError) as caught:
        session.update("purchase_order", order["id"], {"supplier": "西方"}, version=cancelled["version"])
    assert caught.value.message == ("purchase_order PO-2026-00001 is cancelled and can no longer be changed; "
                                    "amend it to make a corrected copy")
    assert [entry["action"] for entry in audit_entries(toy, "purchase_order", order["id"])] \
        == ["create", "submit", "cancel"]
    assert audit_entries(toy, "purchase_order", order["id"])[1]["changes"] == {
        "doc_no": [None, "PO-2026-00001"], "docstatus": ["draft", "submitted"]}


def test_submit_computes_again_with_the_linked_records_as_they_are_now(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    order = toy_order(session, item, "2")
    assert order["lines"][0]["list_price"] == D("10.00")
    session.update("item", item["id"], {"price": "12"}, version=item["version"])

    submitted = submit(session, "purchase_order", order)
    assert submitted["lines"][0]["list_price"] == D("12.00")
    assert session.get("purchase_order", order["id"]) == submitted


def test_amend_makes_a_linked_draft_numbered_after_the_original(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    order = submit(session, "purchase_order", toy_order(session, item, "2", "3"))
    with pytest.raises(LifecycleError) as caught:
        session.amend("purchase_order", order["id"])
    assert caught.value.message == ("only cancelled documents can be amended; purchase_order PO-2026-00001 is "
                                    "submitted")
    cancel(session, "purchase_order", order)

    copy = session.amend("purchase_order", order["id"])
    assert (copy["docstatus"], copy["doc_no"], copy["amended_from"]) == ("draft", None, order["id"])
    assert [(line["item"], line["qty"], line["price"]) for line in copy["lines"]] \
        == [(item["id"], D("2.000"), D("10.00")), (item["id"], D("3.000"), D("10.00"))]
    assert copy["gross"] == D("50.00")
    copy = session.update("purchase_order", copy["id"], {"lines": [{"id": copy["lines"][0]["id"], "qty": "4"}]},
                          version=copy["version"])
    copy = submit(session, "purchase_order", copy)
    assert (copy["doc_no"], copy["gross"]) == ("PO-2026-00001-1", D("40.00"))

    cancel(session, "purchase_order", copy)
    again = submit(session, "purchase_order", session.amend("purchase_order", copy["id"]))
    assert (again["doc_no"], again["amended_from"]) == ("PO-2026-00001-2", copy["id"])
    # amended copies take no number of the series
    assert submit(session, "purchase_order", toy_order(session, item, "1"))["doc_no"] == "PO-2026-00002"


# --- make_from and fulfilment -------------------------------------------------------------------------------


def sales_setup(session):
    bolt = session.create("item", {"code": "M8-30", "name": "六角螺栓", "unit": "box", "sale_price": "45"})
    pipe = session.create("item", {"code": "SS304", "name": "不锈钢管", "unit": "m", "sale_price": "38.50"})
    customer = session.create("customer", {"code": "C001", "name": "华东五金", "credit_limit": "0"})
    order = session.create("sales_order", {"customer": customer["id"], "contract_no": "HD-118", "ship_to": "杭州",
                                           "lines": [{"item": bolt["id"], "qty": "120"},
                                                     {"item": pipe["id"], "qty": "800", "discount": "5%"}]})
    return submit(session, "sales_order", order), bolt, pipe, customer


def test_make_from_brings_only_what_is_open_and_submit_and_cancel_keep_the_source_up_to_date(records):
    session = records.system()
    order, bolt, pipe, customer = sales_setup(session)

    delivery = session.make_from("sales_delivery", "sales_order", order["id"])
    assert (delivery["customer"], delivery["contract_no"], delivery["ship_to"]) == (customer["id"], "HD-118", "杭州")
    assert (delivery["made_from_entity"], delivery["made_from_id"], delivery["docstatus"]) \
        == ("sales_order", order["id"], "draft")
    assert [(line["item"], line["qty"], line["price"]) for line in delivery["lines"]] \
        == [(bolt["id"], D("120.000"), D("45.00")), (pipe["id"], D("800.000"), D("36.58"))]  # 38.50 less 5%
    # deliver part: all the bolts, 300 m of pipe
    delivery = session.update("sales_delivery", delivery["id"], {"lines": [
        {"id": delivery["lines"][0]["id"]}, {"id": delivery["lines"][1]["id"], "qty": "300"}]},
        version=delivery["version"])
    assert session.get("sales_order", order["id"])["lines"][0]["delivered_qty"] == D("0.000")  # drafts do nothing

    first = submit(session, "sales_delivery", delivery)
    assert first["doc_no"] == "DN-202603-0001"
    source = session.get("sales_order", order["id"])
    assert [line["delivered_qty"] for line in source["lines"]] == [D("120.000"), D("300.000")]
    assert (source["delivery_status"], source["per_delivered"]) == ("partial", D("0.4565"))  # 420 of 920
    fulfilled = audit_entries(records, "sales_order", order["id"])[-1]  # the order's history says what changed it
    assert (fulfilled["action"], fulfilled["comment"], fulfilled["changes"]) == ("fulfil", "sales_delivery DN-202603-0001", {
        "lines": {str(order["lines"][0]["id"]): {"delivered_qty": ["0.000", "120.000"]},
                  str(order["lines"][1]["id"]): {"delivered_qty": ["0.000", "300.000"]}},
        "per_delivered": [None, "0.4565"], "delivery_status": ["pending", "partial"]})

    second = session.make_from("sales_delivery", "sales_order", order["id"])
    assert [(line["item"], line["qty"]) for line in second["lines"]] == [(pipe["id"], D("500.000"))]
    second = submit(session, "sales_delivery", second)
    source = session.get("sales_order", order["id"])
    assert (source["delivery_status"], source["per_delivered"]) == ("done", D("1.0000"))
    with pytest.raises(LifecycleError) as caught:
        session.make_from("sales_delivery", "sales_order", order["id"])
    assert caught.value.message == ("sales_order SO-202603-0001 has nothing left to take further: every line is "
                                    "fulfilled")
    with pytest.raises(LifecycleError) as caught:
        cancel(session, "sales_order", source)
    assert caught.value.message == ("sales_order SO-202603-0001 cannot be cancelled while these made from it are "
                                    "submitted: 送货确认单 DN-202603-0001, 送货确认单 DN-202603-0002; cancel them first")

    cancel(session, "sales_delivery", first)
    source = session.get("sales_order", order["id"])
    assert [line["delivered_qty"] for line in source["lines"]] == [D("0.000"), D("500.000")]
    assert (source["delivery_status"], source["per_delivered"]) == ("partial", D("0.5435"))
    reverted = audit_entries(records, "sales_order", order["id"])[-1]
    assert (reverted["action"], reverted["changes"]["delivery_status"]) == ("unfulfil", ["done", "partial"])
    cancel(session, "sales_delivery", second)
    source = session.get("sales_order", order["id"])
    assert [line["delivered_qty"] for line in source["lines"]] == [D("0.000"), D("0.000")]
    assert (source["delivery_status"], source["per_delivered"]) == ("pending", D("0.0000"))
    assert cancel(session, "sales_order", source)["docstatus"] == "cancelled"


def test_over_fulfilment_beyond_the_tolerance_is_refused_naming_the_line(records):
    session = records.system()
    order, _, _, _ = sales_setup(session)
    one = session.make_from("sales_delivery", "sales_order", order["id"])
    two = session.make_from("sales_delivery", "sales_order", order["id"])  # both drafts offer everything
    submit(session, "sales_delivery", one)
    before = snapshot(records)

    with pytest.raises(ValidationFailed) as caught:
        submit(session, "sales_delivery", two)
    assert problems(caught.value) == {"lines[0].qty": "this would make line 1 of sales_order 240 of 120",
                                      "lines[1].qty": "this would make line 2 of sales_order 1600 of 800"}
    assert snapshot(records) == before  # no number taken, the order's quantities as they were

    # purchase receipts may bring 5% more than ordered
    item = session.create("item", {"code": "A", "name": "螺栓", "purchase_price": "8"})
    supplier = session.create("supplier", {"code": "S001", "name": "宁波紧固件"})
    po = submit(session, "purchase_order", session.create("purchase_order", {
        "supplier": supplier["id"], "lines": [{"item": item["id"], "qty": "100"}, {"item": item["id"], "qty": "10"}]}))
    receipt = session.make_from("purchase_receipt", "purchase_order", po["id"])
    assert (receipt["supplier"], receipt["po_no"]) == (supplier["id"], "PO-202603-0001")
    too_much = session.update("purchase_receipt", receipt["id"], {"lines": [
        {"id": receipt["lines"][0]["id"], "qty": "105"}, {"id": receipt["lines"][1]["id"], "qty": "10.6"}]},
        version=receipt["version"])
    with pytest.raises(ValidationFailed) as caught:
        submit(session, "purchase_receipt", too_much)
    assert problems(caught.value) == {"lines[1].qty": "this would make line 2 of purchase_order 10.6 of 10 (with "
                                                      "the 5% tolerance, at most 10.5)"}
    within = session.update("purchase_receipt", receipt["id"], {"lines": [
        {"id": receipt["lines"][0]["id"], "qty": "105"}, {"id": receipt["lines"][1]["id"], "qty": "10.5"}]},
        version=too_much["version"])
    submit(session, "purchase_receipt", within)
    po = session.get("purchase_order", po["id"])
    assert ([line["received_qty"] for line in po["lines"]], po["receipt_status"], po["per_received"]) \
        == ([D("105.000"), D("10.500")], "done", D("1.0000"))


def test_draft_from_fills_a_form_without_saving_and_only_from_a_submitted_source(records):
    session = records.system()
    order, bolt, pipe, customer = sales_setup(session)
    before = snapshot(records)
    values = session.draft_from("sales_delivery", "sales_order", order["id"])
    assert values == {"customer": customer["id"], "contract_no": "HD-118", "ship_to": "杭州", "lines": [
        {"item": bolt["id"], "qty": "120.000", "price": "45.00", "made_from_line": order["lines"][0]["id"]},
        {"item": pipe["id"], "qty": "800.000", "price": "36.58", "made_from_line": order["lines"][1]["id"]}]}
    receipt = session.draft_from("customer_receipt", "sales_order", order["id"])
    assert (receipt["amount"], receipt["note"]) == ("39165.80", "销售订单 SO-202603-0001 / 合同 HD-118")
    assert snapshot(records) == before

    draft = session.create("sales_order", {"customer": customer["id"], "lines": [{"item": bolt["id"], "qty": "1"}]})
    with pytest.raises(LifecycleError) as caught:
        session.draft_from("sales_delivery", "sales_order", draft["id"])
    assert caught.value.message == (f"sales_order {draft['id']} is draft; only a submitted document can be taken "
                                    "further")
    with pytest.raises(NotFound) as missing:
        session.make_from("sales_delivery", "purchase_order", order["id"])
    assert missing.value.message == "sales_delivery cannot be made from purchase_order; it can be made from: sales_order"


def test_a_document_made_from_a_source_cancelled_since_cannot_be_submitted(records):
    session = records.system()
    order, _, _, _ = sales_setup(session)
    delivery = session.make_from("sales_delivery", "sales_order", order["id"])
    cancel(session, "sales_order", session.get("sales_order", order["id"]))  # the draft delivery does not stop it
    before = snapshot(records)

    with pytest.raises(LifecycleError) as caught:
        submit(session, "sales_delivery", delivery)
    assert caught.value.message == ("sales_delivery cannot be submitted: it was made from sales_order "
                                    "SO-202603-0001, which is cancelled")
    assert snapshot(records) == before


# --- plugins ----------------------------------------------------------------------------------------------


def test_a_plugin_veto_reaches_the_user_and_nothing_is_submitted(make_records):
    hooks = Hooks()
    records = make_records(plugins=plugin_manager({"hooks": hooks}, entry_points=False))
    session = records.system()
    order, _, _, _ = sales_setup(session)
    delivery = session.make_from("sales_delivery", "sales_order", order["id"])
    before = snapshot(records)

    hooks.veto = "客户未签收上一批货，不能再送"
    with pytest.raises(Vetoed) as caught:
        submit(session, "sales_delivery", delivery)
    assert caught.value.message == "客户未签收上一批货，不能再送"
    assert snapshot(records) == before
    assert hooks.seen[-1] == ("before_submit", "sales_delivery", None, "draft")

    hooks.veto = None
    assert submit(session, "sales_delivery", delivery)["doc_no"] == "DN-202603-0001"
    assert hooks.seen[-1] == ("after_submit", "sales_delivery", "DN-202603-0001", "submitted")


def test_after_submit_and_after_cancel_run_inside_the_transaction(make_records):
    hooks = Hooks()
    records = make_records(plugins=plugin_manager({"hooks": hooks}, entry_points=False))
    session = records.system()
    order, _, _, _ = sales_setup(session)
    delivery = session.make_from("sales_delivery", "sales_order", order["id"])
    before = snapshot(records)

    hooks.fail_after_submit = True
    with pytest.raises(RuntimeError, match="记账失败"):
        submit(session, "sales_delivery", delivery)
    # the delivery, its number, the order's delivered quantities and the plugin's own write: all undone
    assert snapshot(records) == before
    assert session.get("sales_order", order["id"])["delivery_status"] == "pending"

    hooks.fail_after_submit = False
    delivery = submit(session, "sales_delivery", delivery)
    assert delivery["doc_no"] == "DN-202603-0001"  # the failed submit took no number
    assert [entry["action"] for entry in audit_entries(records, "sales_delivery", delivery["id"])] \
        == ["create", "posted", "submit"]
    before = snapshot(records)

    hooks.fail_after_cancel = True
    with pytest.raises(RuntimeError, match="冲销失败"):
        cancel(session, "sales_delivery", delivery)
    assert snapshot(records) == before
    assert session.get("sales_order", order["id"])["delivery_status"] == "done"

    hooks.fail_after_cancel = False
    cancel(session, "sales_delivery", delivery)
    assert session.get("sales_order", order["id"])["delivery_status"] == "pending"
    assert [entry["action"] for entry in audit_entries(records, "sales_delivery", delivery["id"])] \
        == ["create", "posted", "submit", "unposted", "cancel"]
    assert hooks.seen[-1] == ("after_cancel", "sales_delivery", "DN-202603-0001", "cancelled")


def test_numbers_stay_gap_free_when_submits_fail_between_successes(make_records):
    records = make_records()
    session = records.system()
    customer = session.create("customer", {"code": "C1", "name": "客户", "credit_limit": "1000"})
    item = session.create("item", {"code": "A", "name": "螺栓", "sale_price": "100"})
    orders = [session.create("sales_order", {"customer": customer["id"], "lines": [{"item": item["id"], "qty": "2"}]})
              for _ in range(3)]
    assert submit(session, "sales_order", orders[0])["doc_no"] == "SO-202603-0001"
    # the customer's credit limit is lowered: the next order no longer fits when submitted
    customer = session.get("customer", customer["id"])
    session.update("customer", customer["id"], {"credit_limit": "100"}, version=customer["version"])
    with pytest.raises(ValidationFailed) as caught:
        submit(session, "sales_order", orders[1])
    assert problems(caught.value) == {"": "订单价税合计超过了该客户的信用额度，请调整订单或申请提高额度"}
    customer = session.get("customer", customer["id"])
    session.update("customer", customer["id"], {"credit_limit": "0"}, version=customer["version"])
    assert submit(session, "sales_order", orders[2])["doc_no"] == "SO-202603-0002"
    assert submit(session, "sales_order", orders[1])["doc_no"] == "SO-202603-0003"
    with records.engine.connect() as connection:
        table = records.schema.tables["sales_order"]
        assert sorted(connection.execute(select(table.c.doc_no)).scalars()) \
            == ["SO-202603-0001", "SO-202603-0002", "SO-202603-0003"]
    assert count(records, "sales_order") == 3
