"""Helpers for tests that write apps: file trees, and where a token stands in a YAML text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dsl.loader import load_app
from dsl.problems import CheckFailed

HEADER = "name: shop\ntitle: 小店\n"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def app_text(body: str) -> str:
    return HEADER + textwrap.dedent(body).lstrip("\n")


def where(text: str, needle: str, occurrence: int = 1, file: str = "apps/shop/app.yaml") -> str:
    """`file:line:column` of the n-th occurrence of `needle` in the final file text."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"{file}:{line}:{column}"


class ShopApp:
    """One app folder `apps/shop` under a temporary working directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.text = ""

    def write(self, body: str, extra: dict[str, str] | None = None) -> str:
        self.text = app_text(body)
        folder = self.root / "apps" / "shop"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "app.yaml").write_text(self.text, encoding="utf-8")
        write_tree(self.root, extra or {})
        return self.text

    def load(self, body: str, extra: dict[str, str] | None = None):
        self.write(body, extra)
        return load_app("apps/shop")

    def problems(self, body: str, extra: dict[str, str] | None = None) -> str:
        self.write(body, extra)
        with pytest.raises(CheckFailed) as caught:
            load_app("apps/shop")
        return str(caught.value)

    def at(self, needle: str, occurrence: int = 1) -> str:
        return where(self.text, needle, occurrence)


@pytest.fixture
def shop(tmp_path, monkeypatch) -> ShopApp:
    monkeypatch.chdir(tmp_path)
    return ShopApp(tmp_path)
