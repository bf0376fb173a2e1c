// Batches: the list (filters: dataset, status, time; the API's offset paging) and one batch:
// status history, metrics, files, errors with codes and row samples, the failed rows, and
// COMPLETE / ABORT / REVERT when its status and the key's role allow them. A batch still in
// flight refreshes itself until it is final.
import { get, post, call, downloadBlob } from "../api.js";
import {
  h, replace, table, timeEl, duration, num, bytes, badge, dl, section, errorBox, notice,
  confirmDialog, pollUntil, download,
} from "../ui.js";

const CATALOG = "/data/foundation/catalog/batches";
const PAGE = 50;
export const STATUSES = ["loading", "loaded", "staging", "retrying", "stalled", "success", "failed", "aborted", "abandoned", "inactive", "deleted"];
const FINAL = new Set(["success", "failed", "aborted", "abandoned", "inactive", "deleted"]);
// core/status.py: where each action is allowed from.
const ACTIONS = {
  COMPLETE: { from: ["loading", "stalled"], says: "Close the batch to uploads and land its files." },
  ABORT: { from: ["loading", "loaded", "staging", "retrying", "stalled"], says: "Stop the batch: nothing of it will land, its staged files are removed." },
  REVERT: { from: ["success"], says: "Take the batch's rows out of the dataset. Readers stop seeing them once the revert commits." },
};
const MAY_ACT = new Set(["writer", "admin"]);

const datasetOf = (b) => ((b.relatedObjects || []).find((o) => o.type === "dataSet") || {}).id;

function toLocalInput(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// Pages by creation time (keyset): "older" asks createdBefore the page's last batch, "newer"
// createdAfter its first (oldest first, then reversed). Every page costs the same at any depth,
// where an offset (`start`) reads through every batch before it. The cursor is the batch's
// `created` and id: the API orders by both, so batches created in the same millisecond as the
// cursor are asked for too (the bound moves one ms) and those already shown are dropped.
const SLACK = 10; // extra rows asked for, to make up for the dropped ones

function cursorOf(value) {
  const [created, id] = String(value || "").split(".");
  return created ? { created: Number(created), id: id || "" } : null;
}

function pageQuery(f, older, newer) {
  const q = { dataSet: f.dataSet, status: f.status, createdAfter: f.createdAfter, createdBefore: f.createdBefore, limit: PAGE + 1 };
  if (older) {
    q.createdBefore = String(Math.min(older.created + 1, Number(f.createdBefore || Infinity)));
    q.limit += SLACK;
  }
  if (newer) {
    q.createdAfter = String(Math.max(newer.created - 1, Number(f.createdAfter || -1)));
    q.orderBy = "asc:created";
    q.limit += SLACK;
  }
  return q;
}

// Drop what the previous page showed: same millisecond as the cursor, at or beyond its id.
function unseen(rows, older, newer) {
  if (older) return rows.filter((b) => b.created < older.created || (b.created === older.created && b.id < older.id));
  if (newer) return rows.filter((b) => b.created > newer.created || (b.created === newer.created && b.id > newer.id));
  return rows;
}

export async function list({ main, query, navigate, signal }) {
  const older = cursorOf(query.get("olderThan"));
  const newer = older ? null : cursorOf(query.get("newerThan"));
  const f = {
    dataSet: query.get("dataSet") || "",
    status: query.get("status") || "",
    createdAfter: query.get("createdAfter") || "",
    createdBefore: query.get("createdBefore") || "",
  };
  // The batches paint first; the datasets' names (the filter's choices, the Dataset column)
  // follow when they arrive.
  // Asked second: the local stack answers one call at a time, in the order they arrive.
  const pageLoaded = get(CATALOG, pageQuery(f, older, newer), { signal });
  const namesLoaded = get("/data/foundation/catalog/dataSets", { limit: 100 }, { signal });
  namesLoaded.catch(() => {}); // a failure is reported where it is awaited, below
  const page = await pageLoaded;
  let rows = unseen(Object.values(page), older, newer);
  const full = rows.length > PAGE;
  rows = rows.slice(0, PAGE);
  if (newer) rows.reverse();
  const hasOlder = newer ? true : full;
  const hasNewer = newer ? full : !!older;
  const cursor = (b) => `${b.created}.${b.id}`;

  const go = (q) => navigate(`batches?${new URLSearchParams(Object.entries(q).filter(([, v]) => v !== "" && v !== undefined))}`);

  const dsSelect = h(
    "select",
    { id: "b-ds", name: "dataSet" },
    h("option", { value: "" }, "all datasets"),
    f.dataSet ? h("option", { value: f.dataSet, selected: true }, f.dataSet) : null,
  );
  const stSelect = h(
    "select",
    { id: "b-st", name: "status" },
    h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === f.status }, s)),
  );
  const after = h("input", { id: "b-after", type: "datetime-local", value: toLocalInput(f.createdAfter) });
  const before = h("input", { id: "b-before", type: "datetime-local", value: toLocalInput(f.createdBefore) });
  const msOf = (input) => (input.value ? String(new Date(input.value).getTime()) : "");
  replace(
    main,
    h("h1", {}, "Batches"),
    h(
      "form",
      {
        class: "filters",
        onsubmit: (e) => {
          e.preventDefault();
          go({ dataSet: dsSelect.value, status: stSelect.value, createdAfter: msOf(after), createdBefore: msOf(before) });
        },
      },
      h("span", {}, h("label", { for: "b-ds" }, "Dataset"), dsSelect),
      h("span", {}, h("label", { for: "b-st" }, "Status"), stSelect),
      h("span", {}, h("label", { for: "b-after" }, "Created after"), after),
      h("span", {}, h("label", { for: "b-before" }, "Created before"), before),
      h("button", { type: "submit" }, "Apply"),
    ),
    table(
      [
        { title: "Batch", cell: (b) => h("a", { href: `batches/${b.id}` }, b.id) },
        { title: "Status", cell: (b) => badge(b.status) },
        { title: "Dataset", cell: (b) => h("a", { href: `datasets/${datasetOf(b)}`, "data-dataset": datasetOf(b) }, datasetOf(b)) },
        { title: "Created", cell: (b) => timeEl(b.created) },
        { title: "Rows in", cell: (b) => num(b.metrics.inputRecordCount) },
        { title: "Rows out", cell: (b) => num(b.metrics.outputRecordCount) },
        { title: "Failed", cell: (b) => num(b.metrics.failedRecordCount) },
        { title: "First error", cell: (b) => (b.errors.length ? h("code", {}, b.errors[b.errors.length > 1 && b.errors[0].code === "BG-BATCH-ROW-ERRORS" ? 1 : 0].code) : "") },
      ],
      rows,
      { empty: Object.values(f).some(Boolean) ? "No batch matches these filters." : "No batches yet." },
    ),
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      h("button", { class: "secondary", disabled: !hasNewer || !rows.length, onclick: () => go({ ...f, newerThan: cursor(rows[0]) }) }, "← Newer"),
      h("button", { class: "secondary", disabled: !hasOlder || !rows.length, onclick: () => go({ ...f, olderThan: cursor(rows[rows.length - 1]) }) }, "Older →"),
    ),
  );
  const datasets = Object.values(await namesLoaded);
  replace(
    dsSelect,
    h("option", { value: "" }, "all datasets"),
    datasets.map((d) => h("option", { value: d.id, selected: d.id === f.dataSet }, d.name)),
    f.dataSet && !datasets.some((d) => d.id === f.dataSet) ? h("option", { value: f.dataSet, selected: true }, f.dataSet) : null,
  );
  const names = Object.fromEntries(datasets.map((d) => [d.id, d.name]));
  for (const a of main.querySelectorAll("a[data-dataset]")) if (names[a.dataset.dataset]) a.textContent = names[a.dataset.dataset];
}

