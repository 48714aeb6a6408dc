// The analytics charts: uPlot (static/vendor/uplot/) draws each chart of the JSON the
// page carries (#analytics-data, written by dashboard/trends.py), in the theme's colours
// (CSS variables of dashboard.css / analytics.css), redrawn when the theme or the width
// changes. Each chart's numbers are also a table beside it ("show numbers") and a CSV.
(function () {
  "use strict";
  var charts = [];
  var compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function xs(chart) {
    if (chart.slug.indexOf("kinds-") === 0) return chart.x.map(function (_, i) { return i; });
    return chart.x.map(function (x) { return Date.parse(x) / 1000; });
  }

  function options(chart, width) {
    var categorical = chart.slug.indexOf("kinds-") === 0;
    var text = css("--text"), grid = css("--border");
    var n = chart.series.length;
    var series = [{}];
    chart.series.forEach(function (s, i) {
      var colour = css("--chart-" + (i % 5 + 1));
      var spec = { label: s.label, stroke: colour, width: 2 };
      if (chart.kind === "bar") {
        var align = n === 1 ? 0 : (i === 0 ? -1 : (i === n - 1 ? 1 : 0));
        spec.fill = colour;
        spec.paths = uPlot.paths.bars({ size: [0.9 / Math.max(n, 1), 60], align: align });
        spec.points = { show: false };
      } else if (/previous/.test(s.label)) {
        spec.dash = [6, 4];
        spec.width = 1.5;
      }
      series.push(spec);
    });
    var axisX = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    if (categorical) {
      axisX.values = function (u, splits) {
        return splits.map(function (v) { return chart.x[v] !== undefined ? chart.x[v] : ""; });
      };
      axisX.splits = function () { return chart.x.map(function (_, i) { return i; }); };
    }
    return {
      width: width,
      height: Math.max(180, Math.min(260, Math.round(width * 0.5))),
      series: series,
      scales: { x: categorical ? { time: false, range: [-0.5, chart.x.length - 0.5] } : { time: true } },
      axes: [axisX, {
        stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56,
        values: function (u, splits) { return splits.map(function (v) { return compact.format(v); }); },
      }],
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    };
  }

  function draw() {
    var data = document.getElementById("analytics-data");
    if (!data || typeof uPlot === "undefined") return;
    charts.forEach(function (u) { u.destroy(); });
    charts = [];
    JSON.parse(data.textContent).forEach(function (chart) {
      var box = document.querySelector('[data-chart="' + chart.slug + '"]');
      if (!box) return;
      var values = [xs(chart)].concat(chart.series.map(function (s) { return s.values; }));
      var u = new uPlot(options(chart, box.clientWidth || 320), values, box);
      u.root.setAttribute("data-drawn", "true");
      charts.push(u);
    });
  }

  var resizing;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(draw, 150);
  });
  new MutationObserver(draw).observe(document.documentElement, {
    attributes: true, attributeFilter: ["data-theme"],
  });
  if (window.matchMedia) {
    var dark = window.matchMedia("(prefers-color-scheme: dark)");
    if (dark.addEventListener) dark.addEventListener("change", draw);
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-show-numbers]");
    if (!button) return;
    var table = document.querySelector('[data-numbers="' + button.dataset.showNumbers + '"]');
    var shown = table.classList.toggle("sr-only") === false;
    button.textContent = shown ? "hide numbers" : "show numbers";
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
