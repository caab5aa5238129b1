"""Dashboards: widgets over a query, checked when the app loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dsl.loader import load_app
from dsl.model import Label
from dsl.problems import CheckFailed

APP = """\
name: shop
title: {zh: 小店, en: Shop}
stock: {item: item, warehouse: warehouse}
roles:
  boss: {label: 老板}
  clerk: {label: 店员}
entities:
  item:
    fields:
      code: {type: string, required: true}
      name: string
  warehouse:
    fields:
      code: string
  tag:
    fields:
      code: string
  customer:
    fields:
      code: string
      tags: {type: link, link: tag, many: true}
  sales_order:
    kind: document
    fields:
      customer: {type: link, link: customer}
      order_date: date
      due_date: date
      lines:
        type: table
        fields:
          item: {type: link, link: item}
          qty: {type: decimal, scale: 3}
          price: money
          amount: {type: money, formula: qty * price}
      total: {type: money, formula: SUM(lines.amount)}
"""


def _write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dashboards: str) -> str:
    """Write the app with `dashboards` as dash.yaml; work from tmp_path so that paths read apps/shop/..."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "apps" / "shop"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(APP, encoding="utf-8")
    text = textwrap.dedent(dashboards)
    (folder / "dash.yaml").write_text(text, encoding="utf-8")
    return text


def _at(text: str, needle: str) -> str:
    """`apps/shop/dash.yaml:line:col` of the one place where `needle` is written."""
    assert text.count(needle) == 1, f"{needle!r} must occur once"
    before = text[: text.index(needle)]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"apps/shop/dash.yaml:{line}:{column}"


def _problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dashboards: str) -> tuple[str, str]:
    text = _write(tmp_path, monkeypatch, dashboards)
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    return text, str(failed.value)


def test_good_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, monkeypatch, """\
        dashboards:
          sales:
            label: {zh: 销售, en: Sales}
            roles: [boss, clerk]
            widgets:
              - type: metric
                entity: sales_order
                filter: docstatus = "submitted"
                values: {revenue: SUM(total)}
              - type: bar
                title: 每月销售额
                entity: sales_order
                group_by: {month: MONTH(order_date)}
                values: {revenue: SUM(total), orders: COUNT()}
                sort: month
              - type: table
                entity: sales_order
                group_by:
                  customer: customer
                  bucket: 'IFS(DAYS_BETWEEN(due_date, TODAY()) <= 30, "0-30", TRUE, "30+")'
                values: {open: 'SUM(total, docstatus = "submitted")', big: COUNT(total > 1000)}
                sort: -open
                limit: 10
                thresholds:
                  - {above: 10000, color: red}
                  - {above: 1000, below: 10000, color: orange}
              - type: table
                entity: stock_balance
                group_by: {item: item}
                values: {on_hand: SUM(on_hand)}
                thresholds: [{below: 10, color: red}]
        """)
    app = load_app("apps/shop")
    dashboard = app.dashboards["sales"]
    assert dashboard.label == Label(zh="销售", en="Sales")
    assert dashboard.roles == ("boss", "clerk")
    metric, bar, aging, stock = dashboard.widgets
    assert metric.type == "metric" and metric.title == dashboard.label and metric.entity == "sales_order"
    assert metric.filter is not None and metric.filter.source == 'docstatus = "submitted"'
    assert list(metric.values) == ["revenue"] and metric.values["revenue"].type.is_number
    assert metric.group_by == {} and metric.sort is None and metric.limit is None
    assert bar.title == Label(zh="每月销售额")
    assert list(bar.group_by) == ["month"] and list(bar.values) == ["revenue", "orders"]
    assert bar.sort == "month"
    assert list(aging.group_by) == ["customer", "bucket"]
    assert aging.group_by["customer"].type.entity == "customer"
    assert aging.sort == "-open" and aging.limit == 10
    assert aging.thresholds == ({"above": 10000, "color": "red"},
                                {"above": 1000, "below": 10000, "color": "orange"})
    assert stock.entity == "stock_balance" and stock.thresholds == ({"below": 10, "color": "red"},)
    assert stock.values["on_hand"].type.is_number


def test_default_title_and_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, monkeypatch, """\
        dashboards:
          stock_overview:
            widgets:
              - {type: metric, entity: item, values: {items: COUNT()}}
        """)
    dashboard = load_app("apps/shop").dashboards["stock_overview"]
    assert dashboard.label == Label(en="Stock overview")
    assert dashboard.widgets[0].title == dashboard.label
    assert dashboard.roles == ()


