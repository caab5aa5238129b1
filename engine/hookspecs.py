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


@hookspec
def jxc_before_submit(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> str | None:
    """Called before a document is submitted, inside its transaction; return a message to refuse it.

    Every plugin is asked; the document is submitted only when none refuses, and the user sees every
    refusal.

    Example::

        @hookimpl
        def jxc_before_submit(session, entity, record, connection):
            if entity.name == "sales_order" and record["total"] > 1_000_000:
                return "orders above 1,000,000 need a signed contract first"
    """


@hookspec
def jxc_after_submit(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    """Called after a document is submitted, inside the same transaction (an error undoes the submit).

    Example::

        @hookimpl
        def jxc_after_submit(session, entity, record, connection):
            if entity.stock:
                post_stock_moves(connection, entity, record)
    """


@hookspec
def jxc_after_cancel(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    """Called after a document is cancelled, inside the same transaction, to reverse what submit did.

    Example::

        @hookimpl
        def jxc_after_cancel(session, entity, record, connection):
            if entity.stock:
                reverse_stock_moves(connection, entity, record)
    """
