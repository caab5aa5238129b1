"""The example apps under apps/ (no_stock, food, discrete_mfg) load without a problem and behave as an admin
expects: line and order totals, approval routing by amount, credit control, stock effects, demo data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dsl.build.printing import print_environment
from dsl.formula.context import SimpleContext
from dsl.loader import load_app
from dsl.model import App, EntityKind, Formula
from dsl.summary import summary

APPS_DIR = Path(__file__).parent.parent / "apps"
APPS = sorted(p.name for p in APPS_DIR.iterdir() if (p / "app.yaml").is_file())
STOCK_APPS = ("food", "discrete_mfg")
NOW = dt.datetime(2026, 11, 25, 9, 30)

COMMON_DOCUMENTS = {"purchase_order", "sales_order", "sales_delivery", "customer_receipt", "supplier_payment"}
STOCK_DOCUMENTS = {"goods_receipt", "stock_issue", "stock_transfer", "stock_count", "sales_shipment",
                   "purchase_return", "sales_return"}
EXPECTED_DOCUMENTS = {
    "no_stock": COMMON_DOCUMENTS | {"purchase_receipt"},
    "food": COMMON_DOCUMENTS | STOCK_DOCUMENTS,
    "discrete_mfg": COMMON_DOCUMENTS | STOCK_DOCUMENTS | {"production_order", "production_picking",
                                                          "production_issue", "finished_goods_receipt"},
}
EXPECTED_MODULES = {
    "no_stock": {"catalog", "purchasing", "sales", "finance"},
    "food": {"catalog", "purchasing", "sales", "finance", "stock", "receiving", "shipping"},
    "discrete_mfg": {"catalog", "purchasing", "sales", "finance", "stock", "receiving", "shipping"},
}


@pytest.fixture(scope="module")
def apps() -> dict[str, App]:
    return {name: load_app(APPS_DIR / name) for name in APPS}


def D(text: str) -> Decimal:
    return Decimal(text)


def demo_records(app: App, entity: str) -> list[Mapping[str, Any]]:
    return [record.values for record in app.demo.get(entity, ())]


def demo_by_key(app: App, entity: str) -> dict[Any, Mapping[str, Any]]:
    key = app.entities[entity].key
    return {record[key]: record for record in demo_records(app, entity)}


def run(formula: Formula | None, record: Mapping[str, Any], **context: Any) -> Any:
    assert formula is not None
    return formula.python(record, SimpleContext(now=NOW, **context))


def order_totals(app: App, order: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Compute an order's computed fields the way the engine will: row defaults first, then every formula in the
    order the loader worked out (`lines.amount` before `total`)."""
    items = demo_by_key(app, "item")
    entity = app.entities[order]
    rows_entity = app.entities[f"{order}_lines"]
    rows = []
    for given in values["lines"]:
        row: dict[str, Any] = {**given, "item": items[given["item"]]}
        for name, field in rows_entity.fields.items():
            if name not in row and field.default is not None:
                row[name] = run(field.default, row)
        rows.append(row)
    header: dict[str, Any] = {**values, "lines": rows}
    for name, field in entity.fields.items():
        if name not in header and field.default is not None:
            header[name] = run(field.default, header)
    for path in entity.computed_order:
        table, _, name = path.rpartition(".")
        if table:
            for row in header[table]:
                row[name] = run(app.entities[f"{order}_{table}"].fields[name].formula, row)
        else:
            header[name] = run(entity.fields[name].formula, header)
    return header


# --- every app ------------------------------------------------------------------------------------------------


def test_there_are_three_example_apps():
    assert APPS == ["discrete_mfg", "food", "no_stock"]


@pytest.mark.parametrize("name", APPS)
def test_app_loads_with_its_header_modules_and_documents(apps, name):
    app = apps[name]
    assert app.name == name and app.version == "1.0.0" and app.locale == "zh-CN"
    assert app.title.zh and app.title.en
    assert set(app.modules) == EXPECTED_MODULES[name]
    documents = {n for n, e in app.entities.items() if e.kind is EntityKind.DOCUMENT}
    assert documents == EXPECTED_DOCUMENTS[name]
    text = summary(app)
    for document in EXPECTED_DOCUMENTS[name]:
        assert document in text


