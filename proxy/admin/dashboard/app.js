// semcache dashboard: polls /admin/api/dashboard and draws hand-made SVG
// charts. No dependencies, no build step. Values are also written to
// data-value / data-* attributes so tests can read them.
"use strict";

const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  namespace: sessionStorage.getItem("semcache.namespace") || "",
  range: sessionStorage.getItem("semcache.range") || "5m",
  last: null,
  token: "",
  timer: 0,
};

// An admin token may come as #token=... (then it is moved to
// sessionStorage and removed from the address bar) or from the form.
(function readToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("semcache.token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem("semcache.token") || "";
})();

// ---------- formatting ----------

function pct(v) {
  return (v * 100).toFixed(1) + "%";
}
function int(v) {
  return Math.round(v).toLocaleString("en-US");
}
function usd(v) {
  if (v === 0) return "$0";
  if (v < 0.01) return "$" + v.toPrecision(2);
  if (v < 100) return "$" + v.toFixed(2);
  return "$" + Math.round(v).toLocaleString("en-US");
}
function compact(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e4) return (v / 1e3).toFixed(1) + "k";
  return int(v);
}
function secs(v) {
  if (v === 0) return "0";
  if (v < 1e-3) return (v * 1e6).toFixed(0) + " µs";
  if (v < 1) return (v * 1e3).toFixed(v < 0.01 ? 2 : 1) + " ms";
  return v.toFixed(2) + " s";
}
function clock(ms) {
  const d = new Date(ms);
  return d.toTimeString().slice(0, 8);
}
function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.round(s) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function setValue(id, value, text) {
  const el = $(id);
  el.dataset.value = String(value);
  el.textContent = text;
}

// ---------- SVG helpers ----------
//
// Every chart is drawn in CSS pixels: its viewBox is the size the page
// gives it, redrawn when the window is resized, so text keeps its size
// whatever the width, and labels are laid out (and dropped when they would
// collide) with their measured widths.

function el(name, attrs, parent, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  if (parent) parent.appendChild(n);
  return n;
}

function clear(svg) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const w = Math.max(200, Math.floor(svg.parentNode.clientWidth - 32));
  const h = Number(svg.dataset.height || 220);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  return { w, h };
}