def test_widget_over_the_rows_of_a_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Items ranked by what was sold of them: the widget queries the order lines and reaches the order through
    `parent`."""
    _write(tmp_path, monkeypatch, """\
        dashboards:
          sales:
            widgets:
              - type: bar
                title: 畅销商品
                entity: sales_order_lines
                filter: parent.docstatus = "submitted" AND YEAR(parent.order_date) = YEAR(TODAY())
                group_by: {item: item}
                values: {amount: SUM(amount), qty: SUM(qty)}
                sort: -amount
                limit: 10
        """)
    top = load_app("apps/shop").dashboards["sales"].widgets[0]
    assert top.entity == "sales_order_lines"
    assert top.group_by["item"].type.entity == "item"
    assert top.values["amount"].type.is_number and top.values["qty"].type.is_number
    assert top.filter is not None and "parent.order_date" in top.filter.source


def test_stock_entities_need_stock_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "apps" / "shop"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(APP.replace("stock: {item: item, warehouse: warehouse}\n", ""), "utf-8")
    text = "dashboards:\n  d:\n    widgets:\n      - {type: metric, entity: stock_batch, values: {n: COUNT()}}\n"
    (folder / "dash.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    assert (f"{_at(text, 'stock_batch')}: error: dashboard d, widget 1: stock_batch exists only when the app keeps "
            "stock") in str(failed.value)


def _dashboard(*widget_lines: str, roles: str = "[boss]") -> str:
    widgets = "\n".join(f"      {line}" for line in widget_lines)
    return f"dashboards:\n  d:\n    roles: {roles}\n    widgets:\n{widgets}\n"


CASES = [
    pytest.param(_dashboard("- {type: metric, entity: item, values: {n: COUNT()}}", roles="[boss, bos]"),
                 "bos]", "dashboard d: roles: there is no role 'bos'", id="unknown-role"),
    pytest.param(_dashboard("- {type: metric, entity: sales_ordr, values: {n: COUNT()}}"),
                 "sales_ordr", "dashboard d, widget 1: there is no entity 'sales_ordr'", id="unknown-entity"),
    pytest.param(_dashboard("- {type: table, entity: sales_order_lines, filter: parent.docstatu = \"submitted\", "
                            "group_by: {i: item}, values: {n: COUNT()}}"),
                 "docstatu =", "sales_order has no field 'docstatu'", id="child-entity-parent-typo"),
    pytest.param(_dashboard("- {type: table, entity: sales_order_lines, group_by: {i: item}, "
                            "values: {n: SUM(total)}}"),
                 "total)", "sales_order_lines has no field 'total'", id="child-entity-own-fields"),
    pytest.param(_dashboard("- {type: metric, entity: user, values: {n: COUNT()}}"),
                 "user", "dashboard d, widget 1: user is kept by jxc itself and cannot be queried here",
                 id="system-entity"),
    pytest.param(_dashboard("- {type: metric, entity: sales_order, filter: total, values: {n: COUNT()}}"),
                 "total,", "dashboard d, widget 1: the filter must give TRUE/FALSE (a condition), but this formula "
                 "gives a number", id="filter-not-condition"),
    pytest.param(_dashboard("- {type: table, entity: sales_order, filter: SUM(total) > 0, values: {n: COUNT()}}"),
                 "total) > 0", "SUM works on the rows of a table, like SUM(table.column, [condition])",
                 id="filter-is-per-record"),
    pytest.param(_dashboard("- {type: table, entity: sales_order, group_by: {l: lines}, values: {n: COUNT()}}"),
                 "lines}", "lines is a table; use SUM, COUNT, AVG, MIN or MAX over it", id="group-by-table"),
    pytest.param(_dashboard("- {type: table, entity: customer, group_by: {t: tags}, values: {n: COUNT()}}"),
                 "tags}", "dashboard d, widget 1: the group t must give a single value (not a table or a list), "
                 "but this formula gives a list of a tag record", id="group-by-list"),
    pytest.param(_dashboard("- {type: table, entity: sales_order, group_by: {c: customer}, values: {n: total}}"),
                 "total}", "'total' must be inside an aggregate here, like SUM(total) or MAX(total)",
                 id="value-bare-field"),
    pytest.param(_dashboard("- {type: table, entity: sales_order, group_by: {c: customer}, "
                            "values: {last: MAX(order_date)}}"),
                 "MAX(order_date)", "dashboard d, widget 1: the value last must give a number, but this formula "
                 "gives a date", id="value-not-number"),
    pytest.param(_dashboard("- {type: table, entity: sales_order, group_by: {customer: customer}, "
                            "values: {customer: COUNT()}}"),
                 "customer: COUNT", "dashboard d, widget 1: 'customer' names both a group and a value; give them "
                 "different names", id="name-clash"),
    pytest.param(_dashboard("- {type: metric, entity: sales_order, group_by: {c: customer}, values: {n: COUNT()}}"),
                 "group_by", "dashboard d, widget 1: a metric shows one number, so it has no group_by",
                 id="metric-with-groups"),
    pytest.param(_dashboard("- {type: metric, entity: sales_order, values: {n: COUNT(), s: SUM(total)}}"),
                 "values", "dashboard d, widget 1: a metric shows exactly one value, but this one has 2",
                 id="metric-two-values"),
    pytest.param(_dashboard("- {type: table, entity: item, values: {n: COUNT()}}",
                            "- {type: bar, entity: sales_order, values: {n: COUNT()}}"),
                 "bar", "dashboard d, widget 2: a bar chart needs group_by: with one group (its x axis)",
                 id="bar-without-group"),
    pytest.param(_dashboard("- {type: line, entity: sales_order, group_by: {m: MONTH(order_date), c: customer}, "
                            "values: {n: COUNT()}}"),
                 "group_by", "dashboard d, widget 1: a line chart has one group (its x axis), but this one has 2",
                 id="line-two-groups"),
    pytest.param(_dashboard("- {type: table, entity: sales_order, group_by: {c: customer}, "
                            "values: {revenue: SUM(total)}, sort: -revenu}"),
                 "-revenu", "dashboard d, widget 1: sort names 'revenu', which is neither a group nor a value of this "
                 "widget\n    at dashboards.d.widgets[0].sort\n    hint: did you mean 'revenue'?", id="sort-unknown"),
    pytest.param(_dashboard("- {type: metric, entity: sales_order, values: {n: COUNT()}, "
                            "thresholds: [{color: red}]}"),
                 "{color: red}", "dashboard d, widget 1: a threshold needs above: or below: (where its colour "
                 "applies)", id="threshold-without-bound"),
    pytest.param(_dashboard("- {type: metric, entity: sales_order, values: {n: COUNT()}, "
                            "thresholds: [{above: 10, below: 5, color: red}]}"),
                 "{above: 10", "dashboard d, widget 1: no number is above 10 and below 5, so this threshold never "
                 "applies", id="threshold-empty-band"),
]


@pytest.mark.parametrize(("dashboards", "needle", "message"), CASES)
def test_broken_dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dashboards: str, needle: str,
                          message: str) -> None:
    text, output = _problems(tmp_path, monkeypatch, dashboards)
    assert f"{_at(text, needle)}: error: {message}" in output, output


def test_every_widget_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken widget does not hide the problems of the next one, and a layout problem is found even when the
    entity is unknown."""
    text, output = _problems(tmp_path, monkeypatch, _dashboard(
        "- {type: bar, entity: nothing, values: {n: COUNT()}}",
        "- {type: metric, entity: item, values: {n: SUM(code)}}",
    ))
    assert f"{_at(text, 'bar')}: error: dashboard d, widget 1: a bar chart needs group_by:" in output
    assert f"{_at(text, 'nothing')}: error: dashboard d, widget 1: there is no entity 'nothing'" in output
    assert f"{_at(text, 'code)')}: error: SUM needs a number, but code is text" in output


def test_a_module_uses_only_what_it_can_see(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, monkeypatch, "")
    module = tmp_path / "apps" / "modules" / "reports"
    module.mkdir(parents=True)
    (module / "module.yaml").write_text(
        "name: reports\ndashboards:\n  d:\n    widgets:\n      - {type: metric, entity: item, values: {n: COUNT()}}\n",
        encoding="utf-8")
    app_yaml = tmp_path / "apps" / "shop" / "app.yaml"
    app_yaml.write_text(APP.replace("title: {zh: 小店, en: Shop}\n", "title: 小店\ninclude: [reports]\n"), "utf-8")
    with pytest.raises(CheckFailed) as failed:
        load_app("apps/shop")
    assert ("apps/modules/reports/module.yaml:5:32: error: 'item' is defined by the app, and module reports cannot "
            "use it") in str(failed.value)
