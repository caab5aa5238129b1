"""A month of a small hardware trader on apps/no_stock, driven through the service layer by users holding the
app's roles, on SQLite and PostgreSQL: master data, a purchase order and its receipt and payment, a sales order
with credit control, deliveries, a customer receipt, cancelling, amending, and refusals along the way.
What is asserted is what the users would see: numbers, totals, statuses and quantities."""

from __future__ import annotations

import pytest

from engine.errors import LifecycleError, PermissionDenied, ValidationFailed
from tests.service_helpers import D, problems

pytest_plugins = ["tests.service_fixtures"]


def lines_of(record, field):
    return [line[field] for line in record["lines"]]


@pytest.mark.both_dbs
def test_a_month_of_buying_and_selling_without_stock(records, user):
    liu = records.session(user("liu", "data_clerk", full_name="刘资料"))
    zhao = records.session(user("zhaomin", "purchaser", full_name="赵敏"))
    qian = records.session(user("qian", "purchase_manager", full_name="钱经理"))
    wang = records.session(user("wang", "general_manager", full_name="王总"))
    sun = records.session(user("sunli", "sales_manager", full_name="孙丽"))
    cai = records.session(user("cai", "finance", full_name="蔡会计"))
    zhou = records.session(user("zhou", "sales", full_name="周销售"))

    # --- master data, by the master data clerk -----------------------------------------------------------
    fast = liu.create("item_category", {"code": "FAST", "name": "紧固件"})
    bolt = liu.create("item", {"code": "M8-30", "name": "六角螺栓", "spec": "M8×30 镀锌", "unit": "box",
                               "category": fast["id"], "sale_price": "45.00", "purchase_price": "32.00"})
    pipe = liu.create("item", {"code": "SS304-25", "name": "不锈钢管", "unit": "m", "sale_price": "38.50",
                               "purchase_price": "29.80"})
    customer = liu.create("customer", {"code": "C001", "name": "华东五金机电有限公司", "credit_limit": "50000",
                                       "grade": "a"})
    supplier = liu.create("supplier", {"code": "S001", "name": "宁波紧固件制造有限公司"})
    assert (bolt["tax_rate"], customer["payment_days"], supplier["payment_days"]) == (D("0.1300"), 30, 30)
    with pytest.raises(ValidationFailed) as caught:  # cash-only customers get no payment terms
        liu.create("customer", {"code": "C003", "name": "张记五金店", "grade": "c", "payment_days": "30"})
    assert problems(caught.value) == {"": "C 类（现款）客户的账期必须为 0 天"}

    # a salesperson keeps the customer's contacts up to date, but the credit limit is not theirs to change
    with pytest.raises(ValidationFailed) as caught:
        zhou.update("customer", customer["id"], {"phone": "0571-88886666", "credit_limit": "900000"},
                    version=customer["version"])
    assert problems(caught.value) == {"credit_limit": "is read-only for you"}
    customer = zhou.update("customer", customer["id"], {"phone": "0571-88886666"}, version=customer["version"])
    assert (customer["phone"], customer["credit_limit"], customer["modified_by"]) \
        == ("0571-88886666", D("50000.00"), zhou.user.id)

    # --- buying: the purchaser writes the order; above 50,000 the manager agrees and the general manager approves
    po = zhao.create("purchase_order", {"supplier": supplier["id"], "buyer": "赵敏", "lines": [
        {"item": bolt["id"], "qty": "200"}, {"item": pipe["id"], "qty": "1500"}]})
    assert lines_of(po, "price") == [D("32.00"), D("29.80")]
    assert (po["subtotal"], po["tax"], po["total"]) == (D("51100.00"), D("6643.00"), D("57743.00"))
    with pytest.raises(PermissionDenied) as refused:
        zhao.submit("purchase_order", po["id"], version=po["version"])
    assert refused.value.message == "zhaomin may not submit 采购订单 (purchase_order)"
    po = zhao.transition("purchase_order", po["id"], "request", version=po["version"])
    po = qian.transition("purchase_order", po["id"], "escalate", version=po["version"], comment="同意")
    assert (po["workflow_state"], po["docstatus"]) == ("pending_gm", "draft")
    po = wang.transition("purchase_order", po["id"], "approve_gm", version=po["version"])
    assert (po["doc_no"], po["docstatus"], po["receipt_status"]) == ("PO-202603-0001", "submitted", "pending")

    # the goods arrive in part: all the bolts, 1000 m of pipe
    receipt = zhao.make_from("purchase_receipt", "purchase_order", po["id"])
    assert (receipt["po_no"], lines_of(receipt, "qty")) == ("PO-202603-0001", [D("200.000"), D("1500.000")])
    receipt = zhao.update("purchase_receipt", receipt["id"], {"received_by": "老王", "lines": [
        {"id": receipt["lines"][0]["id"]}, {"id": receipt["lines"][1]["id"], "qty": "1000"}]},
        version=receipt["version"])
    receipt = zhao.submit("purchase_receipt", receipt["id"], version=receipt["version"])
    assert receipt["doc_no"] == "SH-202603-0001"
    po = cai.get("purchase_order", po["id"])
    assert (lines_of(po, "received_qty"), po["receipt_status"], po["per_received"]) \
        == ([D("200.000"), D("1000.000")], "partial", D("0.7059"))
    rest = zhao.draft_from("purchase_receipt", "purchase_order", po["id"])
    assert [(line["item"], line["qty"]) for line in rest["lines"]] == [(pipe["id"], "500.000")]

    # finance pays the supplier
    payment = cai.make_from("supplier_payment", "purchase_order", po["id"])
    assert (payment["supplier"], payment["amount"], payment["method"]) == (supplier["id"], D("57743.00"), "bank")
    payment = cai.submit("supplier_payment", payment["id"], version=payment["version"])
    assert payment["doc_no"] == "FK-202603-0001"

    # --- selling: credit control, then the order ------------------------------------------------------------
    with pytest.raises(ValidationFailed) as caught:
        sun.create("sales_order", {"customer": customer["id"], "contract_no": "HD-2026-118", "lines": [
            {"item": bolt["id"], "qty": "120"}, {"item": pipe["id"], "qty": "1200", "discount": "5%"}]})
    assert problems(caught.value) == {"": "订单价税合计超过了该客户的信用额度，请调整订单或申请提高额度"}  # 55,697.70
    so = sun.create("sales_order", {"customer": customer["id"], "contract_no": "HD-2026-118", "lines": [
        {"item": bolt["id"], "qty": "120"}, {"item": pipe["id"], "qty": "800", "discount": "5%"}]})
    assert (so["subtotal"], so["tax"], so["total"]) == (D("34660.00"), D("4505.80"), D("39165.80"))
    with pytest.raises(PermissionDenied) as refused:
        cai.create("sales_order", {"customer": customer["id"]})
    assert refused.value.message == "cai may not create 销售订单 (sales_order)"
    so = sun.submit("sales_order", so["id"], version=so["version"])
    assert (so["doc_no"], so["delivery_status"]) == ("SO-202603-0001", "pending")
    with pytest.raises(PermissionDenied):  # sales sees no purchase orders
        sun.list("purchase_order")

    # two deliveries: the bolts and 300 m of pipe, then the rest
    first = sun.make_from("sales_delivery", "sales_order", so["id"])
    assert lines_of(first, "price") == [D("45.00"), D("36.58")]  # the discount taken into the price
    first = sun.update("sales_delivery", first["id"], {"signed_by": "王经理", "lines": [
        {"id": first["lines"][0]["id"]}, {"id": first["lines"][1]["id"], "qty": "300"}]}, version=first["version"])
    assert first["total"] == D("16374.00")
    first = sun.submit("sales_delivery", first["id"], version=first["version"])
    so = cai.get("sales_order", so["id"])
    assert (first["doc_no"], so["delivery_status"], so["per_delivered"]) == ("DN-202603-0001", "partial", D("0.4565"))
    second = sun.make_from("sales_delivery", "sales_order", so["id"])
    assert (lines_of(second, "qty"), second["total"]) == ([D("500.000")], D("18290.00"))
    second = sun.update("sales_delivery", second["id"], {"lines": [{"id": second["lines"][0]["id"], "qty": "501"}]},
                        version=second["version"])
    with pytest.raises(ValidationFailed) as caught:  # nobody delivers more than was ordered
        sun.submit("sales_delivery", second["id"], version=second["version"])
    assert problems(caught.value) == {"lines[0].qty": "this would make line 2 of sales_order 801 of 800"}
    second = sun.update("sales_delivery", second["id"], {"lines": [{"id": second["lines"][0]["id"], "qty": "500"}]},
                        version=second["version"])
    second = sun.submit("sales_delivery", second["id"], version=second["version"])
    so = cai.get("sales_order", so["id"])
    assert (second["doc_no"], lines_of(so, "delivered_qty"), so["delivery_status"], so["per_delivered"]) \
        == ("DN-202603-0002", [D("120.000"), D("800.000")], "done", D("1.0000"))

    # the customer pays
    money = cai.make_from("customer_receipt", "sales_order", so["id"])
    assert (money["amount"], money["note"]) == (D("39165.80"), "销售订单 SO-202603-0001 / 合同 HD-2026-118")
    money = cai.submit("customer_receipt", money["id"], version=money["version"])
    assert money["doc_no"] == "SK-202603-0001"

    # --- the contract changes: cancel back down, amend the order ------------------------------------------
    with pytest.raises(LifecycleError) as blocked:
        sun.cancel("sales_order", so["id"], version=so["version"])
    assert blocked.value.message == (
        "sales_order SO-202603-0001 cannot be cancelled while these made from it are submitted: 送货确认单 "
        "DN-202603-0001, 送货确认单 DN-202603-0002, 收款单 SK-202603-0001; cancel them first")
    cai.cancel("customer_receipt", money["id"], version=money["version"])
    sun.cancel("sales_delivery", second["id"], version=second["version"])
    so = sun.get("sales_order", so["id"])
    assert (lines_of(so, "delivered_qty"), so["delivery_status"]) == ([D("120.000"), D("300.000")], "partial")
    sun.cancel("sales_delivery", first["id"], version=first["version"])
    so = sun.get("sales_order", so["id"])
    assert (so["delivery_status"], so["per_delivered"]) == ("pending", D("0.0000"))
    so = sun.cancel("sales_order", so["id"], version=so["version"])
    assert so["docstatus"] == "cancelled"

    amended = sun.amend("sales_order", so["id"])
    assert (amended["docstatus"], amended["amended_from"], amended["total"]) == ("draft", so["id"], D("39165.80"))
    amended = sun.update("sales_order", amended["id"], {"lines": [
        {"id": amended["lines"][0]["id"]}, {"id": amended["lines"][1]["id"], "qty": "700"}]},
        version=amended["version"])
    amended = sun.submit("sales_order", amended["id"], version=amended["version"])
    assert (amended["doc_no"], amended["total"], amended["delivery_status"]) \
        == ("SO-202603-0001-1", D("35032.83"), "pending")
    delivery = sun.make_from("sales_delivery", "sales_order", amended["id"])
    assert lines_of(delivery, "qty") == [D("120.000"), D("700.000")]
    delivery = sun.submit("sales_delivery", delivery["id"], version=delivery["version"])
    assert delivery["doc_no"] == "DN-202603-0003"
    assert cai.get("sales_order", amended["id"])["delivery_status"] == "done"

    # what finance sees at the end of the month
    orders = cai.list("sales_order", filter='docstatus = "submitted"')
    assert [(row["doc_no"], row["total"], row["delivery_status"]) for row in orders.rows] \
        == [("SO-202603-0001-1", D("35032.83"), "done")]
    assert [row["doc_no"] for row in cai.list("sales_delivery", sort="doc_no").rows] \
        == ["DN-202603-0001", "DN-202603-0002", "DN-202603-0003"]
    assert [(entry["action"], entry["comment"]) for entry in sun.history("sales_order", so["id"])] == [
        ("create", None), ("submit", None), ("fulfil", "sales_delivery DN-202603-0001"),
        ("fulfil", "sales_delivery DN-202603-0002"), ("unfulfil", "sales_delivery DN-202603-0002"),
        ("unfulfil", "sales_delivery DN-202603-0001"), ("cancel", None)]
