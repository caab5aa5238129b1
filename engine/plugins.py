"""The plugin manager: built-in plugins and those installed under the `jxc` entry-point group."""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from dsl.build import BUILTIN_CHANNELS
from dsl.formula.functions import FunctionSpec, Registry, builtin_registry
from engine import hookspecs
from engine.hookspecs import ScanResult
from engine.notify.channels import ChannelEntry

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from dsl.model import App

# Registered before the entry points, so installed plugins are called first (pluggy calls the last registered
# first) and can take over what a built-in does, e.g. read a barcode the built-in GS1 reader would.
BUILTIN_PLUGINS: tuple[str, ...] = ("plugins.gs1", "plugins.notify", "plugins.email", "plugins.wecom",
                                    "plugins.dingtalk", "plugins.stock", "plugins.stock_count")


def plugin_manager(extra: Mapping[str, object] | Iterable[object] = (), *,
                   entry_points: bool = True) -> pluggy.PluginManager:
    """Built-in plugins, those installed under the `jxc` entry-point group, and `extra` (by name)."""
    manager = pluggy.PluginManager("jxc")
    manager.add_hookspecs(hookspecs)
    always_on: set[str] = set()
    for module_name in BUILTIN_PLUGINS:
        module = __import__(module_name, fromlist=["_"])
        name = module_name.rsplit(".", 1)[-1]
        manager.register(module, name=name)
        always_on.add(name)
    if entry_points:
        manager.load_setuptools_entrypoints("jxc")
    named = extra.items() if isinstance(extra, Mapping) else ((None, plugin) for plugin in extra)
    for name, plugin in named:
        registered = manager.register(plugin, name=name)
        always_on.add(str(registered))
    manager.check_pending()  # a misspelt hook implementation is an error, not silently ignored
    # Built-in plugins and those the caller registered itself are always on; an installed plugin (found
    # through its entry point) acts on an app only when the app enables it under plugins: in app.yaml.
    manager.jxc_always_on = frozenset(always_on)  # type: ignore[attr-defined]
    return manager


@functools.cache
def builtin_manager() -> pluggy.PluginManager:
    """The built-in plugins only (the inventory engine, GS1 scanning): what a service layer created without a
    plugin manager runs, so that stock is posted whoever submits a document."""
    return plugin_manager(entry_points=False)


def always_on(manager: pluggy.PluginManager) -> frozenset[str]:
    return getattr(manager, "jxc_always_on", frozenset())


def _in_use(manager: pluggy.PluginManager, app: App | None) -> set[str]:
    """The plugins acting on `app`: the always-on ones and those it enables under plugins: (without an app,
    the always-on ones only), so that an installed plugin adds no pages to an app that did not ask for it."""
    return set(always_on(manager)) | set(app.plugins if app is not None else ())


def _impls(manager: pluggy.PluginManager, hook: str, app: App | None) -> list[pluggy.HookImpl]:
    """A hook's implementations by the plugins acting on `app`, in pluggy's order reversed (built-ins first)."""
    in_use = _in_use(manager, app)
    return [impl for impl in reversed(getattr(manager.hook, hook).get_hookimpls())
            if _plugin_name(manager, impl.plugin) in in_use]


class AppHooks:
    """The manager's hooks restricted to the plugins one app may use (`hooks.jxc_before_submit(...)`)."""

    def __init__(self, manager: pluggy.PluginManager, enabled: Iterable[str]) -> None:
        allowed = set(enabled) | always_on(manager)
        self._manager = manager
        self._others = [plugin for plugin in manager.get_plugins() if _plugin_name(manager, plugin) not in allowed]
        self._callers: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        caller = self._callers.get(name)
        if caller is None:
            caller = self._callers[name] = self._manager.subset_hook_caller(name, self._others)
        return caller


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
    """The names of every notification channel: the in-app inbox and the plugins' (hook jxc_channels)."""
    return [BUILTIN_CHANNELS[0], *channel_registry(manager)]


def channel_registry(manager: pluggy.PluginManager) -> dict[str, ChannelEntry]:
    """Channel name → the channel object and the plugin that provides it (whose settings it uses)."""
    found: dict[str, ChannelEntry] = {}
    for impl in reversed(manager.hook.jxc_channels.get_hookimpls()):
        plugin = _plugin_name(manager, impl.plugin)
        for channel in _call(impl) or ():
            name = getattr(channel, "name", None)
            if not isinstance(name, str) or not callable(getattr(channel, "send", None)):
                raise TypeError(f"plugin {plugin} returned {channel!r} from jxc_channels; a channel needs a name "
                                "and send(message, settings)")
            if name in found or name == BUILTIN_CHANNELS[0]:
                owner = found[name].plugin if name in found else "jxc"
                raise ValueError(f"notification channel {name} is defined twice: by {owner} and by {plugin}")
            found[name] = ChannelEntry(channel, plugin)
    return found


