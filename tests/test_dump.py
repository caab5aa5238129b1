"""The checked model goes back to YAML and loads again to the same model (the designer relies on it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dsl.dump import dump_app, to_yaml
from dsl.loader import load_app
from tests.test_app_format_doc import example_apps, examples

COMPARED = ("name", "title", "version", "locale", "timezone", "plugins", "entities", "workflows", "alerts", "roles",
            "dashboards", "print_formats", "demo", "stock", "user_fields")


@pytest.fixture(scope="module")
def example_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("examples")
    for relative, body in examples().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return root


def apps_to_round_trip() -> list[str]:
    repo_apps = sorted(f"apps/{p.name}" for p in (Path(__file__).parent.parent / "apps").iterdir()
                       if p.is_dir() and p.name != "modules")
    return [f"doc:{name}" for name in example_apps()] + [f"repo:{name}" for name in repo_apps]


@pytest.mark.parametrize("which", apps_to_round_trip())
def test_load_dump_load_gives_the_same_app(which, example_tree, tmp_path):
    kind, name = which.split(":", 1)
    source = example_tree / name if kind == "doc" else Path(__file__).parent.parent / name
    first = load_app(source)
    copy = tmp_path / "apps" / first.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.yaml", "*.yml"))
    (copy / "app.yaml").write_text(to_yaml(dump_app(first)), encoding="utf-8")
    second = load_app(copy)
    for attribute in COMPARED:
        assert getattr(second, attribute) == getattr(first, attribute), attribute
    assert second.modules == ()  # the dump holds everything the modules gave


def test_the_dump_is_readable_yaml(example_tree):
    text = to_yaml(dump_app(load_app(example_tree / "apps/doc_documents")))
    assert "goods_receipt:\n    label: 入库单\n    kind: document" in text
    assert "formula: qty * price" in text
    assert "tolerance: 5" in text