function empty(svg, msg) {
  const { w, h } = clear(svg);
  el("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "empty" }, svg, msg);
}

// box is a text element's extent in the chart's coordinates.
function box(t) {
  const b = t.getBBox();
  return { l: b.x, r: b.x + b.width, t: b.y, b: b.y + b.height };
}
function overlaps(a, b, pad) {
  return a.l < b.r + pad && b.l < a.r + pad && a.t < b.b && b.t < a.b;
}

// keepApart removes the labels (in order of priority) that would overlap
// a label kept before them, or stick out of the chart.
function keepApart(labels, w) {
  const kept = [];
  for (const t of labels) {
    const b = box(t);
    if (b.l < 0 || b.r > w || kept.some((k) => overlaps(k, b, 6))) {
      t.remove();
      continue;
    }
    kept.push(b);
  }
}

// legend lays out coloured keys left to right from x, wrapping below when
// the row is full; it returns the y under the last row.
function legend(svg, items, x0, w) {
  let x = x0, y = 6;
  for (const [name, cls] of items) {
    const g = el("g", {}, svg);
    el("rect", { x: 0, y: 0, width: 10, height: 10, rx: 2, class: cls }, g);
    const t = el("text", { x: 14, y: 9, class: "label" }, g, name);
    const width = 14 + t.getComputedTextLength();
    if (x > x0 && x + width > w - 8) {
      x = x0;
      y += 16;
    }
    g.setAttribute("transform", `translate(${x} ${y})`);
    x += width + 14;
  }
  return y + 20;
}

// lineChart draws series of {t, v, break} points on the shared time axis
// [axis.from, axis.to]. A point with break starts a new line: the chart
// does not draw across an interval without data. opts: yMax, yFormat,
// area, emptyText, dashed (series keys drawn dashed).
function lineChart(svg, series, axis, opts) {
  const { w, h } = clear(svg);
  const pts = series.flatMap((s) => s.points);
  let maxV = 0;
  for (const p of pts) maxV = Math.max(maxV, p.v);
  svg.dataset.points = String(pts.length);
  svg.dataset.max = String(maxV);
  svg.dataset.from = String(axis.from);
  svg.dataset.to = String(axis.to);
  const visible = series.filter((s) => s.points.length > 0);
  svg.dataset.segments = String(visible.reduce((n, s) => n + s.points.filter((p, i) => i === 0 || p.break).length, 0));
  if (pts.length === 0 || (opts.skipZero && maxV === 0)) {
    empty(svg, opts.emptyText || "no traffic in this range");
    return;
  }
  const m = { l: 40, r: 14, t: 0, b: 22 };
  const yMax = opts.yMax || niceMax(maxV);
  const ticks = [0, 1, 2, 3, 4].map((i) => (yMax * i) / 4);
  // The y labels' widths set the left margin, the legend's rows the top.
  const ylabels = ticks.map((v) => el("text", { x: 0, y: 0, "text-anchor": "end" }, svg, opts.yFormat(v)));
  m.l = Math.max(m.l, 10 + Math.max(...ylabels.map((t) => t.getComputedTextLength())));
  m.t = legend(svg, visible.map((s) => [s.name, "s-" + s.key]), m.l, w) + 4;
  const y = (v) => h - m.b - (v / yMax) * (h - m.t - m.b);
  ylabels.forEach((t, i) => {
    t.setAttribute("x", m.l - 6);
    t.setAttribute("y", y(ticks[i]) + 4);
  });
  // Keep labels at least a line apart: drop every other one if not.
  if (y(ticks[0]) - y(ticks[1]) < 14) ylabels.forEach((t, i) => i % 2 && t.remove());
  const t0 = axis.from, t1 = axis.to;
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (w - m.l - m.r);
  ticks.forEach((v, i) => {
    el("line", { x1: m.l, x2: w - m.r, y1: y(v), y2: y(v), class: i ? "grid-line" : "axis" }, svg);
  });
  // Time labels: as many as fit, the newest ("now") first in priority.
  const span = t1 - t0;
  const n = Math.max(1, Math.min(6, Math.floor((w - m.l - m.r) / 90)));
  const xl = [];
  for (let i = n; i >= 0; i--) {
    const t = t0 + (span * i) / n;
    const anchor = i === 0 ? "start" : i === n ? "end" : "middle";
    xl.push(el("text", { x: x(t), y: h - 6, "text-anchor": anchor }, svg, i === n ? "now" : clockFor(t, span)));
  }
  keepApart(xl, w);
  series.forEach((s, k) => {
    if (s.points.length === 0) return;
    const cls = "s-" + s.key;
    const runs = [];
    for (const p of s.points) {
      if (runs.length === 0 || p.break) runs.push([]);
      runs[runs.length - 1].push(p);
    }
    for (const run of runs) {
      const d = run.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1)).join(" ");
      if (opts.area) {
        const first = run[0], last = run[run.length - 1];
        el("path", { d: d + ` L${x(last.t).toFixed(1)} ${y(0)} L${x(first.t).toFixed(1)} ${y(0)} Z`, class: "area-" + s.key }, svg);
      }
      el("path", { d, class: "line " + cls, "data-series": s.key }, svg);
      if (run.length === 1 || s.points.length <= 90) {
        // later series get smaller dots, so equal values stay visible;
        // a lone point (a run of one) shows as a dot
        const r = Math.max(1.6, 3.4 - 0.7 * k);
        for (const p of run) el("circle", { cx: x(p.t), cy: y(p.v), r, class: cls }, svg);
      }
    }
  });
}

// clockFor formats a time label for a range of span milliseconds.
function clockFor(ms, span) {
  const d = new Date(ms);
  return span > 6 * 3600e3 ? d.toTimeString().slice(0, 5) : d.toTimeString().slice(0, 8);
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v * 1.05) return f * p;
  return 10 * p;
}

