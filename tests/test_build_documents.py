"""Documents: naming series, make_from links with fulfilment, stock effects and reservations."""

from __future__ import annotations

from decimal import Decimal

STOCK = """
stock: {item: item, warehouse: warehouse}
entities:
  item:
    fields: {code: string, name: string}
  warehouse:
    fields: {code: string}
  purchase_order:
    kind: document
    naming: PO-{YYYY}-{#####}
    fields:
      warehouse: {type: link, link: warehouse}
      per_received: percent
      receipt_status: {type: choice, options: {pending: 待收货, partial: 部分收货, done: 已完成}}
      lines:
        type: table
        fields:
          item: {type: link, link: item}
          qty: {type: decimal, scale: 3}
          price: money
          received_qty: {type: decimal, scale: 3, read_only: true}
"""

RECEIPT = """
  goods_receipt:
    kind: document
    fields:
      warehouse: {type: link, link: warehouse}
      note: string
      lines:
        type: table
        fields:
          item: {type: link, link: item}
          qty: {type: decimal, scale: 3}
          price: money
          amount: {type: money, formula: qty * price}
"""


def test_naming_series_and_defaults(shop):
    app = shop.load(STOCK + RECEIPT)
    po, receipt = app.entities["purchase_order"], app.entities["goods_receipt"]
    assert (po.naming.pattern, po.naming.reset) == ("PO-{YYYY}-{#####}", "yearly")
    assert (receipt.naming.pattern, receipt.naming.reset) == ("GR-{YYYY}-{#####}", "yearly")
    assert po.key == "doc_no" and po.amend is True
    assert app.entities["item"].key == "code"


def test_bad_naming_patterns(shop):
    text = shop.problems("""
        entities:
          a_doc: {kind: document, naming: "A-{YYYY}-{###}-{##}", fields: {x: int}}
          b_doc: {kind: document, naming: "B-{YYYY}-{X}-{####}", fields: {x: int}}
          c_doc: {kind: document, naming: {pattern: "C-{#####}", reset: yearly}, fields: {x: int}}
          d_doc: {kind: document, naming: "D-{YYYY}", fields: {x: int}}
          e_item: {naming: "E-{###}", fields: {x: int}}
    """)
    assert f"{shop.at(chr(34) + 'A-{YYYY}')}: error: a naming pattern can have only one counter" in text
    assert f"{shop.at(chr(34) + 'B-{YYYY}')}: error: unknown part {{X}} in the naming pattern" in text
    assert f"{shop.at('yearly')}: error: yearly numbering needs {{YYYY}} or {{YY}} in the pattern" in text
    assert f"{shop.at(chr(34) + 'D-{YYYY}')}: error: a naming pattern needs exactly one counter such as {{#####}}" in text
    assert f"{shop.at('naming', 5)}: error: naming only applies to documents, and e_item is master data" in text


def test_make_from_with_fulfilment_and_progress(shop):
    app = shop.load(STOCK + RECEIPT + """
    make_from:
      purchase_order:
        label: {zh: 生成入库单, en: Make receipt}
        fields: {warehouse: warehouse, note: '"PO " & doc_no'}
        lines:
          from: lines
          to: lines
          fields: {item: item, qty: qty - received_qty, price: price}
          fulfil: received_qty
          qty: qty
          tolerance: 5%
        progress: {percent: per_received, status: receipt_status, partial: partial, complete: done}
""")
    link = app.entities["goods_receipt"].make_from["purchase_order"]
    assert link.label.zh == "生成入库单"
    assert link.lines.fulfil == "received_qty" and link.lines.qty == "qty" and link.lines.tolerance == Decimal(5)
    assert link.progress.status == "receipt_status" and link.progress.complete == "done"
    source_line = {"qty": Decimal(10), "received_qty": Decimal(4), "item": 1, "price": Decimal("2.50")}
    assert link.lines.fields["qty"].python(source_line) == Decimal(6)
    assert link.fields["note"].python({"doc_no": "PO-2026-00001", "warehouse": 1}) == "PO PO-2026-00001"