@pytest.mark.parametrize("name", APPS)
def test_everything_people_see_has_a_chinese_label_first(apps, name):
    app = apps[name]
    for entity in app.entities.values():
        assert entity.label.zh, f"{entity.name} has no Chinese label"
        for field in entity.fields.values():
            assert field.label.zh, f"{entity.name}.{field.name} has no Chinese label"
    for role in app.roles.values():
        assert role.label.zh, f"role {role.name} has no Chinese label"
    for workflow in app.workflows.values():
        assert all(state.label.zh for state in workflow.states.values())
        assert all(transition.label.zh for transition in workflow.transitions)


@pytest.mark.parametrize("name", APPS)
def test_quantities_and_money_have_explicit_scales(apps, name):
    for entity in apps[name].entities.values():
        for field in entity.fields.values():
            if field.name in ("qty", "received_qty", "delivered_qty", "shipped_qty", "counted_qty", "expected_qty"):
                assert field.scale == 3, f"{entity.name}.{field.name}"
            if field.type == "money":
                assert field.scale == 2, f"{entity.name}.{field.name}"
            if field.name in ("tax_rate", "discount", "variance_pct", "per_received", "per_delivered"):
                assert field.type == "percent", f"{entity.name}.{field.name}"


@pytest.mark.parametrize("name", APPS)
def test_module_entities_are_defined_once_and_extended(apps, name):
    app = apps[name]
    assert app.entities["item"].module == "catalog"
    assert app.entities["purchase_order"].module == "purchasing"
    assert app.entities["sales_order"].module == "sales"
    assert app.entities["customer_receipt"].module == "finance"
    assert "paid_amount" in app.entities["sales_order"].fields  # added by finance through extend:
    if name in STOCK_APPS:
        assert app.entities["goods_receipt"].module == "stock"
        assert "safety_stock" in app.entities["item"].fields  # added by stock through extend:
        assert "purchase_order" in app.entities["goods_receipt"].make_from  # added by receiving
        assert "warehouses" in app.user_fields and app.user_fields["warehouses"].many


# --- purchasing --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", APPS)
def test_purchase_order_line_and_order_totals(apps, name):
    app = apps[name]
    rows = app.entities["purchase_order_lines"].fields
    line = {"qty": D("12.500"), "price": D("3.33"), "tax_rate": D("0.13")}
    line["amount"] = run(rows["amount"].formula, line)
    line["tax"] = run(rows["tax"].formula, line)
    assert line["amount"] == D("41.63")  # 41.625 rounded half away from zero
    assert line["tax"] == D("5.41")  # 5.4119
    assert run(rows["amount_with_tax"].formula, line) == D("47.04")
    second = {"amount": D("100.00"), "tax": D("9.00")}
    order = app.entities["purchase_order"].fields
    record: dict[str, Any] = {"lines": [line, second]}
    record["subtotal"] = run(order["subtotal"].formula, record)
    record["tax"] = run(order["tax"].formula, record)
    assert record["subtotal"] == D("141.63") and record["tax"] == D("14.41")
    assert run(order["total"].formula, record) == D("156.04")
    # the rate comes from the item, 13% when the item has none
    assert run(rows["tax_rate"].default, {"item": {"tax_rate": D("0.09")}}) == D("0.09")
    assert run(rows["tax_rate"].default, {"item": None}) == D("0.13")
    assert rows["received_qty"].read_only


@pytest.mark.parametrize("name", APPS)
def test_purchase_order_validations(apps, name):
    order = apps[name].entities["purchase_order"]
    (dates,) = [v for v in order.validations if "expected_date" in v.rule.source]
    assert run(dates.rule, {"order_date": dt.date(2026, 11, 2), "expected_date": dt.date(2026, 11, 1)}) is False
    assert run(dates.rule, {"order_date": dt.date(2026, 11, 2), "expected_date": dt.date(2026, 11, 2)}) is True
    assert run(dates.rule, {"order_date": dt.date(2026, 11, 2), "expected_date": None}) is True
    rows = apps[name].entities["purchase_order_lines"].fields
    assert run(rows["qty"].validations[0].rule, {"qty": D(0)}) is False
    assert run(rows["price"].validations[0].rule, {"price": D("-0.01")}) is False
    assert run(rows["price"].validations[0].rule, {"price": D(0)}) is True


