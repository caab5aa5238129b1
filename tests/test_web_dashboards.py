"""Dashboard pages (engine.web.dashboards): the chart option embedded in the page with the numbers computed
as the user, metrics and tables coloured by thresholds, navigation and 403 by the dashboard's roles, the
vendored ECharts served locally."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from engine.web import app as web_app_module
from engine.web.dashboards import number
from tests.service_helpers import D
from tests.web_helpers import Web, app_folder, start_on, visible_text

BOARD_APP = """
name: boardweb
title: {zh: 看板店, en: Board shop}
entities:
  customer:
    label: {zh: 客户, en: Customer}
    key: code
    title: name
    fields:
      code: {type: string, required: true, unique: true}
      name: string
  sales_order:
    label: {zh: 销售订单, en: Sales order}
    kind: document
    fields:
      customer: {type: link, link: customer, required: true}
      order_date: {type: date, required: true}
      region: {type: choice, options: {east: {zh: 华东, en: East}, west: {zh: 华西, en: West}}}
      total: {type: money, label: {zh: 金额, en: Amount}}
roles:
  manager:
    permissions: {sales_order: read, customer: read}
  east_sales:
    permissions: {sales_order: read, customer: read}
    rows:
      sales_order: region = "east"
  secretive:
    permissions: {sales_order: read, customer: read}
    fields:
      sales_order: {total: hidden}
  clerk:
    permissions: {customer: read}
dashboards:
  sales:
    label: {zh: 销售看板, en: Sales board}
    roles: [manager, east_sales, secretive]
    widgets:
      - type: metric
        title: {zh: 销售额, en: Sales}
        entity: sales_order
        filter: docstatus = "submitted"
        values: {amount: SUM(total)}
        thresholds: [{above: 500, color: green}]
      - type: bar
        title: {zh: 客户 TOP2, en: Top 2 customers}
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {customer: customer}
        values: {amount: SUM(total)}
        sort: -amount
        limit: 2
        thresholds: [{above: 100, color: orange}, {above: 320, color: red}]
      - type: line
        title: 月度
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {month: YEAR(order_date) * 100 + MONTH(order_date)}
        values: {amount: SUM(total), orders: COUNT()}
        sort: month
      - type: table
        title: 区域
        entity: sales_order
        filter: docstatus = "submitted"
        group_by: {region: region}
        values: {orders: COUNT(), amount: SUM(total)}
        sort: -amount
        thresholds: [{above: 400, color: "#c00"}]
  customers:
    label: {zh: 客户看板, en: Customers}
    roles: [clerk]
    widgets:
      - type: metric
        title: 客户数
        entity: customer
        values: {customers: COUNT()}
      - type: metric
        title: 人均
        entity: customer
        values: {share: COUNT() / (COUNT() - COUNT())}
"""


@pytest.fixture
def web(db_engine, monkeypatch) -> Iterator[Web]:
    if "engine.web.dashboards" not in web_app_module.WEB_MODULES:
        monkeypatch.setattr(web_app_module, "WEB_MODULES", (*web_app_module.WEB_MODULES, "engine.web.dashboards"))
    started = start_on(db_engine, app_folder(BOARD_APP))
    system = started.records.system()
    ids = {code: system.create("customer", {"code": code, "name": name})["id"]
           for code, name in (("A", "甲"), ("B", "乙"), ("C", "丙<b>"))}
    for code, day, region, total in [("A", "2026-01-10", "east", "100.00"), ("A", "2026-02-11", "west", "1250.50"),
                                     ("B", "2026-02-20", "east", "80.25"), ("C", "2026-03-01", "east", "300.00")]:
        system.create("sales_order", {"customer": ids[code], "order_date": day, "region": region, "total": total},
                      submit=True)
    system.create("sales_order", {"customer": ids["B"], "order_date": "2026-03-02", "total": "999"})  # a draft
    web = Web(started, secret_key="test-secret")
    for name, role in (("mia", "manager"), ("eve", "east_sales"), ("sid", "secretive"), ("cal", "clerk")):
        web.user(name, role)
    yield web
    web.close()


def log_in_as(web: Web, name: str) -> None:
    web.client.cookies.clear()  # a new browser
    web.login(name)


def options(html: str) -> dict[str, Any]:
    """Each chart's ECharts option as the page embeds it, by widget id."""
    found = re.findall(r'<script type="application/json" id="(widget-\d+)-option">(.*?)</script>', html, re.S)
    return {widget: json.loads(text) for widget, text in found}


def widget_html(html: str, widget: str) -> str:
    match = re.search(rf'<section[^>]* id="{widget}".*?</section>', html, re.S)
    assert match, f"no {widget} on the page"
    return match.group(0)