// latencyChart: horizontal p50 / p95 bars per outcome on a log scale.
function latencyChart(svg, rows) {
  const names = {
    hit_exact: "exact hit", hit_semantic: "semantic hit", hit_partial: "partial hit", miss: "miss",
    first_token: "miss: first token", first_byte: "miss: first byte", bypass: "pass-through",
  };
  svg.dataset.height = String(44 + 30 * Math.max(3, rows.length));
  const { w, h } = clear(svg);
  if (rows.length === 0) {
    svg.dataset.rows = "0";
    empty(svg, "no requests yet");
    return;
  }
  svg.dataset.rows = String(rows.length);
  const m = { l: 0, r: 0, t: 0, b: 22 };
  const rowLabels = rows.map((r) => el("text", { x: 0, y: 0, "text-anchor": "end", class: "label" }, svg, names[r.outcome] || r.outcome));
  m.l = 12 + Math.max(...rowLabels.map((t) => t.getComputedTextLength()));
  // The right margin holds the "p50 / p95" label of the longest bar.
  const values = rows.map((r) => el("text", { x: 0, y: 0 }, svg, secs(r.p50) + " / " + secs(r.p95)));
  m.r = 8 + Math.max(...values.map((t) => t.getComputedTextLength()));
  m.t = legend(svg, [["p50", "b-p50"], ["p95", "b-p95"]], m.l, w) + 2;
  const vals = rows.flatMap((r) => [r.p50, r.p95]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...vals, 1e-4))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...vals, 1e-3))));
  const x = (v) => m.l + (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (w - m.l - m.r);
  const xl = [];
  for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e++) {
    const v = Math.pow(10, e);
    el("line", { x1: x(v), x2: x(v), y1: m.t, y2: h - m.b, class: "grid-line" }, svg);
    xl.push(el("text", { x: x(v), y: h - 6, "text-anchor": "middle" }, svg, secs(v)));
  }
  keepApart(xl, w);
  const band = (h - m.t - m.b) / rows.length;
  const bar = Math.min(11, band / 2.6);
  rows.forEach((r, i) => {
    const y0 = m.t + i * band + band / 2 - bar;
    rowLabels[i].setAttribute("x", m.l - 8);
    rowLabels[i].setAttribute("y", y0 + bar + 4);
    const g = el("g", { "data-outcome": r.outcome, "data-p50": r.p50, "data-p95": r.p95 }, svg);
    el("rect", { x: m.l, y: y0, width: Math.max(1, x(r.p50) - m.l), height: bar - 1, class: "b-p50" }, g);
    el("rect", { x: m.l, y: y0 + bar, width: Math.max(1, x(r.p95) - m.l), height: bar - 1, class: "b-p95" }, g);
    values[i].setAttribute("x", x(r.p95) + 4);
    values[i].setAttribute("y", y0 + bar + 4);
  });
}

