"""The plugin manager: built-in plugins and those installed under the `jxc` entry-point group."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import pluggy

from dsl.build import BUILTIN_CHANNELS
from dsl.formula.functions import FunctionSpec, Registry, builtin_registry
from engine import hookspecs

BUILTIN_PLUGINS: tuple[str, ...] = ()


def plugin_manager(extra: Mapping[str, object] | Iterable[object] = (), *,
                   entry_points: bool = True) -> pluggy.PluginManager:
    """Built-in plugins, those installed under the `jxc` entry-point group, and `extra` (by name)."""
    manager = pluggy.PluginManager("jxc")
    manager.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        module = __import__(module_name, fromlist=["_"])
        manager.register(module, name=module_name.rsplit(".", 1)[-1])
    if entry_points:
        manager.load_setuptools_entrypoints("jxc")
    named = extra.items() if isinstance(extra, Mapping) else ((None, plugin) for plugin in extra)
    for name, plugin in named:
        manager.register(plugin, name=name)
    manager.check_pending()  # a misspelt hook implementation is an error, not silently ignored
    return manager


def _plugin_name(manager: pluggy.PluginManager, plugin: object) -> str:
    name = manager.get_name(plugin)
    if name and not name.isdigit():
        return name
    return plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__


def formula_registry(manager: pluggy.PluginManager) -> Registry:
    specs: list[FunctionSpec] = []
    for impl in manager.hook.jxc_formula_functions.get_hookimpls():
        for spec in impl.function() or ():
            specs.append(dataclasses.replace(spec, plugin=_plugin_name(manager, impl.plugin)))
    return builtin_registry().with_functions(specs)


def channels(manager: pluggy.PluginManager) -> list[str]:
    found = list(BUILTIN_CHANNELS)
    for names in manager.hook.jxc_notification_channels():
        found.extend(names or ())
    return found


def settings_schemas(manager: pluggy.PluginManager) -> dict[str, dict[str, Any] | None]:
    schemas: dict[str, dict[str, Any] | None] = {}
    for impl in manager.hook.jxc_settings_schema.get_hookimpls():
        schemas[_plugin_name(manager, impl.plugin)] = impl.function()
    for plugin in manager.get_plugins():
        schemas.setdefault(_plugin_name(manager, plugin), None)
    return schemas
