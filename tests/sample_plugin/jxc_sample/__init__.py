"""jxc-sample: a third-party jxc plugin implementing several hooks, installed and discovered in the tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dsl.formula.functions import NUMBER, FunctionSpec, Param
from dsl.formula.types import DECIMAL
from engine import hookimpl


@hookimpl
def jxc_formula_functions():
    return [FunctionSpec("TRIPLE", (Param("number", NUMBER),), DECIMAL, lambda x: None if x is None else x * 3,
                         "Three times the number.", "TRIPLE(2) → 6")]


@hookimpl
def jxc_settings_schema():
    return {"type": "object", "properties": {"limit": {"type": "number", "minimum": 0}}, "required": ["limit"],
            "additionalProperties": False}


@hookimpl
def jxc_before_submit(session, entity, record, connection):
    total = record.get("total")
    if total is not None and Decimal(total) > 1000:
        return "jxc_sample: totals above 1000 need approval"
    return None


@hookimpl
def jxc_scan(app, text):
    if text.startswith("SAMPLE:"):
        return {"kind": "item", "code": text.removeprefix("SAMPLE:")}
    return None


async def _hello(request):
    return PlainTextResponse("hello from jxc_sample")


@hookimpl
def jxc_web_routes(app):
    return [Route("/plugins/jxc_sample/hello", _hello)]


@hookimpl
def jxc_form_widgets():
    return {"stars": "jxc_sample/stars.html"}


@hookimpl
def jxc_template_folders():
    return [Path(__file__).parent / "templates"]


@hookimpl
def jxc_cli_commands(subparsers):
    hello = subparsers.add_parser("sample-hello", help="greet someone (from the jxc_sample plugin)")
    hello.add_argument("name", help="who to greet")
    hello.add_argument("--times", type=int, default=1)
    hello.set_defaults(handler=_hello_command)


def _hello_command(args):
    for _ in range(args.times):
        print(f"hello, {args.name}")
    return 3 if args.name == "nobody" else None