async function failedSample(id, signal) {
  // The failed records are JSON lines: the first 64 KB give the samples shown beside the errors.
  const { data } = await get(`/data/foundation/export/batches/${id}/failed`, {}, { signal });
  if (!data.length) return { files: [], rows: [] };
  const text = await call("GET", data[0]._links.self.href, { as: "text", extraHeaders: { Range: "bytes=0-65535" }, signal });
  const lines = text.split("\n");
  if (text.length >= 65536) lines.pop(); // a cut last line
  const rows = lines.filter(Boolean).slice(0, 50).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return null;
    }
  }).filter(Boolean);
  return { files: data, rows };
}

function actionBar(b, role, after) {
  if (role && !MAY_ACT.has(role)) return null;
  const possible = Object.entries(ACTIONS).filter(([, a]) => a.from.includes(b.status));
  if (!possible.length) return null;
  const out = h("div", { "aria-live": "polite" });
  return h(
    "div",
    { class: "actions" },
    possible.map(([name, a]) =>
      h(
        "button",
        {
          class: name === "COMPLETE" ? "" : "danger",
          onclick: async () => {
            if (!(await confirmDialog(`${name} batch?`, `${a.says} Batch ${b.id}.`, name))) return;
            try {
              await post(`/data/foundation/import/batches/${b.id}`, { action: name });
              after(name);
            } catch (e) {
              replace(out, errorBox(e));
            }
          },
        },
        name,
      ),
    ),
    out,
  );
}

// The batch's timeline (the single batch's GET: core/timeline.py): when it was created, when each
// file was received and validated (its rows are staged as validation ends), when its landing
// started and ended; each step also as the time since the batch was created.
function timeline(b) {
  const t = b.timeline;
  if (!t || typeof t !== "object" || !t.created) return null;
  const steps = [{ step: "created", at: t.created }];
  for (const f of t.files || []) {
    steps.push({ step: `${f.name}: received`, at: f.received });
    steps.push({ step: `${f.name}: validated${f.staged ? " and staged" : ""}`, at: f.validated });
  }
  steps.push({ step: "landing started", at: t.commitStarted }, { step: "landing ended", at: t.commitEnded });
  return section(
    "Timeline",
    table(
      [
        { title: "Step", cell: (r) => r.step },
        { title: "At", cell: (r) => timeEl(r.at) },
        { title: "After creation", cell: (r) => (r.at ? duration(t.created, r.at) : "not yet") },
      ],
      steps,
      { caption: "Times in your browser's zone" },
    ),
  );
}

