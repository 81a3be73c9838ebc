// InstaShop Analytics: draws one page of the report definition (looker/report.json).
// The page's definition and the server's reading of its URL are in #page-definition;
// each chart's data comes from /api/pages/<page>/charts/<chart>?<the page's query>, all
// fetched at once. The period, comparison and filters live in the URL (the server
// parses it strictly: src/dashboard/selection.rs), so a view can be shared and reloaded. Every
// number a person reads is the server's exact text (`t`); `v` only positions marks.
// Data reaches the document only as text: tooltips are built from escaped strings.
// A chart whose query failed shows the error on its tile; when BigQuery does not answer
// at all, one banner says so. A live page refreshes only while it is shown.
(function () {
  "use strict";

  const boot = JSON.parse(document.getElementById("page-definition").textContent);
  const page = boot.page;
  const charts = {}; // chart id -> ECharts instance
  const dashboard = { page, boot, charts, loads: 0, errors: {} };
  const FILTERS = boot.filters;
  const PRESET_LABELS = {
    today: "Today",
    last_7_days: "Last 7 days",
    last_28_days: "Last 28 days",
    last_90_days: "Last 90 days",
    this_month: "This month",
    last_month: "Last month",
    this_year: "This year",
    all_time: "All time",
  };
  let refreshTimer = null;
  window.dashboard = dashboard;
  const FETCH_TIMEOUT_MS = 60000;
  // Country names of the map that differ from the data's.
  const MAP_NAMES = { "United States of America": "United States" };
  let worldMap = null;

  const tileOf = (id) => document.querySelector(`[data-chart="${id}"]`);
  const label = (name) => name.replace(/_/g, " ");
  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: 3 });

  // Text for HTML that ECharts' tooltips build: every data value goes through here.
  const esc = (s) =>
    String(s === undefined || s === null ? "" : s).replace(
      /[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
    );

  // ---- The URL: the page's period, comparison and filters -------------------------
  const params = () => new URLSearchParams(window.location.search);
  const query = () => {
    const q = params().toString();
    return q ? `?${q}` : "";
  };

  function go(next) {
    const q = next.toString();
    history.pushState(null, "", q ? `?${q}` : window.location.pathname);
    return reload();
  }

  function setRange(from, to) {
    const next = params();
    next.delete("from");
    next.delete("to");
    if (from) next.set("from", from);
    if (to) next.set("to", to);
    // A range with no first day has nothing to compare with.
    if (!from) next.delete("compare");
    return go(next);
  }

  // Adds `value` to filter `field`, or removes it when it is there (a click on a bar).
  function toggleFilter(field, value) {
    const next = params();
    const values = next.getAll(field);
    next.delete(field);
    const kept = values.includes(value) ? values.filter((v) => v !== value) : values.concat([value]);
    kept.forEach((v) => next.append(field, v));
    keepRange(next);
    return go(next);
  }

  // Writes the shown range into the URL, so that a later default cannot change it.
  function keepRange(next) {
    const sel = dashboard.boot.selection;
    if (!next.has("from") && !next.has("to")) {
      if (sel.range.from) next.set("from", sel.range.from);
      next.set("to", sel.range.to);
      if (sel.compare && !next.has("compare")) next.set("compare", sel.compare);
    }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setBody(tile, node) {
    tile.querySelector(".body").replaceChildren(node);
  }

  function loadWorld() {
    if (!worldMap) {
      worldMap = fetch("/assets/countries-110m.json")
        .then((r) => r.json())
        .then((topo) => echarts.registerMap("world", topojson.feature(topo, topo.objects.countries)));
    }
    return worldMap;
  }

  async function fetchChart(c) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch(`/api/pages/${page.id}/charts/${c.id}${query()}`, { signal: ctrl.signal, cache: "no-store" });
      const body = await r.json().catch(() => ({ error: `the dashboard answered HTTP ${r.status}` }));
      if (!r.ok) {
        const e = new Error(body.error || `HTTP ${r.status}`);
        e.unreachable = !!body.unreachable;
        throw e;
      }
      return body;
    } catch (e) {
      if (e.name === "AbortError") throw new Error(`no answer within ${FETCH_TIMEOUT_MS / 1000} s`);
      if (e instanceof TypeError) {
        const lost = new Error("the dashboard server is not answering (was it stopped?)");
        lost.unreachable = true;
        throw lost;
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  function canvas(tile, id) {
    let div = tile.querySelector(".canvas");
    if (!div || !charts[id]) {
      div = el("div", "canvas");
      setBody(tile, div);
      charts[id] = echarts.init(div);
    }
    return charts[id];
  }

  function dropCanvas(id) {
    if (charts[id]) {
      charts[id].dispose();
      delete charts[id];
    }
  }

  // ECharts renders a tooltip's string as HTML: every part from data is escaped.
  const textTooltip = (p) => {
    const items = Array.isArray(p) ? p : [p];
    const head = items[0].axisValueLabel || items[0].name || "";
    return [esc(head)]
      .concat(
        items.map(
          (i) => `${i.marker}${esc(i.seriesName)}: ${esc((i.data && i.data.day) ? `${i.data.t} (${i.data.day})` : (i.data && i.data.t) || "–")}`,
        ),
      )
      .join("<br>");
  };

  // A click on a mark of a dimension that is a page filter filters the page by it.
  function clickable(c, chart, data) {
    const dim = data.columns.find((col) => col.role === "dimension" && col.filter);
    chart.off("click");
    if (!dim) return;
    chart.on("click", (e) => {
      // Only a mark with data: a map region with no sales is no value of the filter.
      if (!e.data || e.data.t === undefined) return;
      const value = e.name || e.data.name;
      if (value) toggleFilter(dim.filter, value);
    });
    chart.getZr().setCursorStyle && chart.getZr().setCursorStyle("pointer");
  }

  function axisOption(c, data) {
    const dim = data.columns[0];
    const time = dim.format === "date" || dim.format === "datetime";
    const label = {
      hideOverlap: true,
      formatter: { year: "{yyyy}", month: "{MMM} {yyyy}", day: "{d} {MMM}", hour: "{HH}:{mm}", minute: "{HH}:{mm}", second: "{HH}:{mm}:{ss}" },
    };
    return {
      // A time axis spans the data (the newest rows may come first: the axis orders them).
      xAxis: time
        ? data.rows.length > 1
          ? { type: "time", min: "dataMin", max: "dataMax", splitNumber: 6, axisLabel: label }
          : { type: "time", axisLabel: label }
        : { type: "category", data: [...new Set(data.rows.map((r) => r[0].t))], axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", axisLabel: { formatter: (v) => compact.format(v) } },
      time,
    };
  }

  // ECharts' default palette: a breakdown gives each value one colour for its line, its
  // forecast and its band.
  const PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"];

  // A time series broken down by its second dimension: per value, a line per metric
  // (the first solid, the others dashed) and, where the chart has a band (a lower and an
  // upper metric), the interval shaded between them: a transparent lower edge with the
  // band's width stacked on it. The tooltip lists the values a day has, the band as
  // "lower – upper".
  function breakdown(c, data, tile) {
    const a = axisOption(c, data);
    const rows = data.rows;
    const metrics = data.columns.map((col, i) => ({ col, i })).filter((m) => m.col.role === "metric");
    const lines = metrics.filter((m) => !m.col.band);
    const lower = metrics.find((m) => m.col.band === "lower");
    const upper = metrics.find((m) => m.col.band === "upper");
    const keys = [...new Set(rows.map((r) => r[1].t))];
    const series = [];
    keys.forEach((key, k) => {
      const color = PALETTE[k % PALETTE.length];
      const mine = rows.filter((r) => r[1].t === key);
      lines.forEach((m, j) => {
        series.push({
          name: j === 0 ? key : `${key}: ${label(m.col.name)}`,
          type: "line",
          showSymbol: false,
          color,
          lineStyle: j === 0 ? { width: 2 } : { width: 2, type: "dashed" },
          data: mine.filter((r) => r[m.i].v !== null).map((r) => ({ value: [r[0].v, r[m.i].v], t: r[m.i].t })),
        });
      });
      if (lower && upper) {
        const banded = mine.filter((r) => r[lower.i].v !== null && r[upper.i].v !== null);
        // The band's two series: its lower edge, unseen, and its width stacked on it.
        const edge = { type: "line", stack: `band ${k}`, silent: true, showSymbol: false, color, lineStyle: { opacity: 0 } };
        series.push({
          ...edge,
          name: `${key}: band`,
          data: banded.map((r) => ({ value: [r[0].v, r[lower.i].v], hide: true })),
        });
        series.push({
          ...edge,
          name: `${key}: ${label(lower.col.name)} – ${label(upper.col.name)}`,
          areaStyle: { opacity: 0.18 },
          data: banded.map((r) => ({ value: [r[0].v, r[upper.i].v - r[lower.i].v], t: `${r[lower.i].t} – ${r[upper.i].t}` })),
        });
      }
    });
    const tooltip = (p) => {
      const items = (Array.isArray(p) ? p : [p]).filter((i) => i.data && !i.data.hide);
      if (!items.length) return "";
      return [esc(items[0].axisValueLabel || "")]
        .concat(items.map((i) => `${i.marker}${esc(i.seriesName)}: ${esc(i.data.t)}`))
        .join("<br>");
    };
    const chart = canvas(tile, c.id);
    chart.setOption(
      {
        animation: false,
        grid: { left: 60, right: 20, top: 40, bottom: 30 },
        legend: { top: 0, type: "scroll", data: keys },
        tooltip: { trigger: "axis", formatter: tooltip },
        xAxis: a.xAxis,
        yAxis: a.yAxis,
        series,
      },
      true,
    );
  }

  function render(c, data) {
    const tile = tileOf(c.id);
    const cols = data.columns;
    const rows = data.rows;
    const metrics = cols.map((col, i) => ({ col, i })).filter((m) => m.col.role === "metric");
    let points = rows.length;
    switch (c.kind) {
      case "scorecard": {
        dropCanvas(c.id);
        const box = el("div", "scorecard");
        for (const m of metrics) {
          const cellText = rows.length ? rows[0][m.i].t : "–";
          const value = el("div", m.col.format === "datetime" ? "value moment" : "value", cellText);
          value.dataset.metric = m.col.name;
          box.append(value);
          if (data.compare && data.compare.cells) {
            const change = data.compare.change[m.i];
            const was = data.compare.cells[m.i].t;
            const r = data.compare.range;
            const line = el(
              "div",
              `change ${change && change.startsWith("+") ? "up" : change && change.startsWith("-") ? "down" : ""}`,
              `${change || "no change to show"} against ${was} (${r.from} – ${r.to})`,
            );
            line.dataset.change = change || "";
            line.dataset.was = was;
            box.append(line);
          }
        }
        setBody(tile, box);
        break;
      }
      case "table": {
        dropCanvas(c.id);
        const table = el("table");
        const head = el("tr");
        cols.forEach((col) => head.append(el("th", col.role === "metric" ? "num" : "", label(col.name))));
        table.append(head);
        for (const r of rows) {
          const tr = el("tr");
          r.forEach((cell, i) => tr.append(el("td", cols[i].role === "metric" ? "num" : "", cell.t)));
          table.append(tr);
        }
        const wrap = el("div", "table-wrap");
        wrap.append(rows.length ? table : el("div", "status", "No rows."));
        setBody(tile, wrap);
        break;
      }
      case "pivot": {
        dropCanvas(c.id);
        const rowKeys = [...new Set(rows.map((r) => r[0].t))];
        const colKeys = [...new Set(rows.map((r) => r[1].t))].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
        const at = new Map(rows.map((r) => [`${r[0].t}\u0000${r[1].t}`, r[2].t]));
        const table = el("table");
        const head = el("tr");
        head.append(el("th", "", `${label(cols[0].name)} \\ ${label(cols[1].name)}`));
        colKeys.forEach((k) => head.append(el("th", "num", k)));
        table.append(head);
        for (const rk of rowKeys) {
          const tr = el("tr");
          tr.append(el("th", "", rk));
          colKeys.forEach((ck) => tr.append(el("td", "num", at.get(`${rk}\u0000${ck}`) || "")));
          table.append(tr);
        }
        const wrap = el("div", "table-wrap");
        wrap.append(rows.length ? table : el("div", "status", "No rows."));
        setBody(tile, wrap);
        break;
      }
      case "time_series":
        if (cols.filter((col) => col.role === "dimension").length === 2) {
          breakdown(c, data, tile);
          break;
        }
      // falls through: one dimension
      case "bar": {
        const a = axisOption(c, data);
        // A running total gets an axis of its own (right), so the daily line keeps its scale.
        const dual = metrics.some((m) => m.col.cumulative) && metrics.some((m) => !m.col.cumulative);
        const point = (r, m, day) => ({ value: a.time ? [r[0].v, r[m.i].v] : r[m.i].v, t: r[m.i].t, day });
        const series = metrics.map((m) => ({
          name: label(m.col.name),
          type: c.kind === "bar" ? "bar" : "line",
          showSymbol: rows.length < 60,
          yAxisIndex: dual && m.col.cumulative ? 1 : 0,
          data: rows.map((r) => point(r, m)),
        }));
        if (data.compare && data.compare.rows && a.time) {
          const before = data.compare.range;
          for (const m of metrics) {
            series.push({
              name: `${label(m.col.name)} (${before.from} – ${before.to})`,
              type: "line",
              showSymbol: false,
              lineStyle: { type: "dashed", opacity: 0.7 },
              yAxisIndex: dual && m.col.cumulative ? 1 : 0,
              data: data.compare.rows.map((r) => point(r, m, r[0].t)),
            });
          }
        }
        const yAxis = dual ? [a.yAxis, { ...a.yAxis, splitLine: { show: false } }] : a.yAxis;
        const chart = canvas(tile, c.id);
        chart.setOption(
          {
            animation: false,
            grid: { left: 60, right: dual ? 60 : 20, top: 30, bottom: 30 },
            legend: { show: series.length > 1, top: 0, type: "scroll" },
            tooltip: { trigger: "axis", formatter: textTooltip },
            xAxis: a.xAxis,
            yAxis,
            series,
          },
          true,
        );
        if (c.kind === "bar") clickable(c, chart, data);
        break;
      }
      case "stacked_bar": {
        let categories;
        let series;
        if (cols.filter((col) => col.role === "dimension").length === 2) {
          categories = [...new Set(rows.map((r) => r[0].t))];
          const stacks = [...new Set(rows.map((r) => r[1].t))];
          series = stacks.map((s) => ({
            name: s,
            type: "bar",
            stack: "total",
            data: categories.map((cat) => {
              const r = rows.find((x) => x[0].t === cat && x[1].t === s);
              return r ? { value: r[2].v, t: r[2].t } : { value: 0, t: "0" };
            }),
          }));
        } else {
          categories = rows.map((r) => r[0].t);
          series = metrics.map((m) => ({
            name: label(m.col.name),
            type: "bar",
            stack: "total",
            data: rows.map((r) => ({ value: r[m.i].v, t: r[m.i].t })),
          }));
        }
        const stacked = canvas(tile, c.id);
        stacked.setOption(
          {
            animation: false,
            grid: { left: 60, right: 20, top: 40, bottom: 30 },
            legend: { top: 0, type: "scroll" },
            tooltip: { trigger: "axis", formatter: textTooltip },
            xAxis: { type: "category", data: categories, axisLabel: { hideOverlap: true } },
            yAxis: { type: "value", axisLabel: { formatter: (v) => compact.format(v) } },
            series,
          },
          true,
        );
        clickable(c, stacked, data);
        break;
      }
      case "pie": {
        const m = metrics[0];
        const pie = canvas(tile, c.id);
        pie.setOption(
          {
            animation: false,
            tooltip: { trigger: "item", formatter: (p) => `${esc(p.name)}: ${esc(p.data.t)} (${esc(p.percent)}%)` },
            legend: { bottom: 0, type: "scroll" },
            series: [
              {
                name: label(m.col.name),
                type: "pie",
                radius: ["35%", "65%"],
                label: { formatter: (p) => `${p.name}: ${p.data.t}` },
                data: rows.map((r) => ({ name: r[0].t, value: r[m.i].v, t: r[m.i].t })),
              },
            ],
          },
          true,
        );
        clickable(c, pie, data);
        break;
      }
      case "geo": {
        const m = metrics[0];
        const values = rows.map((r) => r[m.i].v || 0);
        const map = canvas(tile, c.id);
        map.setOption(
          {
            animation: false,
            tooltip: { trigger: "item", formatter: (p) => `${esc(p.name)}: ${esc((p.data && p.data.t) || "no sales")}` },
            visualMap: {
              min: 0,
              max: Math.max(1, ...values),
              left: 10,
              bottom: 10,
              calculable: true,
              text: ["more", "less"],
              formatter: (v) => compact.format(v),
            },
            series: [
              {
                name: label(m.col.name),
                type: "map",
                map: "world",
                nameMap: MAP_NAMES,
                roam: true,
                emphasis: { label: { show: false } },
                data: rows.map((r) => ({ name: r[0].t, value: r[m.i].v, t: r[m.i].t })),
              },
            ],
          },
          true,
        );
        clickable(c, map, data);
        break;
      }
      default:
        throw new Error(`unknown chart kind ${c.kind}`);
    }
    tile.dataset.state = "ok";
    tile.dataset.points = String(points);
    delete dashboard.errors[c.id];
  }

  function showError(c, e) {
    const tile = tileOf(c.id);
    dropCanvas(c.id);
    tile.dataset.state = "error";
    setBody(tile, el("div", "error", e.message));
    dashboard.errors[c.id] = e.message;
  }

  // ---- The controls: period, comparison, filters -----------------------------------
  const form = document.querySelector("form.controls");
  const field = (name) => form.querySelector(`[name="${name}"]`);
  let filterValues = null;

  // The selection the URL states now (the server resolved the page's default into the
  // first one; every control writes both ends, so later ones are explicit).
  function currentSelection() {
    const q = params();
    const sel = dashboard.boot.selection;
    const range = q.has("from") || q.has("to") ? { from: q.get("from"), to: q.get("to") || boot.today } : sel.range;
    const compare = q.has("from") || q.has("to") || q.has("compare") ? q.get("compare") : sel.compare;
    const filters = {};
    for (const f of FILTERS) if (q.getAll(f).length) filters[f] = q.getAll(f);
    return { range, compare, filters };
  }

  function showControls() {
    const sel = currentSelection();
    const preset = field("preset");
    if (!preset.options.length) {
      for (const p of boot.presets) preset.append(new Option(PRESET_LABELS[p.id] || p.id, p.id));
      preset.append(new Option("Custom", "custom"));
    }
    const match = boot.presets.find((p) => p.from === sel.range.from && p.to === sel.range.to);
    preset.value = match ? match.id : "custom";
    field("from").value = sel.range.from || "";
    field("to").value = sel.range.to || "";
    field("compare").value = sel.compare || "";
    field("compare").disabled = !sel.range.from;
    const chips = document.querySelector(".chips");
    chips.replaceChildren();
    for (const f of FILTERS) {
      for (const v of sel.filters[f] || []) {
        const chip = el("button", "chip", `${f}: ${v} ×`);
        chip.type = "button";
        chip.dataset.filter = f;
        chip.dataset.value = v;
        chip.title = "Remove this filter";
        chip.addEventListener("click", () => toggleFilter(f, v));
        chips.append(chip);
      }
    }
    for (const box of form.querySelectorAll("details.filter")) {
      const f = box.dataset.filter;
      const chosen = sel.filters[f] || [];
      box.querySelector("summary").textContent = chosen.length ? `${f} (${chosen.length})` : f;
      box.querySelectorAll("input[type=checkbox]").forEach((i) => (i.checked = chosen.includes(i.value)));
    }
    for (const a of document.querySelectorAll("a.csv")) {
      a.href = a.getAttribute("href").split("?")[0] + query();
    }
  }

  async function loadFilterValues() {
    if (filterValues) return filterValues;
    const r = await fetch("/api/filters", { cache: "no-store" });
    if (!r.ok) throw new Error(`filters: HTTP ${r.status}`);
    filterValues = await r.json();
    for (const box of form.querySelectorAll("details.filter")) {
      const f = box.dataset.filter;
      const list = box.querySelector(".values");
      list.replaceChildren();
      for (const v of filterValues[f] || []) {
        const row = el("label", "value");
        const input = el("input");
        input.type = "checkbox";
        input.value = v;
        input.addEventListener("change", () => {
          const next = params();
          next.delete(f);
          list.querySelectorAll("input:checked").forEach((i) => next.append(f, i.value));
          keepRange(next);
          go(next);
        });
        row.append(input, document.createTextNode(` ${v}`));
        list.append(row);
      }
    }
    showControls();
    return filterValues;
  }

  field("preset").addEventListener("change", (e) => {
    const p = boot.presets.find((x) => x.id === e.target.value);
    if (p) setRange(p.from, p.to);
  });
  for (const name of ["from", "to"]) {
    field(name).addEventListener("change", () => {
      const from = field("from").value;
      const to = field("to").value;
      if (to && (!from || from <= to)) setRange(from || null, to);
    });
  }
  field("compare").addEventListener("change", (e) => {
    const next = params();
    keepRange(next);
    next.delete("compare");
    if (e.target.value) next.set("compare", e.target.value);
    go(next);
  });
  form.addEventListener("submit", (e) => e.preventDefault());
  window.addEventListener("popstate", () => reload());

  async function freshness() {
    const line = document.querySelector(".freshness");
    try {
      const r = await fetch(`/api/pages/${page.id}/freshness${query()}`, { cache: "no-store" });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
      const sel = currentSelection();
      line.textContent =
        `Newest sale in ${sel.range.from || "all time"} – ${sel.range.to} (days in ${boot.time_zone}): ${body.newest_sale.t}. ` +
        `Those days of ${body.source} were last refreshed ${body.refreshed_at.t}.`;
      line.dataset.newest = body.newest_sale.t;
      line.dataset.refreshed = body.refreshed_at.t;
    } catch (e) {
      line.textContent = `Freshness unknown: ${e.message}`;
    }
  }

  function reload() {
    clearTimeout(refreshTimer);
    showControls();
    return load();
  }

  async function load() {
    clearTimeout(refreshTimer);
    if (page.charts.some((c) => c.kind === "geo")) {
      await loadWorld().catch((e) => console.warn("world map", e));
    }
    const outcomes = await Promise.all(
      page.charts.map(async (c) => {
        try {
          const data = await fetchChart(c);
          render(c, data);
          const note = tileOf(c.id).querySelector(".ignored");
          const ignored = data.ignored_filters || [];
          if (ignored.length) {
            const text = `ignores the ${ignored.join(", ")} filter${ignored.length > 1 ? "s" : ""}`;
            if (note) note.textContent = text;
            else tileOf(c.id).querySelector("footer").append(el("span", "ignored", text));
          } else if (note) note.remove();
          return null;
        } catch (e) {
          showError(c, e);
          return e;
        }
      }),
    );
    freshness();
    const failed = outcomes.filter((e) => e);
    const banner = document.querySelector(".banner");
    if (failed.length && failed.every((e) => e.unreachable)) {
      banner.textContent = failed[0].message;
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    const when = new Date().toLocaleTimeString("en-GB", { hour12: false });
    document.querySelector(".updated").textContent = page.refresh_seconds
      ? `Updated ${when}; refreshes every ${page.refresh_seconds} s while shown.`
      : `Updated ${when}.`;
    dashboard.loads += 1;
    document.body.dataset.loads = String(dashboard.loads);
    schedule();
  }

  // A live page refreshes while it is shown; a hidden tab queries nothing, and catches
  // up as soon as it is shown again.
  function schedule() {
    clearTimeout(refreshTimer);
    if (page.refresh_seconds && document.visibilityState === "visible") {
      refreshTimer = setTimeout(load, page.refresh_seconds * 1000);
    }
  }
  document.addEventListener("visibilitychange", () => {
    if (!page.refresh_seconds) return;
    if (document.visibilityState === "visible") load();
    else clearTimeout(refreshTimer);
  });

  window.addEventListener("resize", () => Object.values(charts).forEach((ch) => ch.resize()));
  showControls();
  loadFilterValues().catch((e) => console.warn("filter values", e));
  load();
})();
