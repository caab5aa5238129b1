"""Reorder: items at or below their reorder level, the suggested quantities, and draft purchase orders by
supplier that never order the same shortage twice."""

from __future__ import annotations

import pytest

from engine.errors import PermissionDenied
from engine.stock.reorder import create_purchase_drafts, reorder_list
from tests.service_helpers import D, count, make_user
from tests.stock_count_helpers import World, build_world, mfg_app

pytest_plugins = ["tests.service_fixtures"]


@pytest.fixture
def world(make_records) -> World:
    world = build_world(make_records(mfg_app()))
    levels = {"BOLT": ("100", "40"), "NUT": ("0", "20"), "LOT": ("10", "0")}
    for code, (reorder, safety) in levels.items():
        item = world.session.get("item", world.items[code])
        world.session.update("item", item["id"], {"reorder_level": reorder, "safety_stock": safety},
                             version=item["version"])
    return world


def listed(world: World, **options) -> dict[str, tuple]:
    names = {item_id: code for code, item_id in world.items.items()}
    return {names[line.item]: (line.available, line.level, line.on_order, line.suggested)
            for line in reorder_list(world.session, **options)}


def draft_order(world: World, supplier: str, item: str, qty: str) -> dict:
    return world.session.create("purchase_order", {"supplier": world.suppliers[supplier],
                                                   "lines": [{"item": world.items[item], "qty": qty}]})


@pytest.mark.both_dbs
def test_items_at_or_below_their_level_are_listed_with_what_to_order(world):
    world.receive("BOLT", 90)
    world.receive("NUT", 25)
    world.receive("LOT", 10, batch="L1")
    world.receive("PLATE", 1)  # no levels: never listed
    # BOLT: below 100, back up to 100 + 40 safety; LOT: exactly at its level; NUT above its safety stock
    assert listed(world) == {"BOLT": (D("90"), D("100"), D("0"), D("50")), "LOT": (D("10"), D("10"), D("0"), D("0"))}
    world.issue("NUT", 5)
    assert listed(world)["NUT"] == (D("20"), D("20"), D("0"), D("20"))  # at the safety stock: 20 + 20 − 20


def test_stock_in_another_warehouse_counts_only_for_the_whole_company(world):
    world.receive("BOLT", 95, warehouse="B")
    world.receive("BOLT", 10)
    assert "BOLT" not in listed(world)
    assert listed(world, warehouse=world.warehouses["A"])["BOLT"] == (D("10"), D("100"), D("0"), D("130"))


@pytest.mark.both_dbs
def test_drafts_are_made_per_supplier_and_never_twice(world):
    world.receive("BOLT", 90)
    world.receive("NUT", 10)
    lines = reorder_list(world.session)
    made = create_purchase_drafts(world.session, lines)
    assert made.documents == () and {line.item for line in made.without_supplier} == {
        world.items["BOLT"], world.items["NUT"], world.items["LOT"]}  # nobody to order from yet

    draft_order(world, "S1", "BOLT", "10")  # the supplier it was ordered from last; 10 already on order
    draft_order(world, "S2", "NUT", "5")
    assert listed(world)["BOLT"] == (D("90"), D("100"), D("10"), D("40"))
    made = create_purchase_drafts(world.session, reorder_list(world.session))
    assert made.entity == "purchase_order" and [line.item for line in made.without_supplier] == [world.items["LOT"]]
    orders = {order["supplier"]: [(line["item"], line["qty"]) for line in order["lines"]]
              for order in made.documents}
    assert orders == {world.suppliers["S1"]: [(world.items["BOLT"], D("40"))],
                      world.suppliers["S2"]: [(world.items["NUT"], D("25"))]}  # 20 + 20 − 10 − 5
    assert all(order["docstatus"] == "draft" for order in made.documents)

    before = count(world.records, "purchase_order")
    again = create_purchase_drafts(world.session, reorder_list(world.session))
    assert again.documents == () and count(world.records, "purchase_order") == before
    assert listed(world)["BOLT"] == (D("90"), D("100"), D("50"), D("0"))


def test_drafts_are_made_with_the_users_rights(world):
    world.receive("BOLT", 1)
    draft_order(world, "S1", "BOLT", "1")
    keeper = make_user(world.records, "laoli", "warehouse_keeper")
    session = world.records.session(keeper)
    lines = reorder_list(session)
    before = count(world.records, "purchase_order")
    with pytest.raises(PermissionDenied):
        create_purchase_drafts(session, lines)
    assert count(world.records, "purchase_order") == before
    buyer = world.records.session(make_user(world.records, "xiaozhang", "purchaser"))
    (made,) = create_purchase_drafts(buyer, reorder_list(buyer)).documents
    assert made["created_by"] == buyer.user.id and made["lines"][0]["qty"] == D("138")


def run_stock_command(argv: list[str]) -> int:
    from engine.cli import main

    return main(["stock", *argv])


def test_the_command_lists_and_creates(tmp_path, capsys):
    from engine.startup import start
    from tests.service_helpers import APPS

    url = f"sqlite:///{tmp_path / 'mfg.sqlite'}"
    started = start(APPS / "discrete_mfg", url)
    try:
        world = build_world(started.records)
        item = world.session.get("item", world.items["BOLT"])
        world.session.update("item", item["id"], {"reorder_level": "100"}, version=item["version"])
        draft_order(world, "S1", "BOLT", "30")
    finally:
        started.close()
    app = str(APPS / "discrete_mfg")
    assert run_stock_command(["reorder", app, "--db", url]) == 0
    shown = capsys.readouterr().out
    assert "物料BOLT  0  100  30  70  S1 供应商S1" in shown and "已生成" not in shown
    assert run_stock_command(["reorder", app, "--db", url, "--create"]) == 0
    assert "已生成 1 张采购草稿（purchase_order）" in capsys.readouterr().out
    assert run_stock_command(["reorder", app, "--db", url]) == 0
    assert "物料BOLT  0  100  100  0  S1 供应商S1" in capsys.readouterr().out
    assert run_stock_command(["reorder", app, "--db", url, "--warehouse", "NOPE"]) == 1
    assert "没有编码为 NOPE 的仓库" in capsys.readouterr().err


def test_the_daily_alerts_name_items_at_their_reorder_level_or_below_safety_stock(world):
    """reorder_needed (stock module) and low_stock (receiving) are scheduled daily, not on change: the
    worker's run finds what the postings left below the levels."""
    from engine.alerts import engine_for
    from engine.notify.inbox import messages

    manager = make_user(world.records, "laozhang", "stock_manager")
    buyer = make_user(world.records, "xiaowang", "purchaser")
    world.receive("BOLT", 90)
    world.receive("NUT", 25)

    def run(name: str) -> int:
        with world.records.engine.begin() as connection:
            return engine_for(world.records).evaluate(name, connection).fired

    assert run("reorder_needed") == 1 and run("low_stock") == 0  # BOLT 90 ≤ 100; NUT 25 ≥ its safety stock 20
    (message,) = messages(world.records, manager)
    assert "物料BOLT" in message["body"] and "已到再订货点" in message["body"]
    world.issue("NUT", 10)
    assert run("low_stock") == 1 and run("reorder_needed") == 0  # NUT 15 < 20; BOLT's episode goes on
    (message,) = messages(world.records, buyer)
    assert "物料NUT" in message["body"] and "低于安全库存" in message["body"]
