// factorybench history site: draws the tables and plots of a page from the
// JSON embedded in it (no fetch, so it works from file:// too).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("site-data").textContent);
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var machineById = {}, machineColor = {};
  data.machines.forEach(function (m, i) {
    machineById[m.id] = m;
    machineColor[m.id] = COLORS[i % COLORS.length];
  });

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return Number(v.toPrecision(4)).toString();
  }
  function pct(x) { return (x >= 0 ? "+" : "") + (x * 100).toFixed(1) + "%"; }
  function runText(i) {
    var r = data.runs[i];
    return r.started_at + " (run " + r.run_id + (r.commit ? ", commit " + r.commit.slice(0, 12) : "") + ")";
  }
  function table(headers, rows) {
    var t = el("table"), tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    t.appendChild(tr);
    rows.forEach(function (r) { t.appendChild(r); });
    return t;
  }
  function row(cells, attrs) {
    var tr = el("tr", attrs);
    cells.forEach(function (c) {
      if (c instanceof Node) { var td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", {}, c === undefined || c === null ? "" : String(c)));
    });
    return tr;
  }
  function link(href, text) { return el("a", {href: href}, text); }

  // -- filters: an element with data-machine / data-category / data-profile
  // is hidden when a filter selects another value.
  function applyFilters() {
    var chosen = {};
    document.querySelectorAll("select.filter").forEach(function (s) { chosen[s.dataset.filter] = s.value; });
    document.querySelectorAll("[data-machine],[data-category],[data-profile]").forEach(function (e) {
      var hide = Object.keys(chosen).some(function (k) {
        var v = e.getAttribute("data-" + k);
        return chosen[k] && v !== null && v !== chosen[k];
      });
      e.classList.toggle("hidden", hide);
    });
    document.querySelectorAll(".plotbox").forEach(function (box) {
      var shown = box.querySelectorAll("g.series:not(.hidden)").length;
      box.classList.toggle("hidden", shown === 0);
    });
  }
  function wireFilters() {
    document.querySelectorAll("select.filter").forEach(function (s) { s.addEventListener("change", applyFilters); });
  }
  function machineAttrs(s) {
    return {"data-machine": machineById[s.machine].label, "data-profile": String(s.profile)};
  }

  // -- index
  function findingRows(findings, cls) {
    var byKey = {};
    data.benchmarks.forEach(function (b) { b.series.forEach(function (s) { byKey[s.key] = [b, s]; }); });
    return findings.map(function (f) {
      var bs = byKey[f.series], b = bs[0], s = bs[1];
      var attrs = machineAttrs(s);
      attrs["data-category"] = b.category;
      attrs["class"] = cls;
      return row([machineById[s.machine].label, link(b.page, b.id), s.label, fmt(f.latest) + " " + f.unit,
                  pct(f.change), fmt(f.before), f.began_at + " (run " + f.began_run +
                  (f.began_commit ? ", commit " + f.began_commit.slice(0, 12) : "") + ")"], attrs);
    });
  }
  function drawIndex() {
    var heads = ["machine", "benchmark", "series", "latest", "change", "level before", "began with"];
    var regs = data.check.regressions, imps = data.check.improvements;
    document.getElementById("regressions").appendChild(regs.length ?
      table(heads, findingRows(regs, "regression")) : el("p", {"class": "note"}, "none"));
    document.getElementById("improvements").appendChild(imps.length ?
      table(heads, findingRows(imps, "improvement")) : el("p", {"class": "note"}, "none"));

    var lastRun = {}, runCount = {};
    data.runs.forEach(function (r) { lastRun[r.machine] = r; runCount[r.machine] = (runCount[r.machine] || 0) + 1; });
    document.getElementById("machines").appendChild(table(
      ["machine", "CPU", "logical CPUs", "memory GiB", "kernel", "runs", "latest run"],
      data.machines.map(function (m) {
        return row([m.label, m.cpu_model, m.cores, m.memory_gib, m.kernel, runCount[m.id] || 0,
                    lastRun[m.id] ? lastRun[m.id].started_at : ""], {"data-machine": m.label});
      })));

    // One column per machine and profile; a cell holds the latest value of
    // the benchmark's first primary series there and its flagged steps.
    var cols = [], seen = {};
    data.runs.forEach(function (r) {
      var k = r.machine + "\u0000" + r.profile;
      if (!seen[k]) { seen[k] = true; cols.push([r.machine, r.profile]); }
    });
    var t = el("table"), tr = el("tr");
    ["benchmark", "category", "headline series"].forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    cols.forEach(function (c) {
      tr.appendChild(el("th", {"data-machine": machineById[c[0]].label, "data-profile": String(c[1])},
                        machineById[c[0]].label + " / " + c[1]));
    });
    t.appendChild(tr);
    data.benchmarks.forEach(function (b) {
      var head = b.series[0];
      var r = row([link(b.page, b.id), b.category, head.label + " (" + head.unit + ")"], {"data-category": b.category});
      cols.forEach(function (c) {
        var mine = b.series.filter(function (s) { return s.machine === c[0] && String(s.profile) === String(c[1]); });
        var td = el("td", {"class": "num", "data-machine": machineById[c[0]].label, "data-profile": String(c[1])});
        var hs = mine.filter(function (s) { return s.label === head.label; })[0];
        td.textContent = hs ? fmt(hs.latest) : "";
        var flagged = mine.filter(function (s) { return s.verdict === "regression"; }).length;
        var better = mine.filter(function (s) { return s.verdict === "improvement"; }).length;
        if (flagged) td.appendChild(el("span", {"class": "regression"}, " \u25BC" + flagged));
        if (better) td.appendChild(el("span", {"class": "improvement"}, " \u25B2" + better));
        r.appendChild(td);
      });
      t.appendChild(r);
    });
    document.getElementById("benchmarks").appendChild(t);
  }

  // -- benchmark page
  var W = 620, H = 260, L = 60, R = 10, T = 10, B = 40;
  function drawPlot(label, series) {
    var box = el("div", {"class": "plotbox"});
    box.appendChild(el("h3", {}, label + " (" + series[0].unit + ", " +
                       (series[0].higher_is_better ? "higher" : "lower") + " is better)"));
    var xs = [], ys = [];
    series.forEach(function (s) {
      s.points.forEach(function (p) { xs.push(Date.parse(data.runs[p[0]].started_at)); ys.push(p[1]); });
      s.levels.forEach(function (l) { ys.push(l[2]); });
    });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (!(x1 > x0)) { x0 -= 43200000; x1 += 43200000; }
    var pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 1;
    y0 -= pad; y1 += pad;
    function X(i) { return L + (Date.parse(data.runs[i].started_at) - x0) / (x1 - x0) * (W - L - R); }
    function Y(v) { return T + (y1 - v) / (y1 - y0) * (H - T - B); }
    var g = svg("svg", {"class": "plot", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"});
    g.appendChild(svg("title", {}, label));
    g.appendChild(svg("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999"}));
    g.appendChild(svg("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#999"}));
    for (var k = 0; k <= 4; k++) {
      var v = y0 + (y1 - y0) * k / 4;
      g.appendChild(svg("text", {x: L - 4, y: Y(v) + 3, "text-anchor": "end"}, fmt(v)));
      g.appendChild(svg("line", {x1: L, y1: Y(v), x2: W - R, y2: Y(v), stroke: "#eee"}));
      var t = x0 + (x1 - x0) * k / 4;
      g.appendChild(svg("text", {x: L + (W - L - R) * k / 4, y: H - B + 14,
                                 "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle"},
                        new Date(t).toISOString().slice(0, 10)));
    }
    var legend = el("div", {"class": "legend"}), notes = el("ul", {"class": "steps"});
    series.forEach(function (s) {
      var color = machineColor[s.machine], m = machineById[s.machine];
      var name = m.label + " / " + s.profile;
      var attrs = machineAttrs(s);
      attrs["class"] = "series";
      var sg = svg("g", attrs);
      sg.appendChild(svg("polyline", {fill: "none", stroke: color, "stroke-width": 1.2,
        points: s.points.map(function (p) { return X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1); }).join(" ")}));
      s.points.forEach(function (p) {
        var c = svg("circle", {cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 2.5,
          fill: p[2] ? "#fff" : color, stroke: color});
        c.appendChild(svg("title", {}, name + ": " + fmt(p[1]) + " " + s.unit + ", " + runText(p[0]) +
          (p[2] === 1 ? ", disturbed" : p[2] === 2 ? ", not validated" : "")));
        sg.appendChild(c);
      });
      s.levels.forEach(function (l, j) {
        sg.appendChild(svg("line", {x1: X(l[0]), x2: X(l[1]), y1: Y(l[2]), y2: Y(l[2]), stroke: color,
          "stroke-dasharray": "5,3", "stroke-width": 1.5, "class": "level"}));
        if (j === 0) return;
        var prev = s.levels[j - 1][2], ch = s.higher_is_better ? l[2] / prev - 1 : prev / l[2] - 1;
        var text = name + ": level " + fmt(prev) + " \u2192 " + fmt(l[2]) + " (" + pct(ch) + "), began " + runText(l[0]);
        var mark = svg("line", {x1: X(l[0]), x2: X(l[0]), y1: T, y2: H - B, stroke: color,
                                "stroke-width": 1, "class": "step"});
        mark.appendChild(svg("title", {}, text));
        sg.appendChild(mark);
        var li = el("li", attrs, text);
        li.removeAttribute("class");
        notes.appendChild(li);
      });
      if (s.finding) {
        // The step `history check` flags, where it began (its own test may
        // start it a night off the fitted levels).
        var f = s.finding, at = X(s.step_run);
        var flag = svg("line", {x1: at, x2: at, y1: T, y2: H - B, "stroke-width": 2.5,
          stroke: s.verdict === "regression" ? "#b00" : "#060", "class": s.verdict + "-mark step"});
        flag.appendChild(svg("title", {}, name + ": " + s.verdict + " " + pct(f.change) + ", began " + runText(s.step_run)));
        sg.appendChild(flag);
        box.classList.add(s.verdict === "regression" ? "flagged" : "bettered");
        var b = el("span", machineAttrs(s), (s.verdict === "regression" ? "REGRESSION " : "improvement ") +
          name + ": " + pct(f.change) + " against the level " + fmt(f.before) + ", began " + f.began_at +
          " (run " + f.began_run + (f.began_commit ? ", commit " + f.began_commit.slice(0, 12) : "") + ")");
        b.classList.add("badge", s.verdict);
        box.appendChild(b);
      }
      g.appendChild(sg);
      var key = el("span", machineAttrs(s));
      key.appendChild(el("i", {style: "background:" + color}));
      key.appendChild(document.createTextNode(name + ": " + fmt(s.latest)));
      legend.appendChild(key);
    });
    box.appendChild(g);
    box.appendChild(legend);
    if (notes.childNodes.length) box.appendChild(notes);
    return box;
  }
  function drawBenchmark() {
    var groups = {}, order = [];
    data.benchmark.series.forEach(function (s) {
      if (!groups[s.label]) { groups[s.label] = []; order.push(s.label); }
      groups[s.label].push(s);
    });
    var host = document.getElementById("plots");
    order.forEach(function (label) { host.appendChild(drawPlot(label, groups[label])); });
  }

  if (document.body.dataset.page === "index") drawIndex(); else drawBenchmark();
  wireFilters();
  applyFilters();
})();
