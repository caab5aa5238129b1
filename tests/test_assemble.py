"""Assembling an app from modules: include order, extend:, and clashes that name both places."""

from __future__ import annotations

import pytest

from dsl.loader import load_app
from dsl.problems import CheckFailed
from tests.apptree import write_tree

CATALOG = """
    name: catalog
    title: 基础资料
    entities:
      item:
        label: 物料
        fields:
          code: {type: string, required: true, unique: true, label: 编码}
          name: {type: string, label: 名称}
          price: {type: money, label: 单价}
"""

PURCHASING = """
    name: purchasing
    include: [catalog]
    entities:
      purchase_order:
        kind: document
        fields:
          item: {type: link, link: item}
          qty: {type: decimal, scale: 3}
"""


@pytest.fixture
def apps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(path: str = "apps/shop"):
    return load_app(path)


def failure(path: str = "apps/shop") -> str:
    with pytest.raises(CheckFailed) as caught:
        load_app(path)
    return str(caught.value)


def test_app_is_assembled_from_modules_in_dependency_order(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/modules/purchasing/module.yaml": PURCHASING,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [purchasing]\n",
    })
    app = load()
    assert app.modules == ("catalog", "purchasing")
    assert app.entities["item"].module == "catalog"
    assert app.entities["purchase_order"].module == "purchasing"
    assert app.entities["purchase_order"].fields["item"].link == "item"


