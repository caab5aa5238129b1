"""Demo data: every record checked against its entity, links resolved among the demo records by key."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from dsl.loader import load_app
from dsl.problems import CheckFailed

APP = """\
name: shop
title: 小店
entities:
  tag:
    fields:
      code: string
  item:
    fields:
      code: {type: string, required: true, max_length: 8}
      name: {type: string, required: true}
      description: {type: text, required: true, default: '"-"'}
      qty_per_box: int
      price: {type: money, precision: 6}
      tax_rate: percent
      active: {type: bool, default: true}
      launched: date
      checked_at: datetime
      category: {type: choice, options: {raw: 原料, done: 成品}}
      grade: {type: choice, options: {"1": 一级, "2": 二级}}
      tags: {type: link, link: tag, many: true}
      price_with_tax: {type: money, formula: price * (1 + tax_rate)}
  customer:
    fields:
      code: string
      name: string
  sales_order:
    kind: document
    fields:
      customer: {type: link, link: customer, required: true}
      order_date: date
      lines:
        type: table
        fields:
          item: {type: link, link: item, required: true}
          qty: {type: decimal, scale: 3}
          amount: {type: money, formula: qty * 2}
      total: {type: money, formula: SUM(lines.amount)}
  return_note:
    kind: document
    fields:
      sales_order: {type: link, link: sales_order}
"""


def _write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: str) -> str:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "apps" / "shop"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(APP, encoding="utf-8")
    text = textwrap.dedent(demo)
    (folder / "demo.yaml").write_text(text, encoding="utf-8")
    return text


def _at(text: str, needle: str) -> str:
    """`apps/shop/demo.yaml:line:col` of the one place where `needle` is written."""
    assert text.count(needle) == 1, f"{needle!r} must occur once"
    before = text[: text.index(needle)]
    return f"apps/shop/demo.yaml:{before.count(chr(10)) + 1}:{len(before) - (before.rfind(chr(10)) + 1) + 1}"


def test_good_demo_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, monkeypatch, """\
        demo:
          sales_order:
            - customer: C001
              order_date: 2026-03-01
              _submit: true
              lines:
                - {item: I001, qty: 2}
                - {item: I002, qty: 1.5}
            - {customer: C001, _submit: false}
          item:
            - code: I001
              name: 螺丝
              qty_per_box: 100
              price: 1.5
              tax_rate: 0.13
              launched: 2026-01-05
              checked_at: 2026-01-05
              category: raw
              grade: 1
              tags: [T1, T2]
            - {code: I002, name: 螺母, checked_at: 2026-01-05 08:30:00, active: false, price: -3}
          tag:
            - {code: T1}
            - {code: T2}
          customer:
            - {code: C001, name: 客户一}
        """)
    demo = load_app("apps/shop").demo
    assert list(demo) == ["tag", "customer", "item", "sales_order"]  # link targets first
    screw, nut = demo["item"]
    assert dict(screw.values) == {
        "code": "I001", "name": "螺丝", "qty_per_box": 100, "price": Decimal("1.50"), "tax_rate": Decimal("0.1300"),
        "launched": dt.date(2026, 1, 5), "checked_at": dt.datetime(2026, 1, 5), "category": "raw", "grade": "1",
        "tags": ("T1", "T2"),
    }
    assert isinstance(screw.values["grade"], str)
    assert screw.entity == "item" and screw.submit is False
    assert screw.origin is not None and (screw.origin.file, screw.origin.line) == ("apps/shop/demo.yaml", 11)
    assert nut.values["checked_at"] == dt.datetime(2026, 1, 5, 8, 30) and nut.values["active"] is False
    assert nut.values["price"] == Decimal("-3.00")
    order, draft = demo["sales_order"]
    assert order.submit is True and draft.submit is False
    assert order.values["customer"] == "C001" and order.values["order_date"] == dt.date(2026, 3, 1)
    assert [dict(row) for row in order.values["lines"]] == [
        {"item": "I001", "qty": Decimal("2.000")}, {"item": "I002", "qty": Decimal("1.500")}]
    assert dict(draft.values) == {"customer": "C001"}
    assert [record.values["code"] for record in demo["tag"]] == ["T1", "T2"]


def test_records_of_modules_and_app_are_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module's demo records and the app's are one list: a key given in both is given twice."""
    _write(tmp_path, monkeypatch, "demo:\n  tag: [{code: T1}, {code: T2}]\n")
    module = tmp_path / "apps" / "modules" / "tags"
    module.mkdir(parents=True)
    (module / "module.yaml").write_text(
        "name: tags\nentities:\n  tag:\n    fields:\n      code: string\ndemo:\n  tag: [{code: T1}]\n",
        encoding="utf-8")
    app = APP.replace("title: 小店\n", "title: 小店\ninclude: [tags]\n")
    app = app.replace("  tag:\n    fields:\n      code: string\n", "")  # the module defines it
    (tmp_path / "apps" / "shop" / "app.yaml").write_text(app, encoding="utf-8")
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    assert ("apps/shop/demo.yaml:2:16: error: demo: two tag records have code 'T1': here and at "
            "apps/modules/tags/module.yaml:7:10 (module tags)") in str(failed.value)