export async function detail(ctx) {
  const { main, params, signal } = ctx;
  const [id] = params;
  const load = async () => (await get(`${CATALOG}/${encodeURIComponent(id)}`, {}, { signal }))[id];
  const rolePromise = ctx.role(); // asked beside the batch, not before it
  let pendingRevert = false;
  let message = null;
  const draw = async (b) => {
    const dsId = datasetOf(b);
    const [role, files, failed] = await Promise.all([
      rolePromise,
      get(`/data/foundation/export/batches/${id}/files`, { limit: 100 }, { signal }),
      FINAL.has(b.status) && b.metrics.failedRecordCount && b.enableErrorDiagnostics
        ? failedSample(id, signal).catch(() => ({ files: [], rows: [] }))
        : Promise.resolve({ files: [], rows: [] }),
    ]);
    if (signal.aborted) return;
    const sampleOf = (e) => failed.rows.find((r) => r._filename === e.file && r._row === e.row);
    const m = b.metrics;
    replace(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "batches" }, "Batches"), " / ", b.id),
      h("h1", {}, "Batch ", h("code", {}, b.id), " ", badge(b.status)),
      message ? notice(message) : null,
      !FINAL.has(b.status) || pendingRevert ? h("p", { class: "live", role: "status" }, pendingRevert ? "Reverting… this page updates by itself." : "In progress: this page updates by itself.") : null,
      actionBar(b, role, (name) => {
        message = `${name} accepted.`;
        pendingRevert = name === "REVERT";
        follow().catch((e) => signal.aborted || e.isAuth || replace(main, errorBox(e)));
      }),
      dl([
        ["Dataset", h("a", { href: `datasets/${dsId}` }, dsId)],
        ["Created", timeEl(b.created)],
        ["Updated", timeEl(b.updated)],
        ["By", b.createdUser],
        ["Format", b.inputFormat.format],
        ["Partial ingestion", `${b.partialIngestionPercentage}% of rows may fail`],
        b.snapshotId ? ["Iceberg snapshot", h("code", {}, b.snapshotId)] : null,
        b.successor ? ["Replaced by", h("a", { href: `batches/${b.successor}` }, b.successor)] : null,
        b.replay ? ["Replays", (b.replay.predecessors || []).map((p) => [h("a", { href: `batches/${p}` }, p), " "])] : null,
      ]),
      timeline(b),
      section(
        "Metrics",
        h(
          "ul",
          { class: "metrics" },
          [
            ["Input records", num(m.inputRecordCount)],
            ["Output records", num(m.outputRecordCount)],
            ["Failed records", num(m.failedRecordCount)],
            ["Input bytes", bytes(m.inputByteSize)],
            ["Files", num(m.inputFileCount)],
          ].map(([k, v]) => h("li", {}, h("span", { class: "big" }, v), h("span", { class: "muted" }, k))),
        ),
      ),
      section(
        "Files",
        table(
          [
            { title: "Name", cell: (f) => f.name },
            { title: "Size", cell: (f) => bytes(f.size) },
            { title: "Uploaded", cell: (f) => timeEl(f.created) },
          ],
          files.data,
          { empty: "No files uploaded." },
        ),
      ),
      section(
        "Errors",
        table(
          [
            { title: "Code", cell: (e) => h("code", {}, e.code) },
            { title: "What", cell: (e) => e.description },
            { title: "Where", cell: (e) => [e.file, e.row ? `row ${e.row}` : "", e.field ? `field ${e.field}` : ""].filter(Boolean).join(", ") || (e.recordCount ? `${num(e.recordCount)} records` : "") },
            { title: "Row sample", cell: (e) => { const s = sampleOf(e); return s ? h("code", { class: "wrap" }, JSON.stringify(s._values ?? s._corrupt_record)) : ""; } },
          ],
          b.errors,
          { empty: "No errors." },
        ),
        failed.files.length
          ? h(
              "p",
              {},
              failed.files.map((f) =>
                h(
                  "button",
                  {
                    class: "secondary",
                    onclick: async () => download(await downloadBlob(f._links.self.href), `${b.id}-failed-${f.name}.jsonl`),
                  },
                  `Download failed rows (${f.name})`,
                ),
              ),
            )
          : null,
      ),
    );
  };
  let polling = false;
  const follow = async () => {
    // One poll at a time: an action taken while the page is already following just lets it go on.
    if (polling) return;
    polling = true;
    try {
      await pollUntil(
      async () => {
        const b = await load();
        if (pendingRevert && b.status !== "success") pendingRevert = false;
        await draw(b);
        return b;
      },
      (b) => FINAL.has(b.status) && !pendingRevert,
      signal,
      );
    } finally {
      polling = false;
    }
  };
  await follow();
}