// similarityChart: grouped bars (served, rejected, shadow) per score bucket.
function similarityChart(svg, sim) {
  const { w, h } = clear(svg);
  const total = (a) => (a || []).reduce((s, v) => s + v, 0);
  const served = total(sim.served), rejected = total(sim.rejected), shadow = total(sim.shadow);
  svg.dataset.served = String(served);
  svg.dataset.rejected = String(rejected);
  svg.dataset.shadow = String(shadow);
  if (served + rejected + shadow === 0) {
    empty(svg, "no semantic candidates yet");
    return;
  }
  const kinds = [["served", sim.served], ["rejected", sim.rejected]];
  if (shadow > 0) kinds.push(["shadow", sim.shadow]);
  const m = { l: 36, r: 8, t: 0, b: 34 };
  m.t = legend(svg, kinds.map(([k]) => [k, "b-" + k]), m.l, w) + 4;
  const n = sim.bounds.length;
  const maxC = Math.max(1, ...kinds.flatMap(([, a]) => a));
  const yMax = niceMax(maxC);
  const y = (v) => h - m.b - (v / yMax) * (h - m.t - m.b);
  const slot = (w - m.l - m.r) / n;
  const bw = Math.max(2, (slot - 4) / kinds.length);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    el("line", { x1: m.l, x2: w - m.r, y1: y(v), y2: y(v), class: i ? "grid-line" : "axis" }, svg);
    el("text", { x: m.l - 4, y: y(v) + 4, "text-anchor": "end" }, svg, Number.isInteger(v) ? String(v) : v.toFixed(1));
  }
  const xl = [];
  for (let i = 0; i < n; i++) {
    const lo = i === 0 ? "" : String(sim.bounds[i - 1]).replace(/^0/, "");
    const hi = String(sim.bounds[i]).replace(/^0/, "");
    const x0 = m.l + i * slot + 2;
    kinds.forEach(([kind, a], k) => {
      if (a[i] > 0) el("rect", { x: x0 + k * bw, y: y(a[i]), width: bw - 1, height: y(0) - y(a[i]), class: "b-" + kind }, svg);
    });
    xl.push(el("text", { x: x0 + slot / 2 - 2, y: h - 18, "text-anchor": "middle" }, svg, i === 0 ? "≤" + hi : lo + "–" + hi));
  }
  // Bucket labels: the high ones first (where hits are), then those that fit.
  keepApart(xl.reverse(), w);
  el("text", { x: w / 2, y: h - 3, "text-anchor": "middle" }, svg, "cosine similarity");
}

// ---------- tables ----------

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fillTable(id, rows, cols, emptyText) {
  const body = $(id);
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, emptyText, "empty");
    td.colSpan = cols;
    body.appendChild(tr);
  }
  return body;
}

function renderNamespaces(list, prices) {
  const body = fillTable("namespaces", list, 6, "no traffic yet");
  for (const n of list) {
    const tr = document.createElement("tr");
    tr.dataset.namespace = n.namespace;
    cell(tr, n.namespace, "mono");
    cell(tr, int(n.requests), "num");
    cell(tr, pct(n.hit_rate), "num");
    cell(tr, int(n.hits_exact), "num");
    cell(tr, int(n.hits_semantic), "num");
    cell(tr, prices ? usd(n.cost_saved_usd) : "–", "num").title = prices ? "" : "no price table configured";
    body.appendChild(tr);
  }
  // keep the namespace selector in sync
  const sel = $("namespace");
  const have = new Set([...sel.options].map((o) => o.value));
  for (const n of list) {
    if (!have.has(n.namespace)) sel.appendChild(new Option(n.namespace, n.namespace));
  }
  sel.value = state.namespace;
}

function renderBudgets(list) {
  const body = fillTable("budgets", list, 7, "no error budget configured");
  for (const b of list) {
    const tr = document.createElement("tr");
    tr.dataset.namespace = b.namespace;
    cell(tr, b.namespace, "mono");
    cell(tr, pct(b.budget), "num");
    cell(tr, pct(b.estimated_wrong_rate), "num");
    cell(tr, pct(b.measured_wrong_rate) + " [" + pct(b.measured_low) + ", " + pct(b.measured_high) + "]", "num");
    cell(tr, int(b.served), "num");
    cell(tr, int(b.explored), "num");
    cell(tr, int(b.missed), "num");
    body.appendChild(tr);
  }
}

async function refreshBudgets(headers) {
  const res = await fetch("/admin/api/budgets", { headers, cache: "no-store" });
  if (res.ok) renderBudgets((await res.json()).budgets || []);
}

function renderRoutes(list) {
  const body = fillTable("routes", list, 6, "no traffic yet");
  for (const r of list) {
    const tr = document.createElement("tr");
    tr.dataset.route = r.route;
    cell(tr, r.route, "mono");
    cell(tr, int(r.requests), "num");
    cell(tr, pct(r.hit_rate), "num");
    cell(tr, int(r.hits_exact + r.hits_semantic), "num");
    cell(tr, int(r.hits_partial), "num");
    cell(tr, int(r.bypassed), "num");
    body.appendChild(tr);
  }
}

