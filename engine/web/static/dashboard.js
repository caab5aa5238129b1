// Draws the dashboard's bar and line widgets with Apache ECharts. Each chart's option is in the page as JSON
// (<script type="application/json">), built on the server from the widget's data; numbers arrive as exact
// decimal text and become numbers here only for drawing. Without JavaScript the numbers stay in the table.
(function () {
  "use strict";
  if (!window.echarts) { return; }
  var charts = [];
  var locale = (document.documentElement.lang || "").indexOf("en") === 0 ? "EN" : "ZH";
  function toNumber(point) {
    if (point && typeof point === "object" && typeof point.value === "string") {
      point.value = Number(point.value);
    }
    return point;
  }
  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var source = document.getElementById(element.getAttribute("data-chart"));
    if (!source) { return; }
    var option = JSON.parse(source.textContent);
    (option.series || []).forEach(function (series) { series.data = (series.data || []).map(toNumber); });
    var chart = window.echarts.init(element, null, {renderer: "canvas", locale: locale});
    chart.setOption(option);
    element.setAttribute("data-drawn", "true");
    charts.push(chart);
  });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { charts.forEach(function (chart) { chart.resize(); }); }, 100);
  });
})();
