"""Dashboard pages: `/dashboards/<name>` draws the widgets of a dashboard declared in YAML.

Numbers come from engine.web.dashboard_data (SQL as the user). A metric is a big number and a table an HTML
table, both coloured by their thresholds; a bar or line widget is an Apache ECharts chart whose option is
built here and embedded in the page as JSON (static/dashboard.js draws it), with its numbers also in a table
beneath for those who cannot see the picture. Only the dashboards of the user's roles are in the navigation;
another one answers 403.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dsl.model import Dashboard
from engine.context import CurrentUser
from engine.errors import NotFound
from engine.messages import Message
from engine.web.context import NavGroup, NavItem, gettext, label, language, render, service, translate, web_state
from engine.web.dashboard_data import Row, WidgetData, dashboard_data, display, visible_dashboards
from engine.web.i18n import label_locale

ECHARTS = "/static/vendor/echarts-5.5.1/echarts.common.min.js"
ROTATE_AFTER = 6  # more categories than this: the x axis labels are slanted so that they fit on a phone


async def dashboard_page(request: Request) -> Response:
    session = service(request)
    app = web_state(request).started.app
    dashboard = _dashboard(app.dashboards, request.path_params["name"])
    widgets = dashboard_data(session, dashboard, label_locale(language(request)))  # 403 when not for this user
    return render(request, "dashboard.html", dashboard=dashboard, title=label(request, dashboard.label),
                  widgets=[_view(request, data, index) for index, data in enumerate(widgets)], echarts=ECHARTS)


def _dashboard(dashboards: Any, name: str) -> Dashboard:
    dashboard = dashboards.get(name)
    if dashboard is None:
        raise NotFound(Message("there is no dashboard '{name}'", name=name))
    return dashboard


def _view(request: Request, data: WidgetData, index: int) -> dict[str, Any]:
    """What the template needs for one widget."""
    widget = data.widget
    view: dict[str, Any] = {
        "id": f"widget-{index + 1}", "type": widget.type, "title": data.title,
        "problem": translate(request, data.problem) if data.problem else None,
        "denied": data.denied, "group_headings": data.headings[:len(data.groups)],
        "value_headings": data.headings[len(data.groups):],
        "rows": [_cells(row) for row in data.rows],
        "truncated": gettext(request, "Only the first %(count)d groups are shown.") % {"count": len(data.rows)}
        if data.truncated else None,
    }
    if data.denied:
        view["problem"] = gettext(request, "You may not see the numbers of this widget.")
    if widget.type in ("bar", "line") and not data.problem:
        view["option"] = chart_option(data)
    if widget.type == "metric" and data.rows and not data.problem:
        row = data.rows[0]
        view["metric"] = {"text": number(row.values[0]), "colour": row.colours[0]}
    return view


def _cells(row: Row) -> dict[str, Any]:
    return {"labels": list(row.labels),
            "values": [{"text": number(value), "colour": colour} for value, colour in zip(row.values, row.colours,
                                                                                          strict=True)]}


def chart_option(data: WidgetData) -> dict[str, Any]:
    """The ECharts option of a bar or line widget: groups along the x axis, one series per value. Numbers go
    as exact decimal text (dashboard.js turns them into numbers for drawing); a bar or point takes the colour
    of its threshold."""
    categories = [row.labels[0] if row.labels else "" for row in data.rows]
    kind = data.widget.type
    series = []
    for position, name in enumerate(data.values):
        points = []
        for row in data.rows:
            value, colour = row.values[position], row.colours[position]
            point: dict[str, Any] = {"value": _plain(value)}
            if colour:
                point["itemStyle"] = {"color": colour}
            points.append(point)
        series.append({"name": data.headings[len(data.groups) + position] if data.headings else name,
                       "type": kind, "data": points,
                       **({"smooth": False, "connectNulls": True} if kind == "line" else {})})
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1, "top": 0},
        "grid": {"left": 8, "right": 16, "top": 32 if len(series) > 1 else 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": categories,
                  "axisLabel": {"rotate": 35 if len(categories) > ROTATE_AFTER else 0, "hideOverlap": True}},
        "yAxis": {"type": "value"},
        "series": series,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(_trimmed(value), "f")
    return value


def number(value: Any) -> str:
    """A number as a person reads it: digits grouped by thousands, exact (money keeps its cents)."""
    if isinstance(value, Decimal):
        return format(_trimmed(value), ",f")
    if isinstance(value, int) and not isinstance(value, bool):
        return format(value, ",")
    return display(value)


def _trimmed(value: Decimal) -> Decimal:
    """Quantities are kept to 6 places: 400.000000 reads 400, 12.500000 reads 12.5; two places (money) stay."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -2:
        return value
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def navigation(request: Request, user: CurrentUser) -> list[NavGroup]:
    """The dashboards of the user's roles."""
    app = web_state(request).started.app
    items = [NavItem(label(request, board.label), f"/dashboards/{board.name}", f"dashboard:{board.name}")
             for board in visible_dashboards(app, user)]
    return [NavGroup(gettext(request, "Dashboards"), items)] if items else []


def routes() -> list[BaseRoute]:
    return [Route("/dashboards/{name}", dashboard_page, methods=["GET"])]


__all__ = ["chart_option", "navigation", "number", "routes"]