// promptText is what a row shows of a prompt: the server leaves prompts
// out unless the request carried the admin token.
function promptText(p, redacted) {
  if (redacted) return "(hidden: needs the admin token)";
  return p || "(no text prompt)";
}

function renderTop(list, redacted) {
  const body = fillTable("top-entries", list, 7, "no hits yet");
  for (const e of list) {
    const tr = document.createElement("tr");
    tr.dataset.entry = e.id;
    cell(tr, e.id, "mono");
    cell(tr, e.namespace, "mono");
    cell(tr, promptText(e.prompt, redacted), "prompt").title = e.prompt;
    cell(tr, int(e.hits), "num");
    cell(tr, int(e.exact_hits) + " / " + int(e.semantic_hits), "num");
    cell(tr, int(e.tokens_saved), "num");
    cell(tr, ago(e.last_hit));
    body.appendChild(tr);
  }
}

function renderMisses(list, redacted) {
  const body = fillTable("recent-misses", list, 7, "no misses yet");
  for (const m of list) {
    const tr = document.createElement("tr");
    cell(tr, clock(Date.parse(m.time)));
    cell(tr, m.namespace, "mono");
    cell(tr, m.model);
    cell(tr, promptText(m.prompt, redacted), "prompt").title = m.prompt;
    const why = cell(tr, "");
    const tag = document.createElement("span");
    tag.className = "tag " + (m.outcome === "bypass" ? "bypass" : m.reason);
    tag.textContent = m.rejected_for ? "rejected: " + m.rejected_for : m.reason;
    why.appendChild(tag);
    cell(tr, m.nearest_score ? m.nearest_score.toFixed(3) : "", "num");
    cell(tr, secs(m.seconds), "num");
    body.appendChild(tr);
  }
}

// ---------- page ----------

function pctAxis(v) {
  return +(v * 100).toFixed(1) + "%";
}
function plain(v) {
  return v < 10 ? String(+v.toFixed(2)) : compact(v);
}
function rate(v) {
  if (v === 0) return "0";
  if (v < 10) return +v.toFixed(v < 0.1 ? 3 : 2) + "/s";
  return compact(v) + "/s";
}
// niceBytes is a round axis maximum in binary units.
function niceBytes(v) {
  let unit = 1;
  while (v / unit >= 1024) unit *= 1024;
  return niceMax(v / unit) * unit;
}
function bytes(v) {
  if (v >= 1 << 30) return +(v / (1 << 30)).toFixed(1) + " GiB";
  if (v >= 1 << 20) return +(v / (1 << 20)).toFixed(1) + " MiB";
  if (v >= 1 << 10) return +(v / (1 << 10)).toFixed(1) + " KiB";
  return int(v) + " B";
}

