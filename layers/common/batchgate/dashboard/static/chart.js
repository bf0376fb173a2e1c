// Charts drawn as SVG by hand (no chart library to vendor): bars of rows ingested and failed per
// bin, and batches by status. Each chart is an image with a text label and its numbers in a
// table beside it, for screen readers and for people who want the figures.
import { h, num, table, badge } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const hourFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// Bars per bin, ingested (up) and failed stacked on it, with a y axis and a few x labels.
export function rowsChart(stats, title) {
  const W = 720, H = 220, L = 56, B = 26, T = 10;
  const bins = stats.bins;
  const max = niceMax(Math.max(...bins.map((b) => b.rowsIngested + b.rowsFailed)));
  const bw = (W - L - 8) / bins.length;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const label = (b) => (stats.unit === "hour" ? hourFmt.format(b.start) : dayFmt.format(b.start));
  const every = Math.ceil(bins.length / 8);
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${title}: ${num(stats.totals.rowsIngested)} rows ingested, ${num(stats.totals.rowsFailed)} failed` },
    [0, 0.5, 1].map((f) => [
      s("line", { x1: L, x2: W - 4, y1: y(max * f), y2: y(max * f), class: "grid" }),
      s("text", { x: L - 6, y: y(max * f) + 4, class: "axis", "text-anchor": "end" }, num(max * f)),
    ]),
    bins.map((b, i) => {
      const x = L + i * bw + 1;
      const tip = `${fullFmt.format(b.start)}: ${num(b.rowsIngested)} ingested, ${num(b.rowsFailed)} failed, ${num(b.batches)} batches`;
      return s(
        "g",
        {},
        s("title", {}, tip),
        s("rect", { x, width: Math.max(1, bw - 2), y: y(b.rowsIngested), height: y(0) - y(b.rowsIngested), class: "ok" }),
        s("rect", { x, width: Math.max(1, bw - 2), y: y(b.rowsIngested + b.rowsFailed), height: y(0) - y(b.rowsFailed), class: "bad" }),
        i % every === 0 ? s("text", { x: x + bw / 2, y: H - 8, class: "axis", "text-anchor": "middle" }, label(b)) : null,
      );
    }),
  );
  return h(
    "figure",
    { class: "chartbox" },
    h("figcaption", {}, title, " ", h("span", { class: "legend ok" }, "ingested"), " ", h("span", { class: "legend bad" }, "failed")),
    svg,
    h(
      "details",
      {},
      h("summary", {}, "Numbers"),
      table(
        [
          { title: stats.unit === "hour" ? "Hour" : "Day", cell: (b) => fullFmt.format(b.start) },
          { title: "Batches", cell: (b) => num(b.batches) },
          { title: "Rows ingested", cell: (b) => num(b.rowsIngested) },
          { title: "Rows failed", cell: (b) => num(b.rowsFailed) },
        ],
        bins,
      ),
    ),
  );
}

// Horizontal bars: batches by status.
export function statusChart(byStatus, title) {
  const entries = Object.entries(byStatus).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return h("figure", { class: "chartbox" }, h("figcaption", {}, title), h("p", { class: "empty" }, "No batches in this window."));
  const max = Math.max(...entries.map(([, n]) => n));
  const W = 720, R = 24, L = 100;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${entries.length * R + 4}`, class: "chart", role: "img", "aria-label": `${title}: ${entries.map(([k, n]) => `${n} ${k}`).join(", ")}` },
    entries.map(([status, n], i) => {
      const w = ((W - L - 60) * n) / max;
      return s(
        "g",
        {},
        s("text", { x: L - 8, y: i * R + 16, class: "axis", "text-anchor": "end" }, status),
        s("rect", { x: L, y: i * R + 4, width: Math.max(1, w), height: R - 8, class: `st s-${status}` }),
        s("text", { x: L + w + 6, y: i * R + 16, class: "axis" }, num(n)),
      );
    }),
  );
  return h(
    "figure",
    { class: "chartbox" },
    h("figcaption", {}, title),
    svg,
    h("details", {}, h("summary", {}, "Numbers"), table([{ title: "Status", cell: ([k]) => badge(k) }, { title: "Batches", cell: ([, n]) => num(n) }], entries)),
  );
}
