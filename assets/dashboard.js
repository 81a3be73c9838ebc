// InstaShop Analytics: draws one page of the report definition (looker/report.json).
// The page's definition is in #page-definition; each chart's data comes from
// /api/pages/<page>/charts/<chart>, all fetched at once. Every number a person reads is
// the server's exact text (`t`); `v` only positions marks. A chart whose query failed
// shows the error on its tile; when BigQuery does not answer at all, one banner says so.
(function () {
  "use strict";

  const page = JSON.parse(document.getElementById("page-definition").textContent);
  const charts = {}; // chart id -> ECharts instance
  const dashboard = { page, charts, loads: 0, errors: {} };
  window.dashboard = dashboard;
  const FETCH_TIMEOUT_MS = 60000;
  // Country names of the map that differ from the data's.
  const MAP_NAMES = { "United States of America": "United States" };
  let worldMap = null;

  const tileOf = (id) => document.querySelector(`[data-chart="${id}"]`);
  const label = (name) => name.replace(/_/g, " ");
  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

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
      const r = await fetch(`/api/pages/${page.id}/charts/${c.id}`, { signal: ctrl.signal, cache: "no-store" });
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

  const textTooltip = (p) => {
    const items = Array.isArray(p) ? p : [p];
    const head = items[0].axisValueLabel || items[0].name || "";
    return [head]
      .concat(items.map((i) => `${i.marker}${i.seriesName}: ${(i.data && i.data.t) || "–"}`))
      .join("<br>");
  };

  function axisOption(c, data) {
    const dim = data.columns[0];
    const time = dim.format === "date" || dim.format === "datetime";
    return {
      // A time axis spans the data (the newest rows may come first: the axis orders them).
      xAxis: time
        ? data.rows.length > 1
          ? { type: "time", min: "dataMin", max: "dataMax" }
          : { type: "time" }
        : { type: "category", data: [...new Set(data.rows.map((r) => r[0].t))] },
      yAxis: { type: "value", axisLabel: { formatter: (v) => compact.format(v) } },
      time,
    };
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
      case "bar": {
        const a = axisOption(c, data);
        const series = metrics.map((m) => ({
          name: label(m.col.name),
          type: c.kind === "bar" ? "bar" : "line",
          showSymbol: rows.length < 60,
          data: rows.map((r) => ({ value: a.time ? [r[0].v, r[m.i].v] : r[m.i].v, t: r[m.i].t })),
        }));
        canvas(tile, c.id).setOption(
          {
            animation: false,
            grid: { left: 60, right: 20, top: 30, bottom: 30 },
            legend: { show: series.length > 1, top: 0 },
            tooltip: { trigger: "axis", formatter: textTooltip },
            xAxis: a.xAxis,
            yAxis: a.yAxis,
            series,
          },
          true,
        );
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
        canvas(tile, c.id).setOption(
          {
            animation: false,
            grid: { left: 60, right: 20, top: 40, bottom: 30 },
            legend: { top: 0, type: "scroll" },
            tooltip: { trigger: "axis", formatter: textTooltip },
            xAxis: { type: "category", data: categories },
            yAxis: { type: "value", axisLabel: { formatter: (v) => compact.format(v) } },
            series,
          },
          true,
        );
        break;
      }
      case "pie": {
        const m = metrics[0];
        canvas(tile, c.id).setOption(
          {
            animation: false,
            tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${p.data.t} (${p.percent}%)` },
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
        break;
      }
      case "geo": {
        const m = metrics[0];
        const values = rows.map((r) => r[m.i].v || 0);
        canvas(tile, c.id).setOption(
          {
            animation: false,
            tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${(p.data && p.data.t) || "no sales"}` },
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

  async function load() {
    if (page.charts.some((c) => c.kind === "geo")) {
      await loadWorld().catch((e) => console.warn("world map", e));
    }
    const outcomes = await Promise.all(
      page.charts.map(async (c) => {
        try {
          render(c, await fetchChart(c));
          return null;
        } catch (e) {
          showError(c, e);
          return e;
        }
      }),
    );
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
      ? `Updated ${when}; refreshes every ${page.refresh_seconds} s.`
      : `Updated ${when}.`;
    dashboard.loads += 1;
    document.body.dataset.loads = String(dashboard.loads);
    if (page.refresh_seconds) {
      setTimeout(load, page.refresh_seconds * 1000);
    }
  }

  window.addEventListener("resize", () => Object.values(charts).forEach((ch) => ch.resize()));
  load();
})();
