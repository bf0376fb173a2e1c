// Charts: rows ingested and failed per hour over 24 hours and per day over 30 days, and batches
// by status, for the sandbox or one dataset (GET /data/foundation/stats/batches: aggregated on
// the server, one query of the window's batches, whatever their number).
import { get } from "../api.js";
import { h, replace, num } from "../ui.js";
import { rowsChart, statusChart } from "../chart.js";

// Minutes east of UTC, so days start at the browser's midnight.
const utcOffset = () => -new Date().getTimezoneOffset();

export async function statsFor(dataSet, signal) {
  const q = { dataSet, utcOffset: utcOffset() };
  const [day, month] = await Promise.all([
    get("/data/foundation/stats/batches", { ...q, window: "24h" }, { signal }),
    get("/data/foundation/stats/batches", { ...q, window: "30d" }, { signal }),
  ]);
  return [
    rowsChart(day, `Rows per hour, last 24 hours (${num(day.totals.batches)} batches)`),
    rowsChart(month, `Rows per day, last 30 days (${num(month.totals.batches)} batches)`),
    statusChart(day.byStatus, "Batches by status, last 24 hours"),
    statusChart(month.byStatus, "Batches by status, last 30 days"),
  ];
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
  const charts = await statsFor(dataSet, signal);
  replace(
    main,
    h("h1", {}, "Charts"),
    h("p", { class: "filters" }, h("span", {}, h("label", { for: "c-ds" }, "For"), select)),
    h("div", { class: "charts" }, charts),
  );
}