ITEMS = "  item:\n    - {code: I001, name: 螺丝}\n    - {code: I002, name: 螺母}\n"
ORDER = "  customer: [{code: C001}]\n" + ITEMS


CASES = [
    pytest.param("  itme: [{code: I001}]\n", "itme", "demo: there is no entity 'itme'\n"
                 "    at demo.itme\n    hint: did you mean 'item'?", id="unknown-entity"),
    pytest.param("  sales_order_lines: [{qty: 1}]\n", "sales_order_lines",
                 "demo: sales_order_lines holds the rows of sales_order.lines; give them inside each sales_order's "
                 "lines:", id="child-entity"),
    pytest.param("  user: [{name: admin}]\n", "user", "demo: user is kept by jxc itself, so demo data cannot fill it",
                 id="system-entity"),
    pytest.param("  item: [{code: I001, name: 螺丝, colour: red, nmae: x}]\n", "nmae",
                 "demo: item has no field 'nmae'\n    at demo.item[0].nmae\n    hint: did you mean 'name'?",
                 id="unknown-field"),
    pytest.param("  item: [{code: I001, name: 螺丝, price_with_tax: 5}]\n", "price_with_tax",
                 "demo: item.price_with_tax is computed; leave it out\n    at demo.item[0].price_with_tax\n"
                 "    hint: its formula: price * (1 + tax_rate)", id="computed-field"),
    pytest.param(ORDER + "  sales_order: [{customer: C001, doc_no: SO-1}]\n", "doc_no",
                 "demo: doc_no is filled in by jxc itself; leave it out", id="system-column"),
    pytest.param("  item: [{code: I001, name: 螺丝, created_at: 2026-01-01}]\n", "created_at",
                 "demo: created_at is filled in by jxc itself; leave it out", id="system-column-master"),
    pytest.param("  item: [{code: I001, name: 螺丝, _submit: true}]\n", "_submit",
                 "demo: _submit only applies to documents, and item is master data", id="submit-master"),
    pytest.param(ORDER + "  sales_order: [{customer: C001, _submit: yes}]\n", "yes",
                 "demo: _submit is true or false", id="submit-not-bool"),
    pytest.param(ORDER + "  sales_order: [{customer: C001, _sbmit: true}]\n", "_sbmit",
                 "demo: unknown setting '_sbmit'; the only one is _submit", id="unknown-setting"),
    pytest.param("  item:\n    - code: I001\n      qty_per_box: 5\n", "code: I001",
                 "demo: this item record needs name (a required field)", id="required-missing"),
    pytest.param("  item: [{code: 7, name: 螺丝}]\n", "7,",
                 "demo: item.code is text, but this is the number 7\n    at demo.item[0].code\n"
                 "    hint: put it in quotes, e.g. '007': without them YAML reads 007 as the number 7",
                 id="number-for-text"),
    pytest.param("  item: [{code: I00000001, name: 螺丝}]\n", "I00000001",
                 "demo: item.code holds at most 8 characters, but this text has 9", id="text-too-long"),
    pytest.param("  item: [{code: I001, name: 螺丝, qty_per_box: true}]\n", "true",
                 "demo: item.qty_per_box is a whole number, but this is true (true/false)", id="bool-for-int"),
    pytest.param("  item: [{code: I001, name: 螺丝, qty_per_box: 2.5}]\n", "2.5",
                 "demo: item.qty_per_box is a whole number, but this is the number 2.5", id="decimal-for-int"),
    pytest.param("  item: [{code: I001, name: 螺丝, price: 1.555}]\n", "1.555",
                 "demo: item.price has 2 decimal places, but 1.555 has 3", id="too-many-decimals"),
    pytest.param("  item: [{code: I001, name: 螺丝, price: 12345.5}]\n", "12345.5",
                 "demo: item.price holds at most 4 digits before the decimal point, but 12345.5 has 5",
                 id="too-many-digits"),
    pytest.param("  item: [{code: I001, name: 螺丝, tax_rate: 13%}]\n", "13%",
                 "demo: item.tax_rate is a number, but this is the text '13%'\n    at demo.item[0].tax_rate\n"
                 "    hint: a percentage is written as a fraction: 13% is 0.13", id="percent-sign"),
    pytest.param("  item: [{code: I001, name: 螺丝, tax_rate: '0.13'}]\n", "'0.13'",
                 "demo: item.tax_rate is a number, but this is the text '0.13'\n    at demo.item[0].tax_rate\n"
                 "    hint: remove the quotes", id="quoted-number"),
    pytest.param("  item: [{code: I001, name: 螺丝, active: 1}]\n", "1}",
                 "demo: item.active is true or false, but this is the number 1", id="number-for-bool"),
    pytest.param("  item: [{code: I001, name: 螺丝, launched: 2026-01-05 10:00}]\n", "2026",
                 "demo: item.launched is a date, but this is the date and time 2026-01-05 10:00:00",
                 id="datetime-for-date"),
    pytest.param("  item: [{code: I001, name: 螺丝, launched: 2026/01/05}]\n", "2026",
                 "demo: item.launched is a date, but this is the text '2026/01/05'\n    at demo.item[0].launched\n"
                 "    hint: write dates as 2026-03-01, without quotes", id="text-for-date"),
    pytest.param("  item: [{code: I001, name: 螺丝, category: raww}]\n", "raww",
                 "demo: 'raww' is not an option of item.category\n    at demo.item[0].category\n"
                 "    hint: did you mean 'raw'?", id="not-an-option"),
    pytest.param("  customer: [{code: C001}]\n  sales_order: [{customer: C002}]\n", "C002",
                 "demo: sales_order.customer: there is no customer with code 'C002' in the demo data\n"
                 "    at demo.sales_order[0].customer\n    hint: did you mean 'C001'?", id="unknown-link"),
    pytest.param("  customer: [{code: C001}]\n  sales_order: [{customer: 5}]\n", "5}",
                 "demo: sales_order.customer names customer records by their code: customer.code is text, but this "
                 "is the number 5", id="link-key-type"),
    pytest.param("  sales_order: [{customer: C001}]\n", "C001",
                 "demo: sales_order.customer: there is no customer with code 'C001' in the demo data\n"
                 "    at demo.sales_order[0].customer\n    hint: add demo records for customer", id="no-link-targets"),
    pytest.param("  return_note: [{sales_order: SO-2026-00001}]\n", "SO-2026",
                 "demo: return_note.sales_order links to the document sales_order; demo data can only link to master "
                 "data, by its key", id="link-to-document"),
    pytest.param("  tag: [{code: T2}, {code: T1}]\n  item: [{code: I001, name: 螺丝, tags: T2}]\n", "T2}]",
                 "demo: item.tags links to several tag records; give their codes as a list", id="many-not-list"),
    pytest.param("  tag: [{code: T1}]\n  item: [{code: I001, name: 螺丝, tags: [T1, T9]}]\n", "T9",
                 "demo: item.tags: there is no tag with code 'T9' in the demo data", id="many-unknown"),
    pytest.param(ORDER + "  sales_order: [{customer: C001, lines: {item: I001}}]\n", "{item: I001}}",
                 "demo: sales_order.lines is a table; give its rows as a list", id="table-not-list"),
    pytest.param(ORDER + "  sales_order:\n    - customer: C001\n      lines:\n        - {item: I001, qty: 1}\n"
                 "        - {item: I003, qty: 1}\n", "I003",
                 "demo: sales_order.lines.item: there is no item with code 'I003' in the demo data", id="row-link"),
    pytest.param(ORDER + "  sales_order:\n    - customer: C001\n      lines:\n        - {qty: 1, amount: 2}\n",
                 "{qty", "demo: this sales_order.lines row needs item (a required field)", id="row-required"),
    pytest.param(ORDER + "  sales_order:\n    - customer: C001\n      lines:\n        - {item: I001, amount: 2}\n",
                 "amount", "demo: sales_order.lines.amount is computed; leave it out", id="row-computed"),
    pytest.param(ORDER + "  sales_order:\n    - customer: C001\n      lines:\n        - {item: I001, _submit: true}\n",
                 "_submit", "demo: _submit only applies to documents, and sales_order.lines is a table row",
                 id="row-submit"),
    pytest.param(ORDER + "  sales_order:\n    - customer: C001\n      lines: [I001]\n", "I001]",
                 "demo: a row of sales_order.lines is a mapping of column: value", id="row-not-mapping"),
    pytest.param("  item:\n    - {code: I001, name: 螺丝}\n    - {code: I001, name: 又是螺丝}\n", "I001, name: 又",
                 "demo: two item records have code 'I001': here and at apps/shop/demo.yaml:3:8", id="duplicate-key"),
]


@pytest.mark.parametrize(("demo", "needle", "message"), CASES)
def test_broken_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: str, needle: str, message: str) -> None:
    text = _write(tmp_path, monkeypatch, "demo:\n" + demo)
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    output = str(failed.value)
    assert f"{_at(text, needle)}: error: {message}" in output, output