@pytest.mark.parametrize("name", APPS)
def test_purchase_approval_routes_by_amount(apps, name):
    workflow = apps[name].workflows["purchase_approval"]
    assert workflow.entity == "purchase_order" and workflow.initial == "draft"
    assert workflow.states["approved"].submit
    by_action = {t.action: t for t in workflow.transitions}
    approve, escalate, approve_gm = by_action["approve"], by_action["escalate"], by_action["approve_gm"]
    assert approve.roles == ("purchase_manager",) and escalate.roles == ("purchase_manager",)
    assert approve_gm.roles == ("general_manager",)
    big, small, limit = {"total": D("60000.00")}, {"total": D("30000.00")}, {"total": D("50000.00")}
    assert run(approve.guard, big) is False and run(escalate.guard, big) is True
    assert run(approve.guard, small) is True and run(escalate.guard, small) is False
    assert run(approve.guard, limit) is True  # 50,000 itself is the department head's
    # above 50,000 the general manager approves only after the department head
    assert approve.sources == ("pending",) and escalate.target == "pending_gm"
    assert approve_gm.sources == ("pending_gm",) and approve_gm.target == "approved"
    reject, withdraw = by_action["reject"], by_action["withdraw"]
    assert reject.comment == "required" and set(reject.sources) == {"pending", "pending_gm"}
    assert withdraw.target == "draft" and "pending" in withdraw.sources


@pytest.mark.parametrize("name", APPS)
def test_demo_purchase_orders_include_one_for_the_general_manager(apps, name):
    app = apps[name]
    totals = [order_totals(app, "purchase_order", values)["total"] for values in demo_records(app, "purchase_order")]
    assert len(totals) == 3
    assert any(total > 50000 for total in totals) and any(total <= 50000 for total in totals)


def test_no_stock_demo_purchase_order_totals(apps):
    app = apps["no_stock"]
    first, big, _ = (order_totals(app, "purchase_order", v) for v in demo_records(app, "purchase_order"))
    assert first["subtotal"] == D("10150.00") and first["total"] == D("11469.50")
    assert big["total"] == D("66783.00")


# --- sales and finance -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", APPS)
def test_sales_order_credit_limit(apps, name):
    order = apps[name].entities["sales_order"]
    (credit,) = [v for v in order.validations if "credit_limit" in v.rule.source]
    assert credit.message is not None and "信用额度" in (credit.message.zh or "")
    assert run(credit.rule, {"total": D("60000.00"), "customer": {"credit_limit": D("50000.00")}}) is False
    assert run(credit.rule, {"total": D("50000.00"), "customer": {"credit_limit": D("50000.00")}}) is True
    assert run(credit.rule, {"total": D("60000.00"), "customer": {"credit_limit": D("0.00")}}) is True  # no limit
    assert run(credit.rule, {"total": D("60000.00"), "customer": {"credit_limit": None}}) is True


@pytest.mark.parametrize("name", APPS)
def test_demo_sales_orders_respect_credit_limits(apps, name):
    app = apps[name]
    customers = demo_by_key(app, "customer")
    (credit,) = [v for v in app.entities["sales_order"].validations if "credit_limit" in v.rule.source]
    orders = demo_records(app, "sales_order")
    assert len(orders) >= 2
    for values in orders:
        header = order_totals(app, "sales_order", values)
        header["customer"] = customers[values["customer"]]
        assert run(credit.rule, header) is True, values


@pytest.mark.parametrize("name", APPS)
def test_sales_line_discount_and_delivery_fulfilment(apps, name):
    app = apps[name]
    rows = app.entities["sales_order_lines"].fields
    assert run(rows["amount"].formula, {"qty": D("10"), "price": D("38.50"), "discount": D("0.05")}) == D("365.75")
    assert run(rows["amount"].formula, {"qty": D("10"), "price": D("38.50"), "discount": None}) == D("385.00")
    link = app.entities["sales_delivery"].make_from["sales_order"]
    assert link.lines is not None and link.lines.fulfil == "delivered_qty" and link.lines.qty == "qty"
    assert link.progress is not None and link.progress.percent == "per_delivered"
    assert (link.progress.status, link.progress.partial, link.progress.complete) == ("delivery_status", "partial", "done")
    assert run(link.lines.fields["qty"], {"qty": D("10"), "delivered_qty": D("4")}) == D("6")


@pytest.mark.parametrize("name", APPS)
def test_sales_dashboard(apps, name):
    board = apps[name].dashboards["sales_board"]
    kinds = [w.type for w in board.widgets]
    assert kinds[:3] == ["metric", "bar", "line"]
    top = board.widgets[1]
    assert top.sort == "-amount" and top.limit == 10 and list(top.group_by) == ["customer"]
    month = board.widgets[2].group_by["month"]
    assert run(month, {"order_date": dt.date(2026, 3, 9)}) == 202603