def settings_schemas(manager: pluggy.PluginManager) -> dict[str, dict[str, Any] | None]:
    schemas: dict[str, dict[str, Any] | None] = {}
    for entry in channel_registry(manager).values():  # a channel's settings are its plugin's
        schema = getattr(entry.channel, "settings_schema", None)
        if schema is not None:
            schemas[entry.plugin] = schema
    for impl in manager.hook.jxc_settings_schema.get_hookimpls():
        schemas[_plugin_name(manager, impl.plugin)] = impl.function()
    for plugin in manager.get_plugins():
        schemas.setdefault(_plugin_name(manager, plugin), None)
    return schemas


def scan(manager: pluggy.PluginManager, app: App | None, text: str) -> ScanResult | None:
    """What a scanned code identifies, from the first plugin that recognises it; None if none does.

    Scanners end a scan with Enter (removed here); the GS1 group separator (\\x1d) is kept.
    """
    text = text.strip("\r\n")
    if not text:
        return None
    result = manager.hook.jxc_scan(app=app, text=text)
    if result is None:
        return None
    if not isinstance(result, Mapping) or not (isinstance(result.get("kind"), str) or result.get("error")):
        raise TypeError(f"a jxc_scan plugin returned {result!r} for {text!r}; expected a dict with 'kind' or "
                        "'error'")
    return ScanResult(**result)


def web_routes(manager: pluggy.PluginManager, app: App | None) -> list[BaseRoute]:
    """The routes of the plugins acting on `app` (always-on and enabled ones)."""
    from starlette.routing import BaseRoute

    routes: list[BaseRoute] = []
    for impl in _impls(manager, "jxc_web_routes", app):
        for route in _call(impl, app=app) or ():
            if not isinstance(route, BaseRoute):
                raise TypeError(f"plugin {_plugin_name(manager, impl.plugin)} returned {route!r} from "
                                "jxc_web_routes; expected Starlette Route or Mount objects")
            routes.append(route)
    return routes


def _call(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    """Call one implementation as pluggy would: with only the arguments it asks for."""
    return impl.function(*(kwargs[name] for name in impl.argnames))


def _merged(manager: pluggy.PluginManager, impls: Iterable[pluggy.HookImpl], what: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for impl in impls:
        plugin = _plugin_name(manager, impl.plugin)
        for name, value in (_call(impl) or {}).items():
            if name in merged:
                raise ValueError(f"{what} {name} is defined twice: by {owner[name]} and by {plugin}")
            merged[name], owner[name] = value, plugin
    return merged


def form_widgets(manager: pluggy.PluginManager, app: App | None) -> dict[str, str]:
    """Widget name → Jinja2 template path, from the plugins acting on `app`; two may not define the same one."""
    return _merged(manager, _impls(manager, "jxc_form_widgets", app), "form widget")


def devices(manager: pluggy.PluginManager) -> dict[str, Callable[..., Any]]:
    """Device driver name → factory, from every plugin; two plugins may not define the same driver."""
    return _merged(manager, reversed(manager.hook.jxc_devices.get_hookimpls()), "device driver")


def template_folders(manager: pluggy.PluginManager, app: App | None) -> list[Path]:
    """The template folders of the plugins acting on `app`, to search after jxc's own `templates/`; each must
    exist."""
    folders: list[Path] = []
    for impl in _impls(manager, "jxc_template_folders", app):
        for folder in _call(impl) or ():
            path = Path(folder)
            if not path.is_dir():
                raise ValueError(f"plugin {_plugin_name(manager, impl.plugin)}'s template folder {path} does not "
                                 "exist")
            folders.append(path)
    return folders


def add_cli_commands(manager: pluggy.PluginManager, subparsers: argparse._SubParsersAction) -> None:
    """Let every plugin add its subcommands; each must `set_defaults(handler=...)`."""
    for impl in reversed(manager.hook.jxc_cli_commands.get_hookimpls()):
        before = set(subparsers.choices)
        try:
            _call(impl, subparsers=subparsers)
        except argparse.ArgumentError as error:  # e.g. a name jxc or another plugin already uses
            raise ValueError(f"plugin {_plugin_name(manager, impl.plugin)}: {error}") from None
        for name in set(subparsers.choices) - before:
            if not callable(subparsers.choices[name].get_default("handler")):
                raise ValueError(f"plugin {_plugin_name(manager, impl.plugin)}'s command {name} has no handler "
                                 "(call set_defaults(handler=...) on its parser)")
