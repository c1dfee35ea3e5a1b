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

  // The entity (or meter) page: purpose-built figures (window.hemfluxFigures) above one chart
  // per stored series (window.hemfluxCharts), one range for all, grown live from /events/...
  function entity() {
    var box = document.getElementById("charts");
    if (!box) return;
    var figBox = document.getElementById("figures");
    var id = box.dataset.entity;
    var base = "/api/" + box.dataset.kind + "/" + encodeURIComponent(id);
    var span = 7 * 86400;
    // `live`: the range ends now and moves on with new points (a preset); not after a zoom.
    var range = { to: Math.floor(Date.now() / 1000), live: true };
    range.from = range.to - span;
    window.hemfluxCharts = [];
    window.hemfluxFigures = [];
    var events = null;
    var refigure = null;

    function local(sec) {
      var d = new Date(sec * 1000 - new Date().getTimezoneOffset() * 60000);
      return d.toISOString().slice(0, 16);
    }
    function query() {
      return "from=" + range.from + "&to=" + range.to;
    }
    function getJson(url) {
      return fetch(url, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); });
    }
    function width() { return Math.max(200, Math.min(box.clientWidth || 800, 4000)); }
    function load() {
      document.getElementById("from").value = local(range.from);
      document.getElementById("to").value = local(range.to);
      document.getElementById("csv").href = base + "/csv?" + query();
      box.textContent = box.dataset.loading;
      getJson(base + "/series?" + query() + "&width=" + width())
        .then(function (data) { draw(data); follow(data.seq); })
        .catch(function (e) { box.textContent = String(e); });
      loadFigures();
    }
    function loadFigures() {
      getJson(base + "/figures?" + query() + "&width=" + width())
        .then(drawFigures)
        .catch(function (e) { figBox.textContent = String(e); });
    }
    // The x scale follows `range`, so setData after a live move shows the new window.
    function xScale() {
      return { time: true, range: function () { return [range.from, range.to]; } };
    }
    function zoomHook(u) {
      if (u.select.width < 5) return;
      range.from = Math.floor(u.posToVal(u.select.left, "x"));
      range.to = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
      range.live = false;
      load();
    }
    function figure(parent, caption) {
      var fig = document.createElement("figure");
      var title = document.createElement("figcaption");
      title.textContent = caption;
      fig.appendChild(title);
      parent.appendChild(fig);
      return fig;
    }
    function draw(data) {
      window.hemfluxCharts.forEach(function (c) { c.plot.destroy(); });
      window.hemfluxCharts = [];
      box.textContent = "";
      if (!data.charts.length) { box.textContent = box.dataset.empty; return; }
      data.charts.forEach(function (c) {
        var tags = Object.keys(c.tags).map(function (k) { return k + "=" + c.tags[k]; }).join(", ");
        var fig = figure(box, c.measurement + (tags ? " (" + tags + ")" : "") + " · " +
          c.stored + " " + box.dataset.points);
        var series = [{}].concat(c.fields.map(function (f, i) {
          return { label: f, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false };
        }));
        var opts = {
          width: chartWidth(fig), height: 220, series: series,
          scales: { x: xScale() },
          cursor: { drag: { x: true, y: false } },
          hooks: { setSelect: [zoomHook] },
        };
        var plot = new uPlot(opts, [c.x].concat(c.y), fig);
        window.hemfluxCharts.push({ measurement: c.measurement, tags: c.tags, fields: c.fields, plot: plot });
      });
    }
    function drawFigures(data) {
      window.hemfluxFigures.forEach(function (f) { f.plot.destroy(); });
      window.hemfluxFigures = [];
      figBox.textContent = "";
      data.figures.forEach(function (f) {
        var fig = figure(figBox, f.title + " (" + f.unit + ")");
        fig.className = "figure";
        fig.dataset.key = f.key;
        // Stacked bars: each drawn at the sum of itself and those below it, the top one first
        // so the lower ones stay visible. `columns[i]`: where line i is in the plot's data.
        var order = f.lines.map(function (l, i) { return i; });
        var stacked = order.filter(function (i) { return f.lines[i].style == "stacked"; });
        order = stacked.slice().reverse().concat(order.filter(function (i) { return f.lines[i].style != "stacked"; }));
        var sums = f.x.map(function () { return null; });
        var values = f.lines.map(function (l) {
          if (l.style != "stacked") return l.y;
          sums = l.y.map(function (v, j) { return v === null ? null : (sums[j] || 0) + v; });
          return sums;
        });
        var right = f.lines.some(function (l) { return l.scale == "r2"; });
        var series = [{}].concat(order.map(function (i) {
          var l = f.lines[i];
          var s = { label: l.label, stroke: COLORS[i % COLORS.length], width: 1.5, scale: l.scale, spanGaps: l.style == "dashed" };
          if (l.style == "dashed") s.dash = [6, 4];
          if (l.style == "bar" || l.style == "stacked") {
            s.paths = uPlot.paths.bars({ size: [0.7, 60] });
            s.fill = COLORS[i % COLORS.length] + "aa";
            s.points = { show: false };
          }
          if (l.style == "points") {
            s.paths = function () { return null; };
            s.points = { show: true, size: 9, fill: COLORS[i % COLORS.length] };
          }
          return s;
        }));
        var axes = [{}, { scale: "y", label: f.unit }];
        if (right) axes.push({ scale: "r2", side: 1, grid: { show: false } });
        var scales = { x: xScale() };
        if (right) scales.r2 = { range: [0, 1] };
        // Bars stand on zero.
        if (f.lines.some(function (l) { return l.style == "bar" || l.style == "stacked"; })) {
          scales.y = { range: function (u, min, max) { return [Math.min(0, min), Math.max(0, max) * 1.05]; } };
        }
        var opts = {
          width: chartWidth(fig), height: 240, series: series, axes: axes, scales: scales,
          cursor: { drag: { x: true, y: false } },
          hooks: { setSelect: [zoomHook] },
        };
        var plot = new uPlot(opts, [f.x].concat(order.map(function (i) { return values[i]; })), fig);
        var columns = [];
        order.forEach(function (i, k) { columns[i] = k + 1; });
        window.hemfluxFigures.push({ key: f.key, labels: f.lines.map(function (l) { return l.label; }),
          styles: f.lines.map(function (l) { return l.style; }), columns: columns, plot: plot });
      });
    }
    // Live: new points of the shown series are merged into their charts; the figures are
    // fetched again (they are sums and joins of those points).
    function follow(seq) {
      if (events) return;
      events = new EventSource("/events/" + box.dataset.kind + "/" + encodeURIComponent(id) + "?after=" + seq);
      events.addEventListener("points", function (e) {
        var update = JSON.parse(e.data);
        if (range.live) {
          range.to = Math.max(range.to, Math.ceil(Date.now() / 1000));
          range.from = range.to - span;
        }
        var complete = update.charts.every(merge);
        if (!complete) { load(); return; }
        clearTimeout(refigure);
        refigure = setTimeout(loadFigures, 1000);
      });
    }
    function sameTags(a, b) { return JSON.stringify(a) == JSON.stringify(b); }
    // Merges new points into their chart; false when there is no such chart or field yet.
    function merge(upd) {
      var c = window.hemfluxCharts.filter(function (c) {
        return c.measurement == upd.measurement && sameTags(c.tags, upd.tags);
      })[0];
      if (!c) return false;
      var cols = upd.fields.map(function (f) { return c.fields.indexOf(f); });
      if (cols.some(function (i) { return i < 0; })) return false;
      var data = c.plot.data.map(function (a) { return Array.prototype.slice.call(a); });
      upd.x.forEach(function (t, r) {
        if (t < range.from || t >= range.to) return;
        var xs = data[0], i = xs.length;
        while (i > 0 && xs[i - 1] > t) i--;
        if (!(i > 0 && xs[i - 1] === t)) {
          data.forEach(function (col, k) { col.splice(i, 0, k == 0 ? t : null); });
          i++;
        }
        cols.forEach(function (col, k) {
          var v = upd.y[k][r];
          if (v !== null) data[col + 1][i - 1] = v;
        });
      });
      c.plot.setData(data);
      return true;
    }
    document.querySelectorAll("#range button[data-span]").forEach(function (b) {
      b.addEventListener("click", function () {
        span = Number(b.dataset.span);
        range.to = Math.floor(Date.now() / 1000);
        range.from = range.to - span;
        range.live = true;
        load();
      });
    });
    document.getElementById("apply").addEventListener("click", function () {
      var f = Date.parse(document.getElementById("from").value);
      var t = Date.parse(document.getElementById("to").value);
      if (f < t) { range.from = Math.floor(f / 1000); range.to = Math.floor(t / 1000); range.live = false; load(); }
    });
    // Pan: shift+wheel moves the window by a tenth of its width.
    [box, figBox].forEach(function (el) {
      el.addEventListener("wheel", function (e) {
        if (!e.shiftKey) return;
        e.preventDefault();
        var step = Math.round((range.to - range.from) / 10) * (e.deltaY > 0 ? 1 : -1);
        range.from += step; range.to += step; range.live = false;
        load();
      }, { passive: false });
    });
    // The figure's width inside its padding.
    function chartWidth(fig) {
      var style = getComputedStyle(fig);
      var inner = fig.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return Math.max(200, Math.floor(inner));
    }
    window.addEventListener("resize", function () {
      window.hemfluxCharts.concat(window.hemfluxFigures).forEach(function (c) {
        c.plot.setSize({ width: chartWidth(c.plot.root.parentNode), height: c.plot.height });
      });
    });
    load();
  }

  document.addEventListener("DOMContentLoaded", function () { overview(); entity(); });
})();
