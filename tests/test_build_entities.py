"""Entities and fields: types, names, links, formulas checked at their own column, computed order."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest

from dsl.loader import load_app
from dsl.model import EntityKind, FieldType
from dsl.problems import CheckFailed

HEADER = "name: shop\ntitle: 小店\n"


def load(tmp_path, monkeypatch, body: str):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "apps" / "shop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.yaml").write_text(HEADER + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return load_app("apps/shop")


def problems(tmp_path, monkeypatch, body: str) -> str:
    with pytest.raises(CheckFailed) as caught:
        load(tmp_path, monkeypatch, body)
    return str(caught.value)


def test_field_types_defaults_and_labels(tmp_path, monkeypatch):
    app = load(tmp_path, monkeypatch, """
        entities:
          item:
            fields:
              code: string
              qty: {type: decimal, scale: 3, label: 数量}
              price: {type: money, label: {zh: 单价, en: Price}}
              rate: percent
              status: {type: choice, options: {active: 启用, stopped: 停用}}
              grade: {type: choice, options: [A, B]}
    """)
    item = app.entities["item"]
    assert item.kind is EntityKind.MASTER and item.key == "code"
    assert item.fields["code"].type is FieldType.STRING and item.fields["code"].max_length == 140
    assert (item.fields["qty"].scale, item.fields["qty"].precision) == (3, 18)
    assert item.fields["price"].scale == 2 and item.fields["price"].label.en == "Price"
    assert item.fields["rate"].scale == 4
    assert [(c.value, c.label.zh) for c in item.fields["status"].options] == [("active", "启用"), ("stopped", "停用")]
    assert [c.value for c in item.fields["grade"].options] == ["A", "B"]
    assert item.fields["qty"].label.zh == "数量"


def test_reserved_and_system_names_are_refused(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          user:
            fields: {name: string}
          item:
            fields:
              order: int
              id: string
    """)
    assert "apps/shop/app.yaml:4:3: error: 'user' is an entity that jxc provides itself; choose another entity name" in text
    assert "apps/shop/app.yaml:8:7: error: 'order' is a reserved word of SQL; choose another field name" in text
    assert "hint: for example 'sort_order'" in text
    assert "apps/shop/app.yaml:9:7: error: 'id' is a column that jxc adds itself; choose another field name" in text


def test_links_must_point_at_entities(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          item:
            fields: {code: string}
          order_line:
            fields:
              item: {type: link, link: itme}
              other: {type: link}
    """)
    assert "apps/shop/app.yaml:8:32: error: link field 'item' points to 'itme', which is not an entity" in text
    assert "did you mean 'item'?" in text
    assert "apps/shop/app.yaml:9:7: error: link field 'other' needs link: (the entity it points to)" in text


def test_options_that_do_not_fit_the_type(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          item:
            fields:
              code: {type: string, scale: 2}
              status: {type: choice}
              kind: {type: choice, options: [a, b, a]}
              qty: {type: decimal, precision: 4, scale: 6}
    """)
    assert "apps/shop/app.yaml:6:35: error: scale only applies to decimal, money, percent fields, and 'code' is string" \
        in text
    assert "apps/shop/app.yaml:7:7: error: choice field 'status' needs options:" in text
    assert "apps/shop/app.yaml:8:44: error: the option 'a' is listed twice" in text
    assert "apps/shop/app.yaml:9:49: error: scale (6) cannot exceed precision (4)" in text


def test_formula_errors_point_at_their_own_column(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          sales:
            fields:
              qty: {type: decimal}
              price: money
              amount: {type: money, formula: qty * pric}
              units: {type: int, formula: qty * 2}
              note: {type: string, formula: qty + 1}
              ok: {type: bool, validate: qty + 1}
    """)
    assert "apps/shop/app.yaml:8:44: error: sales has no field 'pric'" in text
    assert "did you mean 'price'?" in text
    assert ("apps/shop/app.yaml:9:35: error: the formula of sales.units must give a whole number, "
            "but this formula gives a number") in text
    assert "round it to a whole number, e.g. ROUND(…, 0)" in text
    assert "apps/shop/app.yaml:10:37: error: the formula of sales.note must give text, but this formula gives a number" \
        in text
    assert "apps/shop/app.yaml:11:34: error: a validation of sales.ok must give TRUE/FALSE (a condition)" in text


def test_block_formulas_locate_errors_on_their_line(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          sales:
            fields:
              qty: decimal
              grade:
                type: string
                formula: |
                  IF(qty > 100,
                     "bulk",
                     qtyy)
    """)
    assert "apps/shop/app.yaml:12:14: error: sales has no field 'qtyy'" in text