@pytest.mark.parametrize("name", APPS)
def test_overdue_receivables(apps, name):
    app = apps[name]
    alert = app.alerts["overdue_receivable"]
    assert alert.scope == "sales_order" and alert.trigger == "schedule" and alert.schedule is not None
    assert set(alert.roles) >= {"finance"} and set(alert.channels) == {"inbox", "wecom"}
    order = {"docstatus": "submitted", "delivery_status": "done", "order_date": dt.date(2026, 10, 1),
             "customer": {"payment_days": 30}, "total": D("1000.00"), "paid_amount": D("200.00")}
    assert run(alert.condition, order) is True  # 55 days > 30
    assert run(alert.condition, {**order, "paid_amount": D("1000.00")}) is False
    assert run(alert.condition, {**order, "customer": {"payment_days": 60}}) is False
    assert run(alert.condition, {**order, "delivery_status": "pending"}) is False
    aging = app.dashboards["receivable_aging"].widgets[1]
    bucket = aging.group_by["bucket"]
    assert run(bucket, {"order_date": dt.date(2026, 11, 1)}) == "0-30天"
    assert run(bucket, {"order_date": dt.date(2026, 9, 1)}) == "61-90天"
    assert run(bucket, {"order_date": dt.date(2026, 1, 1)}) == "90天以上"
    assert aging.thresholds


@pytest.mark.parametrize("name", APPS)
def test_receipts_are_made_from_sales_orders_and_payments_from_purchase_orders(apps, name):
    app = apps[name]
    receipt = app.entities["customer_receipt"]
    assert {c.value for c in receipt.fields["method"].options} == {"cash", "bank", "wechat", "alipay"}
    link = receipt.make_from["sales_order"]
    assert run(link.fields["amount"], {"unpaid_amount": D("880.00")}) == D("880.00")
    assert "purchase_order" in app.entities["supplier_payment"].make_from


# --- stock -------------------------------------------------------------------------------------------------------


def test_no_stock_app_keeps_no_stock(apps):
    app = apps["no_stock"]
    assert app.stock is None
    assert not any(entity.stock or entity.reservations for entity in app.entities.values())
    assert "stock_balance" not in app.entities


EXPECTED_EFFECTS = {
    "goods_receipt": ["in"],
    "stock_issue": ["out"],
    "stock_transfer": ["transfer"],
    "stock_count": ["in", "out"],
    "sales_shipment": ["out"],
    "purchase_return": ["out"],
    "sales_return": ["in"],
}


@pytest.mark.parametrize("name", STOCK_APPS)
def test_stock_documents_have_effects_in_the_right_direction(apps, name):
    app = apps[name]
    assert app.stock is not None and app.stock.item == "item" and app.stock.warehouse == "warehouse"
    assert app.stock.safety_stock == "safety_stock" and app.stock.batch_required == "has_batch"
    expected = dict(EXPECTED_EFFECTS)
    if name == "discrete_mfg":
        expected |= {"production_issue": ["out"], "finished_goods_receipt": ["in"]}
    for document, directions in expected.items():
        assert [effect.direction for effect in app.entities[document].stock] == directions, document
    transfer = app.entities["stock_transfer"].stock[0]
    assert transfer.to_warehouse is not None and transfer.to_warehouse.source == "parent.to_warehouse"
    receipt = app.entities["goods_receipt"].stock[0]
    assert receipt.batch is not None and receipt.expiry is not None and receipt.unit_cost is not None
    with_effects = {n for n, e in app.entities.items() if e.stock}
    assert with_effects == set(expected)


@pytest.mark.parametrize("name", STOCK_APPS)
def test_stock_count_variance_and_tolerance(apps, name):
    rows = apps[name].entities["stock_count_lines"].fields

    def count(expected: str, counted: str) -> dict[str, Any]:
        row: dict[str, Any] = {"expected_qty": D(expected), "counted_qty": D(counted)}
        for field in ("difference", "variance_pct", "within_tolerance"):
            row[field] = run(rows[field].formula, row)
        return row

    row = count("500", "380")  # the article's 500 on the books, 380 on the shelf
    assert row["difference"] == D("-120") and row["variance_pct"] == D("-0.24") and row["within_tolerance"] is False
    assert count("100", "103")["within_tolerance"] is True
    assert count("100", "96.5")["within_tolerance"] is False
    assert count("0", "0")["within_tolerance"] is True
    assert count("0", "2")["within_tolerance"] is False
    accuracy = apps[name].entities["stock_count"].fields["accuracy"].formula
    rows_ = [count("100", "100"), count("100", "101"), count("100", "90"), count("50", "50")]
    assert run(accuracy, {"lines": rows_}) == D("0.75")
    adjust_in, adjust_out = apps[name].entities["stock_count"].stock
    assert run(adjust_in.qty, row) == 0 and run(adjust_out.qty, row) == D("120")


