"""The alert rules the shipped modules declare, run against the apps that include them."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.alerts import engine_for
from engine.notify import inbox
from tests.service_helpers import NOW

pytest_plugins = ["tests.service_fixtures"]


def evaluate(records, name, at):
    with records.engine.begin() as connection:
        return engine_for(records).evaluate(name, connection, now=at)


@pytest.mark.both_dbs
def test_a_purchase_order_past_its_expected_date_alerts_the_buyers_until_it_is_received(records, user):
    buyer = user("zhaomin", "purchaser", full_name="赵敏")
    system = records.system()
    supplier = system.create("supplier", {"code": "S001", "name": "宁波紧固件"})
    bolt = system.create("item", {"code": "M8", "name": "螺栓", "purchase_price": "1.00"})
    ordered = NOW.date() - dt.timedelta(days=20)
    late = system.create("purchase_order", {"supplier": supplier["id"], "order_date": ordered,
                                            "expected_date": NOW.date() - dt.timedelta(days=2), "lines": [{"item": bolt["id"], "qty": "10"}]}, submit=True)
    system.create("purchase_order", {"supplier": supplier["id"], "expected_date": NOW.date() + dt.timedelta(days=2),
                                     "lines": [{"item": bolt["id"], "qty": "10"}]}, submit=True)
    system.create("purchase_order", {"supplier": supplier["id"], "order_date": ordered,
                                     "expected_date": NOW.date() - dt.timedelta(days=9), "lines": [{"item": bolt["id"], "qty": "10"}]})  # a draft is not late

    first = evaluate(records, "purchase_order_late", NOW)
    assert first.fired == 1
    messages = inbox.messages(records, buyer)
    assert len(messages) == 1 and late["doc_no"] in messages[0]["body"]
    assert messages[0]["link"] == f"/e/purchase_order/{late['id']}"
    assert evaluate(records, "purchase_order_late", NOW + dt.timedelta(hours=2)).fired == 0  # no spam the same day
    assert evaluate(records, "purchase_order_late", NOW + dt.timedelta(days=1)).repeated == 1  # daily reminder

    receipt = system.make_from("purchase_receipt", "purchase_order", late["id"])
    system.submit("purchase_receipt", receipt["id"], version=receipt["version"])
    assert evaluate(records, "purchase_order_late", NOW + dt.timedelta(days=2)).cleared == 1
