"""Plugins: discovery, the formula-function hook at load, settings schemas, misspelt hooks, docs in sync."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pluggy
import pytest

from dsl.formula.functions import NUMBER, FunctionSpec, Param, record_of
from dsl.formula.types import DECIMAL
from dsl.loader import load_app
from dsl.problems import CheckFailed
from engine import hookimpl, hookspecs
from engine.notify.channels import BaseChannel
from engine.plugins import always_on, channels, formula_registry, plugin_manager, settings_schemas

DOCS = Path(__file__).parent.parent / "docs" / "plugins.md"


class SmsChannel(BaseChannel):
    name = "sms"

    def send(self, message, settings):
        pass


class StockPlugin:
    """A plugin function with a typed signature, like the inventory engine's STOCK(item[, warehouse])."""

    @hookimpl
    def jxc_formula_functions(self):
        return [FunctionSpec("ON_SHELF", (Param("item", record_of("item")), Param("warehouse", record_of("warehouse"),
                                                                                 optional=True)),
                             DECIMAL, lambda context, item, warehouse=None: context.stock(item, warehouse),
                             "Stock on hand.", "ON_SHELF(item)", needs_context=True, volatile=True)]

    @hookimpl
    def jxc_channels(self):
        return [SmsChannel()]

    @hookimpl
    def jxc_settings_schema(self):
        return {"type": "object", "properties": {"gateway": {"type": "string"}}, "required": ["gateway"],
                "additionalProperties": False}


APP = """
plugins:
  stock_sms: {gateway: "https://sms.example"}
entities:
  item:
    fields: {code: string, safety_stock: decimal}
  warehouse:
    fields: {code: string}
  item_check:
    fields:
      item: {type: link, link: item}
      warehouse: {type: link, link: warehouse}
      short: {type: bool, formula: "ON_SHELF(item, warehouse) < item.safety_stock"}
alerts:
  low:
    scope: item_check
    condition: short
    recipients: {users: [admin]}
    channels: [sms]
    message: "{{ record.item }}"
"""


def load_with(manager: pluggy.PluginManager):
    return load_app("apps/shop", registry=formula_registry(manager), channels=channels(manager),
                    plugins=settings_schemas(manager))


def test_a_plugin_function_is_type_checked_at_load_and_runs(shop):
    manager = plugin_manager({"stock_sms": StockPlugin()}, entry_points=False)
    shop.write(APP)
    app = load_with(manager)
    short = app.entities["item_check"].fields["short"].formula

    class Context:
        def stock(self, item, warehouse):
            return Decimal("3")

    record = {"item": {"id": 1, "safety_stock": Decimal("5")}, "warehouse": {"id": 2}}
    assert short.python(record, Context()) is True
    assert short.sql_missing["postgresql"] == "ON_SHELF has no SQL form for PostgreSQL"
    assert app.registry.get("ON_SHELF").plugin == "stock_sms"


def test_a_plugin_function_used_wrongly_is_a_located_error(shop):
    manager = plugin_manager({"stock_sms": StockPlugin()}, entry_points=False)
    shop.write(APP.replace("ON_SHELF(item, warehouse)", "ON_SHELF(warehouse)"))
    with pytest.raises(CheckFailed) as caught:
        load_with(manager)
    assert (f"{shop.at('warehouse) <')}: error: ON_SHELF's item must be an item record, but warehouse is a warehouse "
            "record") in str(caught.value)


def test_plugin_settings_are_checked_against_the_plugin_schema(shop):
    manager = plugin_manager({"stock_sms": StockPlugin()}, entry_points=False)
    shop.write(APP.replace('{gateway: "https://sms.example"}', "{gatway: x}"))
    with pytest.raises(CheckFailed) as caught:
        load_with(manager)
    text = str(caught.value)
    assert "plugin stock_sms: 'gateway' is a required property" in text
    assert "plugin stock_sms: Additional properties are not allowed ('gatway' was unexpected)" in text


def test_an_unknown_plugin_is_reported(shop):
    shop.write(APP.replace("stock_sms:", "sms_gateway:"))
    with pytest.raises(CheckFailed) as caught:
        load_with(plugin_manager({"stock_sms": StockPlugin()}, entry_points=False))
    assert f"{shop.at('sms_gateway')}: error: there is no plugin 'sms_gateway'" in str(caught.value)


def test_a_function_cannot_take_a_builtin_name():
    class Clash:
        @hookimpl
        def jxc_formula_functions(self):
            return [FunctionSpec("ROUND", (Param("x", NUMBER),), DECIMAL, lambda x: x, "x", "ROUND(1)")]

    with pytest.raises(ValueError, match="formula function ROUND is defined twice: by the built-ins and by clash"):
        formula_registry(plugin_manager({"clash": Clash()}, entry_points=False))


def test_a_misspelt_hook_is_refused_at_start():
    class Typo:
        @hookimpl
        def jxc_formula_function(self):  # missing the final s
            return []

    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'jxc_formula_function'"):
        plugin_manager([Typo()], entry_points=False)


def test_every_hook_is_documented_with_an_example_and_nothing_else_is():
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### (\w+)$", text, re.M))
    specs = {name for name in dir(hookspecs) if name.startswith("jxc_")}
    assert documented == specs
    for name in specs:
        section = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        assert f"def {name}(" in section, f"docs/plugins.md shows no example implementation of {name}"
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring in engine/hookspecs.py"


def test_an_installed_plugin_acts_only_on_apps_that_enable_it(shop):
    manager = plugin_manager({"stock_sms": StockPlugin()}, entry_points=False)
    manager.jxc_always_on = frozenset()  # as if installed through its entry point, not registered by us
    shop.write(APP.replace('  stock_sms: {gateway: "https://sms.example"}', "  {}").replace("plugins:\n  {}\n", ""))
    with pytest.raises(CheckFailed) as caught:
        load_app("apps/shop", registry=formula_registry(manager), channels=channels(manager),
                 plugins=settings_schemas(manager), always_on=always_on(manager))
    assert (f"{shop.at(chr(34) + 'ON_SHELF(item')}: error: ON_SHELF comes from the plugin 'stock_sms', which this app does not "
            "enable") in str(caught.value)
    assert "hint: add stock_sms: {} under plugins: in app.yaml" in str(caught.value)


def test_hooks_skip_plugins_the_app_does_not_enable():
    from engine.plugins import AppHooks

    calls = []

    class Recorder:
        @hookimpl
        def jxc_before_submit(self, session, entity, record, connection):
            calls.append(1)

    manager = plugin_manager({"recorder": Recorder()}, entry_points=False)
    manager.jxc_always_on = frozenset()
    AppHooks(manager, enabled=[]).jxc_before_submit(session=None, entity=None, record={}, connection=None)
    assert calls == []
    AppHooks(manager, enabled=["recorder"]).jxc_before_submit(session=None, entity=None, record={}, connection=None)
    assert calls == [1]