@pytest.mark.both_dbs
def test_the_page_embeds_each_chart_with_the_users_numbers(web: Web) -> None:
    web.login("mia")
    page = web.get("/dashboards/sales")
    assert page.status_code == 200
    assert '<script src="/static/vendor/echarts-5.5.1/echarts.common.min.js"></script>' in page.text
    assert '<script src="/static/dashboard.js"></script>' in page.text
    charts = options(page.text)
    assert set(charts) == {"widget-2", "widget-3"}  # the bar and the line; metric and table are HTML
    bar = charts["widget-2"]
    assert bar["xAxis"]["data"] == ["甲", "丙<b>"]
    assert bar["series"] == [{"name": "金额", "type": "bar", "data": [
        {"value": "1350.50", "itemStyle": {"color": "red"}}, {"value": "300.00", "itemStyle": {"color": "orange"}}]}]
    line = charts["widget-3"]
    assert line["xAxis"]["data"] == ["202601", "202602", "202603"]
    assert [s["name"] for s in line["series"]] == ["金额", "orders"] and line["legend"]["show"] is True
    assert [p["value"] for p in line["series"][0]["data"]] == ["100.00", "1330.75", "300.00"]
    assert [p["value"] for p in line["series"][1]["data"]] == [1, 2, 1]
    assert "<b>" not in widget_html(page.text, "widget-2").split("</script>")[1]  # escaped in the HTML table
    metric = widget_html(page.text, "widget-1")
    assert 'style="color: green"' in metric and "1,730.75" in visible_text(metric)
    regions = widget_html(page.text, "widget-4")
    assert visible_text(regions).endswith("region orders 金额 华西 1 1,250.50 华东 3 480.25")
    assert regions.count('data-colour="#c00"') == 2  # both amounts are above 400


@pytest.mark.both_dbs
def test_row_rules_and_hidden_fields_apply_on_the_page(web: Web) -> None:
    web.login("eve")
    east = options(web.get("/dashboards/sales").text)["widget-2"]
    assert east["xAxis"]["data"] == ["丙<b>", "甲"]
    assert [p["value"] for p in east["series"][0]["data"]] == ["300.00", "100.00"]
    log_in_as(web, "sid")
    page = web.get("/dashboards/sales")
    assert page.status_code == 200
    assert options(page.text) == {}
    assert visible_text(page.text).count("您无权查看此组件的数据") == 4


def test_only_the_dashboards_of_the_users_roles(web: Web) -> None:
    web.login("cal")
    home = web.get("/").text
    assert 'href="/dashboards/customers"' in home and 'href="/dashboards/sales"' not in home
    refused = web.get("/dashboards/sales")
    assert refused.status_code == 403
    assert "1,730.75" not in refused.text and "Traceback" not in refused.text
    assert web.get("/dashboards/nothing").status_code == 404
    assert "3" in visible_text(widget_html(web.get("/dashboards/customers").text, "widget-1"))
    log_in_as(web, "mia")
    home = web.get("/").text
    assert 'href="/dashboards/sales"' in home and 'href="/dashboards/customers"' not in home


def test_english_labels(web: Web) -> None:
    web.login("mia")
    web.client.cookies.set("jxc_lang", "en")
    page = web.get("/dashboards/sales").text
    assert "Sales board" in page and "Top 2 customers" in page
    assert "region orders Amount West 1 1,250.50 East 3 480.25" in visible_text(widget_html(page, "widget-4"))


def test_a_dashboard_needs_a_login(web: Web) -> None:
    response = web.get("/dashboards/sales")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_echarts_and_the_page_script_are_served_locally(web: Web) -> None:
    web.login("mia")
    library = web.get("/static/vendor/echarts-5.5.1/echarts.common.min.js")
    assert library.status_code == 200 and "echarts" in library.text[:5000]
    assert web.get("/static/vendor/echarts-5.5.1/LICENSE").status_code == 200
    assert "echarts.init" in web.get("/static/dashboard.js").text


def test_numbers_read_as_people_write_them() -> None:
    assert [number(D(text)) for text in ("400.000000", "-1234.500000", "0.000000", "1250.50", "0.10", "0.000125")] \
        == ["400", "-1,234.5", "0", "1,250.50", "0.10", "0.000125"]
    assert number(1234567) == "1,234,567" and number(None) == "—"


def test_a_long_widget_says_that_only_the_first_groups_are_shown(web: Web, monkeypatch) -> None:
    from engine.web import dashboard_data

    monkeypatch.setattr(dashboard_data, "MAX_ROWS", 2)
    web.login("mia")
    page = web.get("/dashboards/sales").text
    assert "仅显示前 2 组。" in visible_text(widget_html(page, "widget-3"))  # three months
    assert "仅显示前" not in widget_html(page, "widget-4")  # two regions
    assert options(page)["widget-3"]["xAxis"]["data"] == ["202601", "202602"]


@pytest.mark.both_dbs
def test_a_widget_whose_formula_fails_says_why_in_the_users_language(web: Web) -> None:
    web.login("cal")
    page = web.get("/dashboards/customers")
    assert page.status_code == 200
    assert "这个组件的公式出错：除数为零" in visible_text(widget_html(page.text, "widget-2"))
    assert "3" in visible_text(widget_html(page.text, "widget-1"))  # the other widget still shows its number
    web.client.cookies.set("jxc_lang", "en")
    english = web.get("/dashboards/customers").text
    assert "a formula of this widget failed: division by zero" in visible_text(widget_html(english, "widget-2"))
