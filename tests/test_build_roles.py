"""Roles: entity permissions, field access, row rules, and how `extend: roles:` merges them."""

from __future__ import annotations

from dsl.formula import types as t
from dsl.formula.context import SimpleContext
from tests.apptree import where

MODULE_FILE = "apps/modules/base/module.yaml"
MODULE = """name: base
entities:
  item:
    fields:
      code: string
      name: string
      cost: money
      price: money
  purchase_order:
    kind: document
    fields:
      supplier: string
      note: text
      lines:
        type: table
        fields:
          item: {type: link, link: item}
          qty: decimal
          price: money
roles:
  clerk:
    label: {zh: 店员, en: Clerk}
    permissions:
      item: read
      purchase_order: [read, create]
    fields:
      item: {cost: read_only, price: read_only}
    rows:
      purchase_order: created_by = CURRENT_USER()
"""


def test_roles_merge_across_an_extension(shop):
    app = shop.load("""
include: [base]
roles:
  manager:
    permissions: {item: all, purchase_order: all}
  viewer:
    label: 只读
    permissions: {purchase_order: read}
    fields:
      purchase_order_lines: {price: hidden}
extend:
  roles:
    clerk:
      permissions:
        item: [write]
        purchase_order: [write, submit]
      fields:
        item: {cost: hidden, price: read_only}
        purchase_order: {note: read_only}
      rows:
        purchase_order: supplier <> "内部"
""", {MODULE_FILE: MODULE})
    clerk, manager, viewer = app.roles["clerk"], app.roles["manager"], app.roles["viewer"]
    assert clerk.label.zh == "店员"
    assert str(clerk.origin) == where(MODULE, "clerk:", file=MODULE_FILE)
    assert clerk.permissions == {"item": frozenset({"read", "write"}),
                                 "purchase_order": frozenset({"read", "create", "write", "submit"})}
    assert clerk.field_access == {"item": {"cost": "hidden", "price": "read_only"},
                                  "purchase_order": {"note": "read_only"}}
    module_rule, app_rule = clerk.row_rules["purchase_order"]
    assert module_rule.source == "created_by = CURRENT_USER()" and app_rule.source == 'supplier <> "内部"'
    assert module_rule.type == t.BOOL and app_rule.type == t.BOOL
    assert module_rule.origin is not None and module_rule.origin.file == MODULE_FILE
    me = {"id": 7, "name": "li"}
    assert module_rule.python({"created_by": me}, SimpleContext(user=me)) is True
    assert module_rule.python({"created_by": {"id": 8, "name": "wang"}}, SimpleContext(user=me)) is False
    assert manager.permissions == {"item": frozenset({"read", "create", "write", "delete"}),
                                   "purchase_order": frozenset({"read", "create", "write", "delete", "submit",
                                                                "cancel", "amend"})}
    assert manager.label.en == "Manager" and manager.field_access == {} and manager.row_rules == {}
    assert viewer.permissions == {"purchase_order": frozenset({"read"})}
    assert viewer.field_access == {"purchase_order_lines": {"price": "hidden"}}


def test_same_access_again_and_extending_the_apps_own_role(shop):
    app = shop.load("""
include: [base]
roles:
  manager:
    permissions: {item: read}
extend:
  roles:
    clerk:
      fields:
        item: {price: read_only}
    manager:
      permissions: {item: [write]}
      rows:
        item: code <> ""
""", {MODULE_FILE: MODULE})
    assert app.roles["clerk"].field_access == {"item": {"cost": "read_only", "price": "read_only"}}
    assert app.roles["manager"].permissions == {"item": frozenset({"read", "write"})}
    assert [rule.source for rule in app.roles["manager"].row_rules["item"]] == ['code <> ""']


def test_loosening_is_reported(shop):
    text = shop.problems("""
include: [base]
extend:
  roles:
    clerk:
      fields:
        item: {cost: read_only}
""", {MODULE_FILE: MODULE.replace("{cost: read_only, price: read_only}", "{cost: hidden, price: read_only}")})
    module = MODULE.replace("{cost: read_only, price: read_only}", "{cost: hidden, price: read_only}")
    before = where(module, "hidden", file=MODULE_FILE)
    assert (f"{shop.at('read_only')}: error: role clerk already hides item.cost (at {before}); an extension can "
            "make a field stricter, not looser") in text


def test_permission_mistakes(shop):
    text = shop.problems("""
include: [base]
roles:
  boss:
    permissions:
      itme: read
      item: [read, submit]
      purchase_order_lines: read
      user: read
      purchase_order: [read, amend]
    fields:
      item: {nmae: hidden}
    rows:
      item: code
      purchase_order: suplier = "x"
""", {MODULE_FILE: MODULE})
    assert f"{shop.at('itme')}: error: there is no entity 'itme'" in text
    assert "hint: did you mean 'item'?" in text
    assert f"{shop.at('submit')}: error: 'submit' only applies to documents, and item is master data" in text
    assert (f"{shop.at('purchase_order_lines')}: error: 'purchase_order_lines' is the table purchase_order.lines; "
            "its rows follow the rules of purchase_order") in text
    assert (f"{shop.at('user:')}: error: 'user' is kept by jxc itself; roles give access to the app's own "
            "entities") in text
    assert f"{shop.at('nmae')}: error: fields: item has no field 'nmae'" in text
    assert (f"{shop.at('code', 1)}: error: a row rule must give TRUE/FALSE (a condition), but this formula gives "
            "text") in text
    assert f"{shop.at('suplier')}: error: purchase_order has no field 'suplier'" in text
    assert text.count("error:") == 7


def test_rules_need_read_permission(shop):
    text = shop.problems("""
include: [base]
roles:
  packer:
    permissions:
      purchase_order: [create]
    fields:
      item: {cost: hidden}
      purchase_order_lines: {price: hidden}
    rows:
      purchase_order: created_by = CURRENT_USER()
""", {MODULE_FILE: MODULE})
    assert f"{shop.at('item:')}: error: role packer has no permission on item; give it read first" in text
    assert "hint: add permissions: {item: read}" in text
    assert (f"{shop.at('purchase_order_lines')}: error: role packer cannot read purchase_order (it may: create); "
            "give it read first") in text
    # one report per entity, at the first place that needs the permission
    assert text.count("give it read first") == 2
