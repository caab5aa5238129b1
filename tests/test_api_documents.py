"""Documents through the API (apps/no_stock): the purchase approval workflow, make-from, submit, cancel, amend,
history — each refusal with the service layer's status and message."""

from __future__ import annotations

import pytest

from tests.api_helpers import problem_of
from tests.service_helpers import no_stock_app

pytest_plugins = ["tests.service_fixtures", "tests.api_fixtures"]
pytestmark = pytest.mark.both_dbs


@pytest.fixture
def shop(make_api):
    api = make_api(no_stock_app())
    admin = api.client("root", "admin")
    item = admin.post("/api/item", json={"code": "A", "name": "螺栓", "purchase_price": "100"}).json()
    supplier = admin.post("/api/supplier", json={"code": "S001", "name": "宁波紧固件"}).json()
    return api, item, supplier


def test_an_order_goes_through_approval_and_is_received(shop):
    api, item, supplier = shop
    zhao, qian = api.client("zhao", "purchaser"), api.client("qian", "purchase_manager")
    created = zhao.post("/api/purchase_order", json={"supplier": supplier["id"],
                                                     "lines": [{"item": item["id"], "qty": 250}]})
    assert created.status_code == 201, created.text
    order = created.json()
    assert (order["total"], order["workflow_state"], order["docstatus"]) == ("28250.00", "draft", "draft")
    url = f"/api/purchase_order/{order['id']}"

    assert [a["action"] for a in zhao.get(f"{url}/actions").json()["data"]] == ["request"]
    assert problem_of(zhao.post(f"{url}/submit", json={"version": 1}), 403)["detail"] == \
        "zhao may not submit 采购订单 (purchase_order)"
    requested = zhao.post(f"{url}/actions/request", json={"version": 1, "comment": "请审批"})
    assert requested.status_code == 200, requested.text
    assert requested.json()["workflow_state"] == "pending"
    assert "may not 批准 (approve)" in problem_of(zhao.post(f"{url}/actions/approve", json={"version": 2}), 403)["detail"]
    stale = problem_of(qian.post(f"{url}/actions/approve", json={"version": 1}), 409)
    assert stale["current"]["workflow_state"] == "pending" and stale["current"]["version"] == 2
    assert "has no action 'aprove'" in problem_of(qian.post(f"{url}/actions/aprove", json={"version": 2}), 404)["detail"]
    approved = qian.post(f"{url}/actions/approve", json={"version": 2, "comment": "同意"}).json()
    assert (approved["workflow_state"], approved["docstatus"], approved["doc_no"]) == \
        ("approved", "submitted", "PO-202603-0001")
    changed = problem_of(zhao.patch(url, json={"version": 3, "remark": "改"}), 409)
    assert changed["detail"].startswith("purchase_order PO-202603-0001 is submitted and can no longer be changed")
    problem_of(zhao.delete(url), 409)

    made = zhao.post(f"{url}/make/purchase_receipt")
    assert made.status_code == 201, made.text
    receipt = made.json()
    assert made.headers["location"] == f"/api/purchase_receipt/{receipt['id']}"
    assert [line["qty"] for line in receipt["lines"]] == ["250.000"] and receipt["docstatus"] == "draft"
    submitted = zhao.post(f"/api/purchase_receipt/{receipt['id']}/submit", json={"version": receipt["version"]})
    assert submitted.status_code == 200, submitted.text
    now = zhao.get(url).json()
    assert now["version"] == 4  # the receipt's fulfilment updated the order
    assert "cancel them first" in problem_of(
        qian.post(f"{url}/actions/cancel", json={"version": 4, "comment": "供应商停产"}), 409)["detail"]

    history = zhao.get(f"{url}/history").json()["data"]
    assert [(entry["action"], entry["comment"]) for entry in history][:3] == \
        [("create", None), ("request", "请审批"), ("approve", "同意")]


def test_cancel_and_amend_a_receipt(shop):
    api, item, supplier = shop
    admin, qian = api.client("root", "admin"), api.client("qian", "purchase_manager")
    order = admin.post("/api/purchase_order", json={"supplier": supplier["id"],
                                                    "lines": [{"item": item["id"], "qty": 5}]}).json()
    order = admin.post(f"/api/purchase_order/{order['id']}/actions/request", json={"version": 1}).json()
    order = qian.post(f"/api/purchase_order/{order['id']}/actions/approve", json={"version": 2}).json()
    assert order["docstatus"] == "submitted"
    receipt = admin.post(f"/api/purchase_order/{order['id']}/make/purchase_receipt").json()
    url = f"/api/purchase_receipt/{receipt['id']}"
    assert problem_of(qian.post(f"{url}/cancel", json={"version": 1}), 409)["detail"].startswith(
        "only submitted documents")
    receipt = qian.post(f"{url}/submit", json={"version": 1}).json()
    cancelled = qian.post(f"{url}/cancel", json={"version": receipt["version"], "why": "x"})
    assert problem_of(cancelled, 422)["errors"] == [{"field": "why", "message": "is not understood here; send version"}]
    cancelled = qian.post(f"{url}/cancel", json={"version": receipt["version"]}).json()
    assert cancelled["docstatus"] == "cancelled"
    amended = qian.post(f"{url}/amend")
    assert amended.status_code == 201, amended.text
    copy = amended.json()
    assert (copy["amended_from"], copy["docstatus"], copy["lines"][0]["qty"]) == (receipt["id"], "draft", "5.000")
    problem_of(api.client("viewer", "sales").post(f"{url}/amend"), 403)
    assert problem_of(admin.post(f"/api/purchase_order/{order['id']}/make/purchase_receipt", json={"values": [1]}),
                      422)["errors"] == [{"field": "values", "message": "must be an object: fields by name, lines as a list"}]
    assert "purchase_order cannot be made from purchase_receipt" in problem_of(
        admin.post(f"{url}/make/purchase_order"), 404)["detail"]
