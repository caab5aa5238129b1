"""`jxc check` never crashes: whatever the files hold, the admin gets located messages and exit 1 (or 0)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.cli
import engine.plugins
from dsl.dump import to_yaml

KEYS = ["entities", "extend", "workflows", "alerts", "roles", "dashboards", "print_formats", "demo", "stock",
        "include", "plugins", "fields", "type", "link", "formula", "default", "validate", "options", "kind",
        "make_from", "lines", "from", "to", "fulfil", "qty", "progress", "status", "table", "direction", "item",
        "warehouse", "states", "transitions", "action", "guard", "roles", "scope", "condition", "schedule",
        "message", "permissions", "rows", "widgets", "values", "group_by", "entity", "template", "naming",
        "label", "change", "key", "list", "indexes", "unique", "required", "recipients", "channels", "_submit"]
NAMES = ["item", "order", "lines", "qty", "price", "user", "stock_balance", "draft", "a", "x1", "Bad-Name", "数量"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**6), st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(), st.sampled_from(["string", "decimal", "table", "link", "document", "in", "SUM(lines.qty)",
                                 "qty * price", "{数量}", "daily 08:00", "IF(", "all", "read", "metric", "A4"]),
    st.text(max_size=12),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS + NAMES), children, max_size=5),
    ),
    max_leaves=40,
)
APP_KEYS = st.sampled_from(["entities", "extend", "workflows", "alerts", "roles", "dashboards", "print_formats",
                            "demo", "stock", "include", "plugins"])


@pytest.fixture(autouse=True)
def one_parser_and_plugin_manager(monkeypatch):
    """Each `jxc` run builds its command-line parser (argparse looks up a translation for every help text) and
    its plugin manager (built-ins and installed entry points, twice): about four fifths of what checking a small
    app takes. Here both are built once, the same way, and every generated app goes through main() with them.
    What is fuzzed is the files, not the parser or plugin discovery (test_cli.py and test_plugin_hooks.py)."""
    manager = engine.plugins.plugin_manager()
    monkeypatch.setattr(engine.plugins, "plugin_manager", lambda: manager)
    parser = engine.cli._parser()
    monkeypatch.setattr(engine.cli, "_parser", lambda: parser)


def check(files: dict[str, bytes], capsys) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        code = engine.cli.main(["check", str(root / "apps" / "shop")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_handled(code: int, output: str) -> None:
    assert code in (0, 1), output
    assert "internal error" not in output and "Traceback" not in output, output
    if code == 1:
        assert "error:" in output


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(APP_KEYS, TREES, max_size=4))
def test_any_structure_under_the_real_keys_is_handled(body, capsys):
    text = to_yaml({"name": "shop", "title": "t", **body})
    assert_handled(*check({"apps/shop/app.yaml": text.encode()}, capsys))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entities=st.dictionaries(st.sampled_from(NAMES), st.dictionaries(st.sampled_from(KEYS), TREES, max_size=5),
                                max_size=3))
def test_any_entity_definition_is_handled(entities, capsys):
    text = to_yaml({"name": "shop", "title": "t", "entities": entities})
    assert_handled(*check({"apps/shop/app.yaml": text.encode()}, capsys))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400))
def test_random_bytes_are_handled(raw, capsys):
    code, output = check({"apps/shop/app.yaml": b"name: shop\ntitle: t\n", "apps/shop/more.yaml": raw}, capsys)
    assert_handled(code, output)


def test_a_ten_megabyte_file_is_refused_with_a_message(capsys):
    big = b"name: shop\ntitle: t\nentities:\n" + b"  # padding\n" * 1_000_000
    code, output = check({"apps/shop/app.yaml": big}, capsys)
    assert code == 1
    assert "apps/shop/app.yaml:1:1: error: the file is 11.4 MB; the limit is 4 MB" in output
    assert "hint: split it into several files" in output
