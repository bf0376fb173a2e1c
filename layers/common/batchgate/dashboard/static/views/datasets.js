// Datasets: the list (paged, filtered by name) and one dataset: schema with its types and
// rules, a sample of its rows, its last batch and its batches, where its Iceberg table is.
import { get } from "../api.js";
import { h, replace, table, time, num, badge, dl, section, pager, errorBox } from "../ui.js";
import { statsInto } from "./charts.js";

const BASE = "/data/foundation/catalog/dataSets";
const PAGE = 50;

export async function list({ main, query, navigate }) {
  const start = Number(query.get("start") || 0);
  const name = query.get("name") || "";
  // One page past the limit tells whether there is an older page.
  const page = Object.values(await get(BASE, { limit: PAGE + 1, start }));
  const more = page.length > PAGE;
  const shown = page.slice(0, PAGE).filter((d) => !name || d.name.toLowerCase().includes(name.toLowerCase()));
  const go = (q) => navigate(`datasets?${new URLSearchParams(Object.entries(q).filter(([, v]) => v))}`);
  const filter = h("input", { id: "ds-name", type: "search", value: name, placeholder: "part of a name" });
  replace(
    main,
    h("h1", {}, "Datasets"),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (e) => (e.preventDefault(), go({ name: filter.value })) },
      h("label", { for: "ds-name" }, "Find by name"),
      filter,
      h("button", { type: "submit" }, "Find"),
    ),
    table(
      [
        { title: "Name", cell: (d) => h("a", { href: `datasets/${encodeURIComponent(d.id)}` }, d.name) },
        { title: "Columns", cell: (d) => num((d.schema.fields || []).length) },
        { title: "Upsert", cell: (d) => (d.tags && d.tags.isUpsert ? (d.tags.identity || []).join(", ") || "yes" : "no") },
        { title: "Created", cell: (d) => time(d.created) },
        { title: "Id", cell: (d) => h("code", {}, d.id) },
      ],
      shown,
      { empty: name ? `No dataset on this page has "${name}" in its name.` : "No datasets yet. Create one with the API or `batchgate datasets create`." },
    ),
    pager(start, PAGE, more, (s) => go({ name, start: s })),
  );
}

function rules(f) {
  const out = [];
  if (f.required) out.push("required");
  if (f.identity) out.push("identity");
  for (const k of ["minimum", "maximum", "maxLength", "pattern", "format"]) if (f[k] !== undefined && f[k] !== null) out.push(`${k} ${f[k]}`);
  if (f.enum) out.push(`one of ${f.enum.slice(0, 8).join(", ")}${f.enum.length > 8 ? "…" : ""}`);
  if (f.allowNonFinite) out.push("NaN/Infinity allowed");
  return out.join("; ") || "—";
}

function typeOf(f) {
  if (f.type === "array") return `array of ${f.items ? typeOf(f.items) : "?"}`;
  return f.type;
}

function flatten(fields, prefix = "") {
  return (fields || []).flatMap((f) => [
    { ...f, path: prefix + f.name },
    ...(f.type === "object" ? flatten(f.fields, `${prefix}${f.name}.`) : []),
  ]);
}

export async function detail({ main, params, signal }) {
  const [id] = params;
  const [one, page] = await Promise.all([
    get(`${BASE}/${encodeURIComponent(id)}`, {}, { signal }),
    get("/data/foundation/catalog/batches", { dataSet: id, limit: 20 }, { signal }),
  ]);
  const ds = one[id];
  const batches = Object.values(page);
  const last = batches[0];
  const ice = ds.iceberg || {};
  const identity = ds.tags && ds.tags.isUpsert ? (ds.tags.identity || []).join(", ") : "";
  const rowsBox = h("div", {}, h("p", { class: "muted" }, "Loading rows…"));
  const chartsBox = h("div", { class: "charts" }, h("p", { class: "muted" }, "Loading charts…"));
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "datasets" }, "Datasets"), " / ", ds.name),
    h("h1", {}, ds.name),
    dl([
      ["Id", h("code", {}, ds.id)],
      ["Created", time(ds.created)],
      ["Updated", time(ds.updated)],
      ["Last batch", last ? [h("a", { href: `batches/${last.id}` }, last.id), " ", badge(last.status), " ", time(last.created)] : "none yet"],
      ["Upsert identity", identity || "none (every batch appends)"],
      ["Extra columns", ds.extraColumns || "discard"],
      ["Iceberg table", h("code", {}, ice.identifier || ds.table || "—")],
      ["Catalog", ice.catalog || "—"],
      ["Metadata location", ice.metadataLocation ? h("code", { class: "wrap" }, ice.metadataLocation) : "none until a batch lands"],
    ]),
    section(
      "Schema",
      table(
        [
          { title: "Column", cell: (f) => h("code", {}, f.path) },
          { title: "Type", cell: typeOf },
          { title: "Rules", cell: rules },
          { title: "Description", cell: (f) => f.description || "" },
        ],
        flatten(ds.schema.fields),
        { empty: "This schema has no columns." },
      ),
    ),
    section(
      "Batches",
      table(
        [
          { title: "Batch", cell: (b) => h("a", { href: `batches/${b.id}` }, b.id) },
          { title: "Status", cell: (b) => badge(b.status) },
          { title: "Created", cell: (b) => time(b.created) },
          { title: "Rows in", cell: (b) => num(b.metrics.inputRecordCount) },
          { title: "Rows out", cell: (b) => num(b.metrics.outputRecordCount) },
          { title: "Failed", cell: (b) => num(b.metrics.failedRecordCount) },
        ],
        batches,
        { empty: "No batches yet." },
      ),
      batches.length ? h("p", {}, h("a", { href: `batches?dataSet=${encodeURIComponent(id)}` }, "All batches of this dataset →")) : null,
    ),
    section("Charts", chartsBox),
    section("Rows", rowsBox),
  );
  statsInto(chartsBox, id, signal).catch((e) => signal.aborted || replace(chartsBox, errorBox(e)));
  try {
    const page = await get(`/data/foundation/export/datasets/${encodeURIComponent(id)}/rows`, { limit: 20 }, { signal });
    const cols = page.data.length ? Object.keys(page.data[0]) : [];
    replace(
      rowsBox,
      h("p", { class: "muted" }, page.data.length ? `The first ${num(page.data.length)} rows of the current table.` : ""),
      table(
        cols.map((c) => ({ title: c, cell: (r) => (r[c] === null ? "null" : typeof r[c] === "object" ? JSON.stringify(r[c]) : String(r[c])) })),
        page.data,
        { empty: "No rows yet: nothing has landed." },
      ),
    );
  } catch (e) {
    if (!signal.aborted) replace(rowsBox, errorBox(e));
  }
}