def test_app_extends_an_included_entity_explicitly(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/shop/app.yaml": """
            name: shop
            title: 小店
            include: [catalog]
            extend:
              entities:
                item:
                  label: 食品
                  fields:
                    shelf_life_days: {type: int, label: 保质期(天)}
                  change:
                    name: {label: 品名, required: true, validate: {rule: 'LEN(name) >= 2', message: 品名太短}}
                    price: {validate: price >= 0}
        """,
    })
    item = load().entities["item"]
    assert item.label.zh == "食品"
    assert item.fields["shelf_life_days"].type.value == "int"
    assert item.fields["name"].label.zh == "品名"
    assert item.fields["name"].required is True
    assert [v.rule.source for v in item.fields["name"].validations] == ["LEN(name) >= 2"]
    assert item.fields["name"].validations[0].message.zh == "品名太短"
    assert [v.rule.source for v in item.fields["price"].validations] == ["price >= 0"]


def test_redefining_an_included_entity_names_both_places(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog]\n",
        "apps/shop/entities.yaml": "entities:\n  item:\n    fields:\n      code: string\n",
    })
    text = failure()
    assert ("apps/shop/entities.yaml:2:3: error: entity 'item' is defined twice: here and at "
            "apps/modules/catalog/module.yaml:4:3 (module catalog)") in text
    assert "hint: to change it, use extend:" in text


def test_two_modules_defining_the_same_entity_clash(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/modules/goods/module.yaml": "name: goods\nentities:\n  item:\n    fields: {code: string}\n",
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog, goods]\n",
    })
    assert ("apps/modules/goods/module.yaml:3:3: error: entity 'item' is defined twice: here and at "
            "apps/modules/catalog/module.yaml:4:3 (module catalog)") in failure()


def test_unknown_module_suggests_the_closest(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalgo]\n",
    })
    text = failure()
    assert "apps/shop/app.yaml:3:11: error: unknown module 'catalgo'" in text
    assert "did you mean 'catalog'?" in text


def test_modules_including_each_other_are_reported_as_a_circle(apps):
    write_tree(apps, {
        "apps/modules/a/module.yaml": "name: a\ninclude: [b]\n",
        "apps/modules/b/module.yaml": "name: b\ninclude: [a]\n",
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [a]\n",
    })
    assert "apps/modules/b/module.yaml:2:11: error: modules include each other in a circle: a → b → a" in failure()


def test_extending_an_unknown_entity_suggests_names(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog]\nextend:\n  entities:\n    itme:\n"
                              "      label: x\n",
    })
    text = failure()
    assert "apps/shop/app.yaml:6:5: error: extend: there is no entity 'itme' to extend" in text
    assert "did you mean 'item'?" in text


def test_a_module_may_only_extend_what_it_includes(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/modules/pricing/module.yaml": "name: pricing\nextend:\n  entities:\n    item:\n      fields:\n"
                                            "        discount: percent\n",
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog, pricing]\n",
    })
    text = failure()
    assert ("apps/modules/pricing/module.yaml:4:5: error: entity 'item' comes from module catalog, which "
            "module pricing does not include") in text
    assert "hint: add catalog to include:" in text


def test_a_link_to_a_module_that_is_not_included_is_refused(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/modules/purchasing/module.yaml": PURCHASING.replace("include: [catalog]", "include: []"),
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog, purchasing]\n",
    })
    assert ("apps/modules/purchasing/module.yaml:7:32: error: 'item' comes from module catalog, which module "
            "purchasing does not include") in failure()


def test_an_extension_cannot_loosen_a_required_field(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog]\nextend:\n  entities:\n    item:\n"
                              "      change:\n        code: {required: false}\n",
    })
    assert ("apps/shop/app.yaml:8:26: error: an extension can make a field required, but not undo it"
            in failure())


def test_adding_a_field_that_exists_says_to_use_change(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog]\nextend:\n  entities:\n    item:\n"
                              "      fields:\n        price: money\n",
    })
    text = failure()
    assert ("apps/shop/app.yaml:8:9: error: item already has a field 'price' "
            "(at apps/modules/catalog/module.yaml:9:7 (module catalog))") in text
    assert "hint: to change an existing field, put it under change:" in text


def test_app_settings_belong_in_app_yaml(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG + "    locale: en\n",
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog]\n",
        "apps/shop/more.yaml": "version: 1.0.0\n",
    })
    text = failure()
    assert "apps/modules/catalog/module.yaml:10:1: error: 'locale' is an app setting; a module cannot set it" in text
    assert "apps/shop/more.yaml:1:1: error: 'version' belongs in app.yaml" in text


def test_module_name_must_match_its_folder(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG.replace("name: catalog", "name: katalog"),
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog]\n",
    })
    assert ("apps/modules/catalog/module.yaml:1:7: error: the module in folder catalog is named 'katalog'; "
            "the two must be the same") in failure()


def test_a_folder_without_app_yaml(apps):
    write_tree(apps, {"apps/shop/entities.yaml": "entities: {}\n"})
    assert "apps/shop/app.yaml:1:1: error: apps/shop has no app.yaml" in failure()


def test_files_of_one_app_are_merged_and_each_may_hold_several_concepts(apps):
    write_tree(apps, {
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\nentities:\n  customer:\n    fields: {name: string}\n",
        "apps/shop/sales.yaml": "entities:\n  sales_order:\n    kind: document\n    fields:\n"
                                "      customer: {type: link, link: customer}\n",
    })
    assert set(load().entities) == {"customer", "sales_order"}


def test_a_draft_is_checked_before_it_is_saved(apps):
    write_tree(apps, {"apps/shop/app.yaml": "name: shop\ntitle: 小店\nentities:\n  customer:\n"
                                            "    fields: {name: string}\n"})
    draft = b"name: shop\ntitle: shop\nentities:\n  customer:\n    fields: {name: strng}\n"
    with pytest.raises(CheckFailed) as caught:
        load_app("apps/shop", drafts={"apps/shop/app.yaml": draft})
    assert "'strng' is not a known field type" in str(caught.value)
    assert load().entities["customer"].fields["name"].type.value == "string"  # the saved file is untouched


def test_every_problem_is_reported_at_once(apps):
    write_tree(apps, {
        "apps/shop/app.yaml": """
            name: shop
            title: 小店
            entities:
              item:
                lable: 物料
                fields:
                  code: strin
                  qty: {type: decimal, formula: qtty * 2}
        """,
    })
    text = failure()
    assert "apps/shop/app.yaml:5:5: error: unknown key 'lable'" in text
    assert "apps/shop/app.yaml:7:13: error: 'strin' is not a known field type" in text
    assert "apps/shop/app.yaml:8:37: error: item has no field 'qtty'" in text


def test_a_module_may_add_a_link_to_an_entity_it_includes(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG,
        "apps/modules/stock/module.yaml": """
            name: stock
            include: [catalog]
            entities:
              warehouse:
                fields: {code: string}
            extend:
              entities:
                item:
                  fields:
                    default_warehouse: {type: link, link: warehouse}
        """,
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [stock]\n",
    })
    assert load().entities["item"].fields["default_warehouse"].link == "warehouse"


def test_roles_from_modules_that_are_not_included_are_refused(apps):
    write_tree(apps, {
        "apps/modules/catalog/module.yaml": CATALOG + "    roles:\n      buyer: {}\n",
        "apps/modules/purchasing/module.yaml": PURCHASING.replace("include: [catalog]", "include: []") + """
    workflows:
      approval:
        entity: purchase_order
        states: {draft: {}, done: {submit: true}}
        transitions:
          - {action: finish, from: draft, to: done, roles: [buyer]}
""",
        "apps/shop/app.yaml": "name: shop\ntitle: 小店\ninclude: [catalog, purchasing]\n",
    })
    text = failure()
    assert ("apps/modules/purchasing/module.yaml:15:57: error: transition finish: roles: role 'buyer' comes from "
            "module catalog, which module purchasing does not include") in text
