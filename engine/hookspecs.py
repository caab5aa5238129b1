"""Every plugin hook of jxc, in one place. docs/plugins.md documents each with an example.

Plugins implement hooks with `@hookimpl` (importable as `from engine import hookimpl`) and are found through
the `jxc` entry-point group; built-in plugins in `plugins/` are registered the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from dsl.formula.functions import FunctionSpec

hookspec = pluggy.HookspecMarker("jxc")
hookimpl = pluggy.HookimplMarker("jxc")


@hookspec
def jxc_formula_functions() -> list[FunctionSpec]:
    """Formula functions this plugin adds, with typed signatures.

    Example::

        @hookimpl
        def jxc_formula_functions():
            return [FunctionSpec("DOUBLE", (Param("number", NUMBER),), DECIMAL, lambda x: x * 2,
                                 "Twice the number.", "DOUBLE(2) → 4")]
    """


@hookspec
def jxc_notification_channels() -> list[str]:
    """Names of the notification channels this plugin delivers (alerts may then use them).

    Example::

        @hookimpl
        def jxc_notification_channels():
            return ["sms"]
    """


@hookspec
def jxc_settings_schema() -> dict[str, Any] | None:
    """The JSON Schema of this plugin's settings in app.yaml (`plugins: {name: {...}}`).

    Example::

        @hookimpl
        def jxc_settings_schema():
            return {"type": "object", "properties": {"webhook": {"type": "string"}}, "required": ["webhook"]}
    """
