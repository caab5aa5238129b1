"""Print formats: the Jinja2 template is found next to the YAML that declares it and compiled when the app loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dsl.loader import load_app
from dsl.model import Label
from dsl.problems import CheckFailed

APP = """\
name: shop
title: 小店
include: [sales]
entities:
  item:
    fields:
      code: string
"""

MODULE = """\
name: sales
entities:
  delivery_note:
    kind: document
    fields:
      customer: string
print_formats:
  delivery_slip:
    entity: delivery_note
    template: templates/slip.html
    paper: 80mm
"""

NOTE = "<h1>{{ doc.doc_no }}</h1>\n{% for line in doc.lines %}<p>{{ line.qty }}</p>{% endfor %}\n"


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, print_yaml: str, files: dict[str, str | bytes]) -> str:
    """The app (with module sales) plus print.yaml and other files, relative to apps/shop/."""
    monkeypatch.chdir(tmp_path)
    app = tmp_path / "apps" / "shop"
    module = tmp_path / "apps" / "modules" / "sales"
    (module / "templates").mkdir(parents=True)
    app.mkdir(parents=True)
    (app / "app.yaml").write_text(APP, encoding="utf-8")
    (module / "module.yaml").write_text(MODULE, encoding="utf-8")
    (module / "templates" / "slip.html").write_text("<p>{{ doc.customer }}</p>\n", encoding="utf-8")
    text = textwrap.dedent(print_yaml)
    (app / "print.yaml").write_text(text, encoding="utf-8")
    for name, content in files.items():
        path = app / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return text


def _at(text: str, needle: str) -> str:
    assert text.count(needle) == 1, f"{needle!r} must occur once"
    before = text[: text.index(needle)]
    return f"apps/shop/print.yaml:{before.count(chr(10)) + 1}:{len(before) - (before.rfind(chr(10)) + 1) + 1}"


def _failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, print_yaml: str,
             files: dict[str, str | bytes] | None = None) -> tuple[str, str]:
    text = _app(tmp_path, monkeypatch, print_yaml, files or {})
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    return text, str(failed.value)


def test_good_print_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _app(tmp_path, monkeypatch, """\
        print_formats:
          item_label:
            entity: item
            label: {zh: 物料标签, en: Item label}
            template: templates/label.html
            default: true
          item_sheet:
            entity: item
            template: sheet.html
            paper: A5
        """, {"templates/label.html": NOTE, "sheet.html": "\ufeff{{ doc.code }}"})
    app = load_app("apps/shop")
    label = app.print_formats["item_label"]
    assert label.entity == "item" and label.label == Label(zh="物料标签", en="Item label")
    assert label.template == "templates/label.html" and label.template_source == NOTE
    assert label.paper == "A4" and label.default is True
    assert label.origin is not None and (label.origin.file, label.origin.line) == ("apps/shop/print.yaml", 2)
    sheet = app.print_formats["item_sheet"]
    assert sheet.paper == "A5" and sheet.default is False and sheet.template_source == "{{ doc.code }}"
    assert sheet.label == Label(en="Item sheet")
    # declared in the module: the path is relative to the module's folder
    slip = app.print_formats["delivery_slip"]
    assert slip.entity == "delivery_note" and slip.paper == "80mm"
    assert slip.template_source == "<p>{{ doc.customer }}</p>\n"


def test_missing_template_suggests_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: templates/lable.html}
        """, {"templates/label.html": NOTE})
    assert (f"{_at(text, 'templates/lable.html')}: error: print format item_label: there is no template file "
            "apps/shop/templates/lable.html\n"
            "    at print_formats.item_label.template\n"
            "    hint: did you mean 'templates/label.html'?") in output


def test_missing_template_lists_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: templates/zz.html}
        """, {"templates/a.html": "a", "templates/b.html": "b"})
    assert f"{_at(text, 'templates/zz.html')}: error: print format item_label: there is no template file" in output
    assert "hint: .html files in apps/shop/templates: a.html, b.html" in output


def test_template_outside_the_app_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "secret.html").write_text("{{ x }}", encoding="utf-8")
    text, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: ../secret.html}
          item_card: {entity: item, template: /etc/hostname}
        """)
    assert (f"{_at(text, '../secret.html')}: error: print format item_label: the template ../secret.html is outside "
            "the app's folder") in output
    assert (f"{_at(text, '/etc/hostname')}: error: print format item_card: write the template's path relative to "
            "this file, not as an absolute path") in output


def test_module_template_cannot_leave_the_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _app(tmp_path, monkeypatch, "", {"x.html": "x"})
    module_yaml = tmp_path / "apps" / "modules" / "sales" / "module.yaml"
    module_yaml.write_text(MODULE.replace("templates/slip.html", "../../shop/x.html"), encoding="utf-8")
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    assert ("apps/modules/sales/module.yaml:10:15: error: print format delivery_slip: the template "
            "../../shop/x.html is outside the folder of module sales") in str(failed.value)


def test_syntax_error_is_located_in_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: templates/label.html}
        """, {"templates/label.html": "<h1>{{ doc.code }}</h1>\n\n{% for x in doc.lines %}\n{{ x.qty }\n"})
    assert ("apps/shop/templates/label.html:4:1: error: unexpected '}'\n"
            "    at print_formats.item_label.template\n"
            f"    hint: the template of print format item_label ({_at(text, 'templates/label.html')})") in output


def test_unknown_filter_is_located_in_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: label.html}
        """, {"label.html": "line 1\n{{ doc.code | upperr }}\n"})
    assert "apps/shop/label.html:2:1: error: No filter named 'upperr'." in output


def test_template_must_be_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: label.html}
        """, {"label.html": "第一行\n".encode() + "第二行".encode("gbk")})
    assert "apps/shop/label.html:2:1: error: the template is not UTF-8 text" in output


def test_template_must_be_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: big.html}
        """, {"big.html": "x" * (1024 * 1024)})
    assert (f"{_at(text, 'big.html')}: error: print format item_label: the template apps/shop/big.html is "
            "1,048,576 bytes; a print template must be smaller than 1 MB") in output


def test_one_default_per_entity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: item, template: a.html, default: true}
          item_card: {entity: item, template: a.html, default: true}
          slip_copy: {entity: delivery_note, template: a.html, default: true}
        """, {"a.html": "a"})
    # the second default's `default` key, naming the first one's `true`
    assert ("apps/shop/print.yaml:3:47: error: print formats 'item_label' and 'item_card' are both the default for "
            "item ('item_label' at apps/shop/print.yaml:2:57)") in output, output
    assert "slip_copy" not in output


def test_unknown_entity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text, output = _failure(tmp_path, monkeypatch, """\
        print_formats:
          item_label: {entity: itme, template: a.html}
        """, {"a.html": "a"})
    assert (f"{_at(text, 'itme')}: error: print format item_label: there is no entity 'itme'\n"
            "    at print_formats.item_label.entity\n"
            "    hint: did you mean 'item'?") in output
