"""Every example in docs/app-format.md is a real file; every example app in it loads without a problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsl.loader import load_app

DOC = Path(__file__).parent.parent / "docs" / "app-format.md"
BLOCK = re.compile(r"```(yaml|html)\n(.*?)```", re.S)
PATH_COMMENT = {"yaml": re.compile(r"^# (apps/\S+)\n"), "html": re.compile(r"^<!-- (apps/\S+) -->\n")}


def examples() -> dict[str, str]:
    files = {}
    for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        match = PATH_COMMENT[kind].match(body)
        assert match, f"every {kind} example in {DOC.name} starts with the path of its file:\n{body[:200]}"
        files[match.group(1)] = body
    return files


def example_apps() -> list[str]:
    return sorted({"/".join(path.split("/")[:2]) for path in examples() if not path.startswith("apps/modules/")})


def test_the_doc_has_examples_of_every_concept():
    text = "\n".join(examples().values())
    for concept in ("entities:", "make_from:", "stock:", "reservations:", "include:", "extend:", "workflows:",
                    "alerts:", "roles:", "dashboards:", "print_formats:", "demo:"):
        assert concept in text, f"docs/app-format.md has no example with {concept}"


@pytest.fixture(scope="module")
def example_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("doc")
    for relative, body in examples().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return root


@pytest.mark.parametrize("app", example_apps())
def test_every_example_app_loads(example_tree, app):
    loaded = load_app(example_tree / app)
    assert loaded.name == app.split("/")[1]
