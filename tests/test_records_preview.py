"""Session.preview: what a save would compute and report, written nowhere (a form's live round-trip)."""

from __future__ import annotations

import pytest

from engine.errors import PermissionDenied
from tests.service_helpers import D, count

pytest_plugins = ["tests.service_fixtures"]
pytestmark = pytest.mark.both_dbs


def _master(session):
    bolt = session.create("item", {"code": "M8-30", "name": "六角螺栓", "unit": "box", "sale_price": "45.00"})
    customer = session.create("customer", {"code": "C001", "name": "华东五金"})
    return bolt, customer


def test_a_preview_computes_what_the_save_then_stores_and_writes_nothing(records):
    session = records.system()
    bolt, customer = _master(session)
    values = {"customer": customer["id"], "lines": [{"item": bolt["id"], "qty": "3"},
                                                     {"item": bolt["id"], "qty": "2", "price": "40"}]}
    before = count(records, "sales_order")

    preview = session.preview("sales_order", values)

    assert preview.problems == ()
    assert count(records, "sales_order") == before
    saved = session.create("sales_order", values)
    for name in ("subtotal", "tax", "total"):
        assert preview.record[name] == saved[name]
    assert [line["amount"] for line in preview.record["lines"]] == [D("135.00"), D("80.00")]
    assert "customer" in preview.required and "lines[1].qty" in preview.required


def test_a_preview_reports_every_problem_by_field_and_still_computes_the_rest(records):
    session = records.system()
    bolt, customer = _master(session)
    preview = session.preview("sales_order", {"customer": customer["id"], "lines": [
        {"item": bolt["id"], "qty": "2"}, {"item": bolt["id"], "qty": "-1"}]})

    assert [(p.field, p.message) for p in preview.problems] == [("lines[1].qty", "数量必须大于 0")]
    assert preview.record["lines"][0]["amount"] == D("90.00")


def test_a_preview_of_a_saved_record_starts_from_it_and_needs_the_right_to_write(records, user):
    session = records.system()
    bolt, customer = _master(session)
    order = session.create("sales_order", {"customer": customer["id"], "lines": [{"item": bolt["id"], "qty": "1"}]})

    preview = session.preview("sales_order", {"lines": [{"id": order["lines"][0]["id"], "qty": "4"}]},
                              record_id=order["id"])
    assert preview.record["subtotal"] == D("180.00")
    assert session.get("sales_order", order["id"])["subtotal"] == D("45.00")

    reader = records.session(user("cw", "finance"))
    with pytest.raises(PermissionDenied):
        reader.preview("sales_order", {"remark": "x"}, record_id=order["id"])


def test_required_if_is_reported_live_as_its_condition_changes(toy):
    session = toy.system()
    active = session.preview("item", {"code": "A1", "name": "甲", "status": "active"})
    stopped = session.preview("item", {"code": "A1", "name": "甲", "status": "stopped"})

    assert "stop_reason" not in active.required and active.problems == ()
    assert "stop_reason" in stopped.required
    assert [p.field for p in stopped.problems] == ["stop_reason"]