@pytest.mark.parametrize("name", STOCK_APPS)
def test_warehouse_keepers_see_their_own_warehouses(apps, name):
    app = apps[name]
    keeper = app.roles["warehouse_keeper"]
    for document in ("goods_receipt", "stock_issue", "stock_transfer", "stock_count", "sales_shipment"):
        assert document in keeper.row_rules, document
    (rule,) = keeper.row_rules["goods_receipt"]
    user = {"id": 7, "name": "laoli", "warehouses": [{"id": 1}, {"id": 2}]}
    assert run(rule, {"warehouse": {"id": 2}}, user=user) is True
    assert run(rule, {"warehouse": {"id": 3}}, user=user) is False


@pytest.mark.parametrize("name", STOCK_APPS)
def test_low_stock_goes_to_purchasing(apps, name):
    alert = apps[name].alerts["low_stock"]
    assert alert.scope == "stock_balance" and alert.schedule is not None and alert.schedule.cron == "0 8 * * *"
    assert set(alert.roles) >= {"purchaser"} and "wecom" in alert.channels
    plain, batched = {"safety_stock": D("10"), "has_batch": False}, {"safety_stock": D("10"), "has_batch": True}
    row = {"batch": None, "on_hand": D("9"), "reserved": D("0"), "available": D("9"), "item": plain}
    assert run(alert.condition, row) is True
    assert run(alert.condition, {**row, "available": D("10")}) is False
    # a batch below it alerts; the engine's empty row of a batch-tracked item and a batch used up do not
    assert run(alert.condition, {**row, "batch": {"id": 4}, "item": batched}) is True
    assert run(alert.condition, {**row, "on_hand": D("0"), "available": D("0"), "item": batched}) is False
    assert run(alert.condition, {**row, "batch": {"id": 4}, "on_hand": D("0"), "available": D("0"),
                                 "item": batched}) is False
    board = apps[name].dashboards["stock_board"]
    assert any(w.entity == "stock_balance" and w.type == "bar" and w.thresholds for w in board.widgets)


# --- food ----------------------------------------------------------------------------------------------------------


def test_food_items_receipts_and_shipments(apps):
    app = apps["food"]
    item = app.entities["item"].fields
    assert item["shelf_life_days"].required and item["storage"].required
    assert [c.label.zh for c in item["storage"].options] == ["常温", "冷藏", "冷冻"]
    receipt_rows = app.entities["goods_receipt_lines"].fields
    assert receipt_rows["batch_no"].required and receipt_rows["expiry"].required
    assert run(receipt_rows["expiry"].default, {"production_date": dt.date(2026, 1, 5),
                                                "item": {"shelf_life_days": 365}}) == dt.date(2027, 1, 5)
    # a shipment line may leave the batch empty: the stock engine allocates it first-expiry-first-out
    assert not app.entities["sales_shipment_lines"].fields["batch_no"].required
    (remaining, by_customer) = [v for v in app.entities["sales_shipment"].validations if "expiry" in v.rule.source]
    shipment = {"ship_date": dt.date(2026, 11, 25), "customer": {"min_remaining_days": 120},
                "lines": [{"expiry": dt.date(2027, 1, 15), "item": {"min_remaining_shelf_life_days": 30}}]}
    assert run(remaining.rule, shipment) is True and run(by_customer.rule, shipment) is False


def test_food_near_expiry_alert(apps):
    alert = apps["food"].alerts["near_expiry"]
    assert alert.scope == "stock_batch" and alert.trigger == "schedule"
    assert run(alert.condition, {"expiry": dt.date(2026, 12, 10), "on_hand": D("40")}) is True
    assert run(alert.condition, {"expiry": dt.date(2026, 12, 10), "on_hand": D("0")}) is False
    assert run(alert.condition, {"expiry": dt.date(2027, 10, 8), "on_hand": D("80")}) is False


