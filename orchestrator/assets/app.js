// hemflux web UI: the overview's filters and live updates, and the entity page's charts.
// Plain browser JavaScript, no build step. Charts are uPlot instances kept in
// window.hemfluxCharts (the browser tests read their data from there).
"use strict";

(function () {
  function overview() {
    var table = document.getElementById("fleet");
    if (!table) return;
    var search = document.getElementById("search");
    var kind = document.getElementById("kind");
    var state = document.getElementById("state");
    function filter() {
      var q = search.value.trim().toLowerCase();
      var rows = document.querySelectorAll("#fleet-rows tr");
      rows.forEach(function (tr) {
        var text = tr.textContent.toLowerCase();
        var ok = (!q || text.indexOf(q) >= 0) &&
          (!kind.value || tr.dataset.kind === kind.value) &&
          (!state.value || (" " + tr.dataset.states + " ").indexOf(" " + state.value + " ") >= 0);
        tr.hidden = !ok;
      });
    }
    [search, kind, state].forEach(function (el) { el.addEventListener("input", filter); });
    var live = document.getElementById("live");
    var lang = document.body.dataset.lang;
    var events = new EventSource("/events?lang=" + encodeURIComponent(lang));
    events.addEventListener("overview", function (e) {
      var o = JSON.parse(e.data);
      document.getElementById("fleet-rows").innerHTML = o.rows;
      document.getElementById("sinks").innerHTML = o.sinks;
      filter();
      live.classList.add("on");
      live.dataset.updated = String(Date.now());
    });
    events.onerror = function () { live.classList.remove("on"); };
  }

  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function entity() {
    var box = document.getElementById("charts");
    if (!box) return;
    var id = box.dataset.entity;
    var span = 7 * 86400;
    var range = { to: Math.floor(Date.now() / 1000) };
    range.from = range.to - span;
    window.hemfluxCharts = [];

    function local(sec) {
      var d = new Date(sec * 1000 - new Date().getTimezoneOffset() * 60000);
      return d.toISOString().slice(0, 16);
    }
    function query() {
      return "from=" + range.from + "&to=" + range.to;
    }
    function load() {
      document.getElementById("from").value = local(range.from);
      document.getElementById("to").value = local(range.to);
      document.getElementById("csv").href = "/api/entity/" + encodeURIComponent(id) + "/csv?" + query();
      box.textContent = box.dataset.loading;
      var width = Math.max(200, Math.min(box.clientWidth || 800, 4000));
      fetch("/api/entity/" + encodeURIComponent(id) + "/series?" + query() + "&width=" + width,
        { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); })
        .then(draw)
        .catch(function (e) { box.textContent = String(e); });
    }
    function draw(data) {
      window.hemfluxCharts.forEach(function (c) { c.plot.destroy(); });
      window.hemfluxCharts = [];
      box.textContent = "";
      if (!data.charts.length) { box.textContent = box.dataset.empty; return; }
      data.charts.forEach(function (c) {
        var fig = document.createElement("figure");
        var title = document.createElement("figcaption");
        var tags = Object.keys(c.tags).map(function (k) { return k + "=" + c.tags[k]; }).join(", ");
        title.textContent = c.measurement + (tags ? " (" + tags + ")" : "") + " · " +
          c.stored + " " + box.dataset.points;
        fig.appendChild(title);
        box.appendChild(fig);
        var series = [{}].concat(c.fields.map(function (f, i) {
          return { label: f, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false };
        }));
        var opts = {
          width: chartWidth(fig),
          height: 220,
          series: series,
          // The range asked for, so one point or a gap does not stretch the axis.
          scales: { x: { time: true, range: [range.from, range.to] } },
          cursor: { drag: { x: true, y: false } },
          hooks: { setSelect: [function (u) {
            if (u.select.width < 5) return;
            range.from = Math.floor(u.posToVal(u.select.left, "x"));
            range.to = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
            load();
          }] },
        };
        var plot = new uPlot(opts, [c.x].concat(c.y), fig);
        window.hemfluxCharts.push({ measurement: c.measurement, tags: c.tags, fields: c.fields, plot: plot });
      });
    }
    document.querySelectorAll("#range button[data-span]").forEach(function (b) {
      b.addEventListener("click", function () {
        range.to = Math.floor(Date.now() / 1000);
        range.from = range.to - Number(b.dataset.span);
        load();
      });
    });
    document.getElementById("apply").addEventListener("click", function () {
      var f = Date.parse(document.getElementById("from").value);
      var t = Date.parse(document.getElementById("to").value);
      if (f < t) { range.from = Math.floor(f / 1000); range.to = Math.floor(t / 1000); load(); }
    });
    // Pan: shift+wheel moves the window by a tenth of its width.
    box.addEventListener("wheel", function (e) {
      if (!e.shiftKey) return;
      e.preventDefault();
      var step = Math.round((range.to - range.from) / 10) * (e.deltaY > 0 ? 1 : -1);
      range.from += step; range.to += step;
      load();
    }, { passive: false });
    // The figure's width inside its padding.
    function chartWidth(fig) {
      var style = getComputedStyle(fig);
      var inner = fig.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return Math.max(200, Math.floor(inner));
    }
    window.addEventListener("resize", function () {
      window.hemfluxCharts.forEach(function (c) {
        c.plot.setSize({ width: chartWidth(c.plot.root.parentNode), height: 220 });
      });
    });
    load();
  }

  document.addEventListener("DOMContentLoaded", function () { overview(); entity(); });
})();
