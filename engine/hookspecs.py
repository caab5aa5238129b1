"""Every plugin hook of jxc, in one place. docs/plugins.md documents each with an example.

Plugins implement hooks with `@hookimpl` (importable as `from engine import hookimpl`) and are found through
the `jxc` entry-point group; built-in plugins in `plugins/` are registered the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

import pluggy

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from starlette.routing import BaseRoute

    from dsl.formula.functions import FunctionSpec
    from dsl.model import App

hookspec = pluggy.HookspecMarker("jxc")
hookimpl = pluggy.HookimplMarker("jxc")


class ScanResult(TypedDict, total=False):
    """What `jxc_scan` returns for a code it recognises: `kind` and whatever it read, or only `error`.

    `error` means "this is my kind of code, but it is damaged or wrong" (a bad check digit, an impossible
    date): the user sees the message instead of "unknown code". Plugins may add keys of their own.
    """

    kind: str  # what the code identifies: "item", "location", "document", ...
    code: str  # the item code / GTIN / document number to look up
    gtin: str  # a GTIN in its 14-digit form
    batch: str
    expiry: dt.date
    produced: dt.date
    best_before: dt.date
    serial: str
    quantity: int
    error: str


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
def jxc_channels() -> list[Any]:
    """Notification channels this plugin delivers (alerts may then list them under `channels:`).

    Each is an object with `name`, `settings_schema` (its settings under `plugins:` in app.yaml, or None),
    `to` ("user" or "group"), `rate_limit` (engine.notify.channels.RateLimit or None), `idempotent`, and
    `send(message, settings)`, which raises TemporaryFailure (retried with backoff) or PermanentFailure;
    subclass engine.notify.channels.BaseChannel for the defaults.

    Example::

        @hookimpl
        def jxc_channels():
            return [SmsChannel()]
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


@hookspec
def jxc_after_save(session: Any, entity: Any, record: dict[str, Any], connection: Any) -> None:
    """Called after a record is created or updated, inside the same transaction (an error undoes the save).

    `record` is the record as saved, with its `id`. Alerts with `trigger: change` are checked here.

    Example::

        @hookimpl
        def jxc_after_save(session, entity, record, connection):
            if entity.name == "customer":
                refresh_credit_cache(connection, record["id"])
    """


@hookspec(firstresult=True)
def jxc_scan(app: App | None, text: str) -> ScanResult | None:
    """Read a scanned barcode; return what it identifies, or None when this plugin does not recognise it.

    The first plugin that returns something wins (the others are not asked). Plugins installed through
    the entry point are asked before the built-in ones, so a plugin can take over codes a built-in would
    read. `app` is the running app (`app.plugins[name]` holds this plugin's settings), or None.

    Example::

        @hookimpl
        def jxc_scan(app, text):
            if text.startswith("LOC-"):
                return {"kind": "location", "code": text[4:]}
    """


@hookspec
def jxc_devices() -> dict[str, Callable[..., Any]]:
    """Device drivers this plugin provides, by name: a factory called with the device's settings.

    A scale driver has `read_weight() -> Decimal` (kilograms); a label printer has `print_label(data)`
    (ZPL, TSPL or ESC/POS bytes, usually sent to TCP port 9100).

    Example::

        @hookimpl
        def jxc_devices():
            return {"zebra_zpl": lambda host, port=9100: ZplPrinter(host, port)}
    """


@hookspec
def jxc_web_routes(app: App) -> list[BaseRoute]:
    """Starlette routes (`Route`, `Mount`, `WebSocketRoute`) this plugin adds to the app's web server.

    Example::

        @hookimpl
        def jxc_web_routes(app):
            return [Route("/plugins/my_scale/weigh", weigh_page, methods=["GET", "POST"])]
    """


@hookspec
def jxc_form_widgets() -> dict[str, str]:
    """Form widgets this plugin adds: widget name → the Jinja2 template that draws the field.

    Example::

        @hookimpl
        def jxc_form_widgets():
            return {"weight": "my_scale/weight_widget.html"}
    """


@hookspec
def jxc_template_folders() -> list[str | Path]:
    """Folders of Jinja2 templates this plugin brings (looked up after jxc's own `templates/`).

    Example::

        @hookimpl
        def jxc_template_folders():
            return [Path(__file__).parent / "templates"]
    """


@hookspec
def jxc_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add subcommands to the `jxc` command: `subparsers.add_parser(...)`, then `set_defaults(handler=...)`.

    The handler is called with the parsed `argparse.Namespace` and returns the exit code (None means 0).

    Example::

        @hookimpl
        def jxc_cli_commands(subparsers):
            tare = subparsers.add_parser("tare", help="set the scale to zero")
            tare.add_argument("--port", default="/dev/ttyUSB0")
            tare.set_defaults(handler=tare_scale)  # tare_scale(args) -> int | None
    """