def test_food_demo_data(apps):
    app = apps["food"]
    counts = {entity: len(records) for entity, records in app.demo.items()}
    assert counts["item"] == 6 and counts["warehouse"] == 3 and counts["goods_receipt"] == 7
    assert {w["name"] for w in demo_records(app, "warehouse")} == {"常温库", "冷藏库", "冷冻库"}
    assert all(record.submit for record in app.demo["goods_receipt"])
    assert all(item.get("shelf_life_days") for item in demo_records(app, "item"))
    batches = [line for receipt in demo_records(app, "goods_receipt") for line in receipt["lines"]]
    assert all(line["batch_no"] and line["expiry"] > line["production_date"] for line in batches)
    near = [line for line in batches if (line["expiry"] - NOW.date()).days <= 30]
    assert [line["batch_no"] for line in near] == ["NZ260615"]  # the alert has something to say


# --- discrete manufacturing ----------------------------------------------------------------------------------------


def test_discrete_mfg_production(apps):
    app = apps["discrete_mfg"]
    assert [c.value for c in app.entities["item"].fields["item_type"].options] == ["raw", "semi", "finished"]
    for document in ("sales_order", "sales_shipment", "sales_delivery"):
        assert app.entities[document].fields["contract_no"].required, document
    picking = app.entities["production_picking"]
    assert [r.table for r in picking.reservations] == ["lines"]
    link = picking.make_from["production_order"]
    assert link.lines is not None and link.lines.fulfil == "picked_qty"
    assert link.progress is not None and link.progress.status == "kitting_status"
    bom = app.entities["bom"]
    assert bom.kind is EntityKind.MASTER and "qty_per" in app.entities["bom_components"].fields
    flow = app.workflows["production_flow"]
    assert flow.state_field == "status"
    (start,) = [t for t in flow.transitions if t.action == "start"]
    assert run(start.guard, {"kitting_status": "partial"}) is False
    assert run(start.guard, {"kitting_status": "done"}) is True


def test_discrete_mfg_demo_bom_and_orders(apps):
    app = apps["discrete_mfg"]
    items = demo_by_key(app, "item")
    types = {item["item_type"] for item in items.values()}
    assert types == {"raw", "semi", "finished"}
    (bom_rule,) = [v for v in app.entities["bom"].validations if "item_type" in v.rule.source]
    for bom in demo_records(app, "bom"):
        assert run(bom_rule.rule, {"product": items[bom["product"]]}) is True
    (order,) = demo_records(app, "production_order")
    assert order["contract_no"] in {so["contract_no"] for so in demo_records(app, "sales_order")}


# --- no_stock ------------------------------------------------------------------------------------------------------


def test_no_stock_extensions_and_demo(apps):
    app = apps["no_stock"]
    assert app.entities["item"].label.zh == "商品"
    assert {c.value for c in app.entities["customer"].fields["grade"].options} == {"a", "b", "c"}
    counts = {entity: len(records) for entity, records in app.demo.items()}
    assert counts["item"] == 5 and counts["customer"] == 3 and counts["supplier"] == 3
    assert counts["purchase_order"] == 3 and counts["sales_order"] == 3
    assert counts["sales_delivery"] == 1 and counts["customer_receipt"] == 1
    assert app.entities["purchase_receipt"].make_from["purchase_order"].lines.fulfil == "received_qty"


def test_no_stock_sales_order_print_format(apps):
    app = apps["no_stock"]
    (printed,) = [p for p in app.print_formats.values() if p.entity == "sales_order"]
    assert printed.default and printed.paper == "A4"
    template = print_environment().from_string(printed.template_source)
    doc = {"doc_no": "SO-202611-0001", "customer": {"name": "华东五金<机电>"}, "contract_no": "HD-2026-118",
           "order_date": dt.date(2026, 11, 2), "subtotal": D("5400.00"), "tax": D("702.00"), "total": D("6102.00"),
           "lines": [{"item": {"name": "六角螺栓", "spec": "M8×30"}, "qty": D("120.000"), "price": D("45.00"),
                      "discount": D("0"), "tax_rate": D("0.13"), "amount": D("5400.00"), "tax": D("702.00"),
                      "amount_with_tax": D("6102.00")}]}
    html = template.render(doc=doc)
    assert "SO-202611-0001" in html and "六角螺栓" in html and "M8×30" in html
    assert "华东五金&lt;机电&gt;" in html  # escaped
    assert "¥6,102.00" in html and ">120<" in html and "13%" in html