def test_labels_in_braces_and_computed_order(tmp_path, monkeypatch):
    app = load(tmp_path, monkeypatch, """
        entities:
          sales_order:
            kind: document
            fields:
              discount: {type: percent, label: 折扣}
              total: {type: money, formula: "SUM({明细}.{金额}) * (1 - {折扣})", label: 合计}
              lines:
                type: table
                label: 明细
                fields:
                  qty: {type: decimal, scale: 3, label: 数量}
                  price: {type: money, label: 单价}
                  amount: {type: money, formula: "{数量} * {单价}", label: 金额}
                  tax: {type: money, formula: "ROUND(amount * 0.13, 2)"}
    """)
    order = app.entities["sales_order"]
    order_of = order.computed_order.index
    assert sorted(order.computed_order) == ["lines.amount", "lines.tax", "total"]
    assert order_of("lines.amount") < order_of("total") and order_of("lines.amount") < order_of("lines.tax")
    assert app.entities["sales_order_lines"].parent == "sales_order"
    record = {"discount": Decimal("0.1"), "lines": [{"qty": Decimal(2), "price": Decimal("5.00"), "amount": Decimal(10)}]}
    assert order.fields["total"].formula.python(record) == Decimal("9.0")


def test_computed_fields_in_a_circle_are_reported(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          sales_order:
            kind: document
            fields:
              total: {type: money, formula: SUM(lines.amount)}
              lines:
                type: table
                fields:
                  qty: decimal
                  amount: {type: money, formula: parent.total / 2}
              a: {type: int, formula: b + 1}
              b: {type: int, formula: a + 1}
              c: {type: int, formula: c + 1}
    """)
    assert "computed fields depend on each other in a circle: a → b → a" in text
    assert "computed fields depend on each other in a circle: c → c" in text
    assert "computed fields depend on each other in a circle: total → lines.amount → total" in text
    assert "apps/shop/app.yaml:13:31: error: computed fields depend on each other in a circle: a → b → a" in text


def test_default_and_formula_together_and_choice_constants(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          sales:
            fields:
              qty: decimal
              size: {type: decimal, default: 1, formula: qty}
              status: {type: choice, options: [small, large], formula: 'IF(qty > 10, "large", "smal")'}
    """)
    assert "apps/shop/app.yaml:7:50: error: sales.size has both a default and a formula; keep one" in text
    assert "apps/shop/app.yaml:8:87: error: 'smal' is not one of the options of status" in text


def test_a_table_inside_a_table_is_refused(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          order:
            kind: document
            fields:
              lines:
                type: table
                fields:
                  parts: {type: table, fields: {x: int}}
    """)
    assert "apps/shop/app.yaml:10:11: error: a table's rows cannot contain another table" in text


def test_yaml_numbers_and_booleans_are_formulas_too(tmp_path, monkeypatch):
    app = load(tmp_path, monkeypatch, """
        entities:
          item:
            fields:
              qty: {type: decimal, default: 1.50}
              active: {type: bool, default: true}
    """)
    fields = app.entities["item"].fields
    assert fields["qty"].default.source == "1.50" and fields["qty"].default.python({}) == Decimal("1.50")
    assert fields["active"].default.source == "TRUE" and fields["active"].default.python({}) is True


def test_a_comma_inside_a_flow_mapping_gets_a_quoting_hint(tmp_path, monkeypatch):
    text = problems(tmp_path, monkeypatch, """
        entities:
          sales:
            fields:
              amount: money
              tax: {type: money, formula: ROUND(amount * 0.13, 2)}
    """)
    assert "apps/shop/app.yaml:7:53: error: the formula ends too early; expected ) or ," in text
    assert "hint: inside { … } a comma ends the value: put the whole formula in quotes" in text
