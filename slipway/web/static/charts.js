/* Slipway's dashboard charts: uPlot draws every <figure class="uchart"> from its data-chart spec
   ({title, x, unit, series: [{label, points: [[x, y|null], ...]}]}), replacing the server's SVG.
   A figure with data-src reloads its spec every data-every seconds (the list that URL answers,
   item data-index), so endpoint charts stay live. Works offline: uPlot is served from /static. */
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"];

  function columns(spec) {
    // uPlot wants one shared, sorted x array and one y array per series (null where a series has no point).
    var xs = {}, i, j;
    for (i = 0; i < spec.series.length; i++) {
      for (j = 0; j < spec.series[i].points.length; j++) { xs[spec.series[i].points[j][0]] = true; }
    }
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var at = {};
    x.forEach(function (v, k) { at[v] = k; });
    var data = [x];
    spec.series.forEach(function (s) {
      var y = x.map(function () { return null; });
      s.points.forEach(function (p) { y[at[p[0]]] = p[1]; });
      data.push(y);
    });
    return data;
  }

  function countPoints(data) {
    var n = 0;
    for (var i = 1; i < data.length; i++) {
      for (var j = 0; j < data[i].length; j++) { if (data[i][j] !== null) { n++; } }
    }
    return n;
  }

  function options(spec, width, n) {
    var time = spec.x === "time";
    var series = [{ label: time ? "time" : spec.x }];
    spec.series.forEach(function (s, i) {
      series.push({
        label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false,
        points: { show: n <= 40 }, value: function (u, v) { return v == null ? "—" : (+v.toPrecision(4)) + (spec.unit || ""); }
      });
    });
    return {
      title: spec.title, width: width, height: 220, series: series,
      scales: { x: { time: time } },
      axes: [{ label: time ? "" : spec.x, stroke: "#6b7280" }, { stroke: "#6b7280", size: 56 }],
      legend: { live: true }
    };
  }

  function draw(fig, spec) {
    var box = fig.querySelector(".uchart-plot");
    var data = columns(spec);
    var n = countPoints(data);
    var labels = spec.series.map(function (s) { return s.label; }).join("\u0000");
    fig.dataset.points = String(n);
    fig.dataset.series = String(spec.series.length);
    if (fig._plot && fig._labels === labels) { fig._plot.setData(data); return; }
    if (fig._plot) { fig._plot.destroy(); }
    box.innerHTML = "";
    if (!spec.series.length || !n) {
      box.innerHTML = '<div class="chart-empty"></div>';
      box.firstChild.textContent = (spec.title || "chart") + ": no data yet";
      fig._plot = null;
      return;
    }
    var width = Math.max(320, Math.min(560, fig.parentNode.clientWidth || 560));
    fig._plot = new uPlot(options(spec, width, n), data, box);
    fig._labels = labels;
    fig.dataset.drawn = "uplot";
  }

  function refresh(fig) {
    fetch(fig.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (specs) {
        var spec = specs[Number(fig.dataset.index || 0)];
        if (spec) { draw(fig, spec); }
        fig.dataset.refreshed = String(Date.now());
      })
      .catch(function () { fig.dataset.refreshError = String(Date.now()); });
  }

  function mount(fig) {
    if (fig.dataset.mounted || typeof uPlot === "undefined") { return; }
    fig.dataset.mounted = "1";
    try { draw(fig, JSON.parse(fig.dataset.chart)); } catch (e) { fig.dataset.error = String(e); return; }
    var every = Number(fig.dataset.every || 0);
    if (fig.dataset.src && every > 0) {
      fig._timer = setInterval(function () {
        if (!document.body.contains(fig)) { clearInterval(fig._timer); return; }
        if (!document.hidden) { refresh(fig); }
      }, every * 1000);
    }
  }

  function mountAll(root) {
    (root || document).querySelectorAll("figure.uchart").forEach(mount);
  }

  document.addEventListener("DOMContentLoaded", function () { mountAll(document); });
  // htmx swaps parts of a page in (a running job's page every few seconds): draw what arrives.
  document.addEventListener("htmx:load", function (e) { mountAll(e.detail.elt.parentNode || document); });
  window.SlipwayCharts = { mountAll: mountAll, refresh: refresh };
})();