function render(d) {
  state.last = d;
  const t = d.totals;
  setValue("hit-rate", t.hit_rate, pct(t.hit_rate));
  $("hit-split").textContent = `${int(t.hits_exact)} exact · ${int(t.hits_semantic)} semantic · ${int(t.misses)} misses`;
  setValue("requests", t.requests, int(t.requests));
  $("requests-split").textContent = `${int(t.bypassed)} passed through · ${int(t.errors)} errors`;
  if (d.prices_configured) {
    setValue("cost-saved", t.cost_saved_usd, usd(t.cost_saved_usd));
    $("cost-note").textContent = "from the configured price table";
  } else {
    setValue("cost-saved", "", "–");
    $("cost-note").textContent = "no price table configured";
  }
  const tokens = t.tokens_saved_prompt + t.tokens_saved_completion;
  setValue("tokens-saved", tokens, compact(tokens));
  $("tokens-split").textContent = `${compact(t.tokens_saved_prompt)} prompt · ${compact(t.tokens_saved_completion)} completion`;
  setValue("upstream-errors", t.upstream_error_rate, pct(t.upstream_error_rate));
  setValue("entries", d.cache.disk_entries || d.cache.hot_entries, int(d.cache.disk_entries || d.cache.hot_entries));
  $("entries-split").textContent = `${int(d.cache.hot_entries)} in memory · ${int(d.cache.disk_entries)} on disk`;

  const c = d.charts;
  const scope = d.namespace || "all namespaces";
  document.querySelectorAll(".scope").forEach((e) => (e.textContent = scope));
  $("hit-rate-scope").textContent = `${scope} · per ${Math.round(c.step / 1000)} s`;
  lineChart($("chart-hit-rate"), c.hit_rate, c, { yMax: 1, yFormat: pctAxis, emptyText: "no lookups in this range" });
  if (d.prices_configured) {
    $("savings-title").textContent = "Money saved";
    lineChart($("chart-savings"), c.savings.filter((s) => s.key === "usd"), c, { yFormat: usd, area: true, emptyText: "no savings in this range" });
  } else {
    $("savings-title").textContent = "Tokens saved (no price table configured)";
    lineChart($("chart-savings"), c.savings.filter((s) => s.key === "tokens"), c, { yFormat: compact, area: true, emptyText: "no savings in this range" });
  }
  lineChart($("chart-traffic"), c.traffic, c, { yFormat: rate });
  lineChart($("chart-upstream-errors"), c.upstream_errors, c, { yMax: niceMax(Math.max(0.01, ...c.upstream_errors[0].points.map((p) => p.v))), yFormat: pctAxis, emptyText: "no upstream calls in this range" });
  const maxBytes = Math.max(0, ...c.hot_tier.flatMap((s) => s.points.map((p) => p.v)));
  lineChart($("chart-hot-tier"), c.hot_tier, c, { yMax: niceBytes(maxBytes), yFormat: bytes, skipZero: true, emptyText: "hot tier empty" });
  lineChart($("chart-evictions"), c.evictions, c, { yFormat: plain });
  $("hot-split").textContent = `${bytes(d.cache.hot_bytes)} of ${bytes(d.cache.hot_max_bytes)} · ${int(d.cache.evictions)} evicted since start`;
  const since = d.panels_since ? `since ${new Date(d.panels_since).toLocaleString([], { dateStyle: "short", timeStyle: "short" })}` : "since start";
  document.querySelectorAll(".panels-since").forEach((e) => (e.textContent = since));
  latencyChart($("chart-latency"), d.latency);
  similarityChart($("chart-similarity"), d.similarity);
  $("rejections").textContent = d.rejections.some((r) => r.count > 0)
    ? "Verifier rejections since start: " + d.rejections.filter((r) => r.count > 0).map((r) => `${r.reason} ${int(r.count)}`).join(" · ")
    : "The verifier has not rejected any candidate.";
  renderNamespaces(d.namespaces, d.prices_configured);
  renderRoutes(d.routes || []);
  renderTop(d.top_entries, d.prompts_redacted);
  renderMisses(d.recent_misses, d.prompts_redacted);
}

function status(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + cls;
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
    const q = "namespace=" + encodeURIComponent(state.namespace) + "&range=" + encodeURIComponent(state.range);
    const res = await fetch("/admin/api/dashboard?" + q, { headers, cache: "no-store" });
    if (res.status === 401) {
      $("login").hidden = false;
      $("main").hidden = true;
      status("admin token required", "error");
      return; // wait for the form
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    const d = await res.json();
    $("login").hidden = true;
    $("main").hidden = false;
    render(d);
    await refreshBudgets(headers);
    document.body.dataset.updated = d.generated_at;
    status("live · updated " + clock(Date.parse(d.generated_at)), "live");
  } catch (err) {
    status("cannot reach semcache: " + err.message, "error");
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

$("namespace").addEventListener("change", (e) => {
  state.namespace = e.target.value;
  sessionStorage.setItem("semcache.namespace", state.namespace);
  refresh();
});

$("range").value = state.range;
$("range").addEventListener("change", (e) => {
  state.range = e.target.value;
  sessionStorage.setItem("semcache.range", state.range);
  refresh();
});

// Charts are drawn at the size the page gives them: redraw on resize.
let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => state.last && render(state.last), 100);
});

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("semcache.token", state.token);
  refresh();
});

refresh();