def test_make_from_mistakes_are_located(shop):
    text = shop.problems(STOCK + RECEIPT + """
    make_from:
      purchase_ordr:
        fields: {warehouse: warehouse}
      item:
        fields: {note: code}
      purchase_order:
        fields: {warehouse: per_received, amount: doc_no, notes: doc_no}
        lines:
          from: lines
          to: lines
          fields: {item: item, qty: qty - recieved_qty, amount: price}
          fulfil: price_list
        progress: {status: receipt_status, partial: partly, complete: done}
""")
    assert f"{shop.at('purchase_ordr')}: error: make_from: there is no document 'purchase_ordr'" in text
    assert "did you mean 'purchase_order'?" in text
    assert (f"{shop.at('item:' + chr(10) + '        fields: {note')}: error: make_from: 'item' is master data; a document can only be made from "
            "another document") in text
    assert (f"{shop.at('per_received, amount')}: error: make_from purchase_order: goods_receipt.warehouse must give a "
            "warehouse record, but this formula gives a number") in text
    assert f"{shop.at('amount: doc_no')}: error: make_from purchase_order: goods_receipt has no field 'amount'" in text
    assert f"{shop.at('notes')}: error: make_from purchase_order: goods_receipt has no field 'notes'" in text
    assert f"{shop.at('recieved_qty')}: error: purchase_order_lines has no field 'recieved_qty'" in text
    assert (f"{shop.at('amount: price')}: error: make_from purchase_order: lines: goods_receipt_lines.amount is "
            "computed by its formula and cannot be filled in") in text
    assert f"{shop.at('price_list')}: error: make_from purchase_order: fulfil: purchase_order_lines has no field" in text
    assert f"{shop.at('partly')}: error: 'partly' is not an option of purchase_order.receipt_status" in text


def test_stock_effects_are_typed_against_the_stock_settings(shop):
    app = shop.load(STOCK + RECEIPT + """
    stock:
      - {table: lines, direction: in, item: item, qty: qty, warehouse: parent.warehouse, unit_cost: price}
    reservations:
      - {table: lines, item: item, qty: qty, warehouse: parent.warehouse}
""")
    effect = app.entities["goods_receipt"].stock[0]
    assert effect.direction == "in" and effect.warehouse.source == "parent.warehouse"
    assert app.entities["goods_receipt"].reservations[0].qty.source == "qty"


def test_stock_effect_mistakes(shop):
    text = shop.problems(STOCK + RECEIPT + """
    stock:
      - {table: lines, direction: in, item: price, qty: item, warehouse: parent.warehouse, to_warehouse: parent.warehouse}
      - {table: line, direction: transfer, item: item, qty: qty, warehouse: parent.warehouse}
      - {table: note, direction: out, item: item, qty: qty, warehouse: warehouse}
""")
    assert (f"{shop.at('item: price')[:-2]}") in text  # the line is reported
    assert "stock effect of goods_receipt: item must give an item record, but this formula gives a number" in text
    assert "stock effect of goods_receipt: qty must give a number, but this formula gives an item record" in text
    assert "to_warehouse only applies to transfers, not to direction in" in text
    assert f"{shop.at('line,')}: error: stock effect of goods_receipt: goods_receipt has no field 'line'" in text
    assert f"{shop.at('note,')}: error: stock effect of goods_receipt: 'note' is not a table field of goods_receipt" \
        in text


def test_stock_effects_need_stock_settings(shop):
    text = shop.problems(STOCK.replace("stock: {item: item, warehouse: warehouse}\n", "") + RECEIPT + """
    stock:
      - {table: lines, direction: in, item: item, qty: qty, warehouse: parent.warehouse}
""")
    assert "stock effect of goods_receipt needs the app's stock settings" in text
    assert "hint: add stock: {item: item, warehouse: warehouse} to app.yaml" in text


def test_entity_columns_and_keys_must_exist(shop):
    text = shop.problems("""
        entities:
          item:
            key: sku
            list: [code, nam]
            indexes: [[code, lines]]
            fields:
              code: string
              name: string
              lines: {type: table, fields: {x: int}}
    """)
    assert f"{shop.at('sku')}: error: key: item has no field 'sku'" in text
    assert f"{shop.at('nam]')}: error: list: item has no field 'nam'" in text
    assert "did you mean 'name'?" in text
    assert f"{shop.at('lines]')}: error: indexes: 'lines' is a table and cannot be used here" in text
