// Charts: rows ingested and failed per hour over 24 hours and per day over 30 days, and batches
// by status, for the sandbox or one dataset (GET /data/foundation/stats/batches: aggregated on
// the server, one query of the window's batches, whatever their number).
import { get } from "../api.js";
import { h, replace, num } from "../ui.js";
import { rowsChart, statusChart } from "../chart.js";

// Minutes east of UTC, so days start at the browser's midnight.
const utcOffset = () => -new Date().getTimezoneOffset();

// The four charts of a dataset or the sandbox, into `box`: the last 24 hours first (a small
// query), then the 30 days, so the first charts do not wait for the larger window.
export async function statsInto(box, dataSet, signal) {
  const q = { dataSet, utcOffset: utcOffset() };
  const day = await get("/data/foundation/stats/batches", { ...q, window: "24h" }, { signal });
  const pending = h("p", { class: "muted" }, "Loading the last 30 days…");
  replace(
    box,
    rowsChart(day, `Rows per hour, last 24 hours (${num(day.totals.batches)} batches)`),
    statusChart(day.byStatus, "Batches by status, last 24 hours"),
    pending,
  );
  const month = await get("/data/foundation/stats/batches", { ...q, window: "30d" }, { signal });
  pending.replaceWith(
    rowsChart(month, `Rows per day, last 30 days (${num(month.totals.batches)} batches)`),
    statusChart(month.byStatus, "Batches by status, last 30 days"),
  );
}

export async function view({ main, query, navigate, signal }) {
  const dataSet = query.get("dataSet") || "";
  const datasets = Object.values(await get("/data/foundation/catalog/dataSets", { limit: 100 }, { signal }));
  const select = h(
    "select",
    { id: "c-ds", onchange: () => navigate(select.value ? `charts?dataSet=${encodeURIComponent(select.value)}` : "charts") },
    h("option", { value: "" }, "the whole sandbox"),
    datasets.map((d) => h("option", { value: d.id, selected: d.id === dataSet }, d.name)),
  );
  const box = h("div", { class: "charts" }, h("p", { class: "muted" }, "Loading…"));
  replace(
    main,
    h("h1", {}, "Charts"),
    h("p", { class: "filters" }, h("span", {}, h("label", { for: "c-ds" }, "For"), select)),
    box,
  );
  await statsInto(box, dataSet, signal);
}
