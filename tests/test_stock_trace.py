"""Batch trace for a recall: the receipts a batch came from, the documents it left on, and the customers who
still hold it (shipped − returned), with cancelled documents and internal transfers left out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.errors import NotFound
from engine.stock.trace import Trace, trace_batch
from tests.stock_services_helpers import FoodWorld, build_food_world, trade_september_october

D = dt.date


@pytest.fixture
def traded(db_engine) -> FoodWorld:
    world = build_food_world(db_engine)
    trade_september_october(world)
    return world


def _trace(world: FoodWorld, batch_no: str, item: str | None = None) -> Trace:
    with world.records.engine.connect() as connection:
        return trace_batch(connection, world.records.app, world.records.schema, batch_no,
                           item=world.items[item] if item else None)


def _return(world: FoodWorld, shipment_id: int, qty: str, on: dt.date) -> None:
    world.at(on)
    draft = world.session.make_from("sales_return", "sales_shipment", shipment_id, {"return_date": on.isoformat()})
    line = draft["lines"][0]
    draft = world.session.update("sales_return", draft["id"], {"lines": [{**line, "qty": qty}]},
                                 version=draft["version"])
    world.session.submit("sales_return", draft["id"], version=draft["version"])


@pytest.mark.both_dbs
def test_a_batch_traced_to_its_supplier_and_to_every_customer_fefo_included(traded: FoodWorld) -> None:
    [f1] = _trace(traded, "F1").batches
    assert (f1.item, f1.on_hand, f1.expiry) == ("FLOUR 面粉", Decimal(50), D(2027, 7, 7))
    assert [(m.doc_no, m.posted_at.date(), m.party, m.supplier_batch, m.qty) for m in f1.sources] == [
        ("RK-202609-0001", D(2026, 9, 10), "S1 五得利", "WDL-0910", Decimal(100))]
    # the second shipment named no batch: FEFO took F1, and the trace knows it
    assert [(m.doc_no, m.document, m.party, m.qty) for m in f1.shipments] == [
        ("XC-202610-0001", "销售出库单", "C1 永辉超市", Decimal(30)),
        ("XC-202610-0003", "销售出库单", "C2 明达经销", Decimal(20))]
    assert f1.recall == [("C1 永辉超市", Decimal(30)), ("C2 明达经销", Decimal(20))]


@pytest.mark.both_dbs
def test_returns_reduce_the_recall_list_and_cancelled_or_transferred_moves_are_not_listed(traded: FoodWorld) -> None:
    _return(traded, 1, "30", D(2026, 10, 20))  # C1 sends back all 30 of XC-202610-0001
    [f1] = _trace(traded, "F1").batches
    assert [(m.document, m.party, m.qty, m.supplier_batch) for m in f1.sources][1:] == [
        ("销售退货单", "C1 永辉超市", Decimal(30), None)]
    assert f1.recall == [("C2 明达经销", Decimal(20))]
    [s1] = _trace(traded, "S1").batches  # shipped to C2 and cancelled
    assert s1.shipments == [] and s1.recall == []
    [f2] = _trace(traded, "F2").batches  # moved to warehouse B: still the same batch, nothing went out
    assert [m.doc_no for m in f2.sources] == ["RK-202609-0002"] and f2.shipments == []


@pytest.mark.both_dbs
def test_the_same_number_on_two_items_traces_both_unless_the_item_is_given(traded: FoodWorld) -> None:
    traded.receive("SUGAR", 7, "3.00", batch="F1", on=D(2026, 11, 2))
    assert [(b.item, b.on_hand) for b in _trace(traded, "F1").batches] == [
        ("FLOUR 面粉", Decimal(50)), ("SUGAR 白糖", Decimal(7))]
    assert [b.item for b in _trace(traded, "F1", "SUGAR").batches] == ["SUGAR 白糖"]
    with pytest.raises(NotFound, match="没有批次号为 F9 的批次"):
        _trace(traded, "F9")


@pytest.mark.both_dbs
def test_the_printed_trace_reads_as_a_recall_report(traded: FoodWorld) -> None:
    lines = _trace(traded, "F1").lines()
    assert lines[0] == "批次 F1（FLOUR 面粉，有效期至 2027-07-07），现存 50"
    assert "    2026-09-10  入库单 RK-202609-0001  A 仓库A  S1 五得利  100  供应商批号 WDL-0910" in lines
    assert lines[-3:] == ["  召回名单（客户：净收货数量）：", "    C1 永辉超市: 30", "    C2 明达经销: 20"]
