// Portable bundles: the exports and imports of the sandbox, newest first, and one of them: its
// status, datasets (with their ids here and where they came from, and the batch that carried
// the rows in), errors and what was undone, and a ready export's download. A running export or
// import refreshes itself until it ends. Bundles are started with the API or the CLI
// (`batchgate bundles export|import`), or by dropping a .bgbundle at inbox/{org}/{sandbox}/_bundles/.
import { get } from "../api.js";
import { h, replace, table, timeEl, num, bytes, badge, dl, section, pager, notice, pollUntil, duration } from "../ui.js";

const BUNDLES = "/data/foundation/bundles";
const PAGE = 50;

function datasetLink(d) {
  return d.id ? h("a", { href: `datasets/${d.id}` }, d.name) : d.name;
}

export async function list({ main, query, navigate, signal }) {
  const start = Number(query.get("start") || 0);
  const kind = query.get("kind") || "";
  const load = () => get(BUNDLES, { limit: PAGE + 1, start, kind: kind || undefined }, { signal });
  const filter = h(
    "label",
    {},
    "Kind ",
    h(
      "select",
      { onchange: (e) => navigate(e.target.value ? `bundles?kind=${e.target.value}` : "bundles") },
      ["", "export", "import"].map((k) => h("option", { value: k, selected: k === kind }, k || "all")),
    ),
  );
  const draw = ({ bundles }) =>
    replace(
      main,
      h("h1", {}, "Bundles"),
      h("div", { class: "filters" }, filter),
      table(
        [
          { title: "Id", cell: (b) => h("a", { href: `bundles/${b.id}` }, b.id) },
          { title: "Kind", cell: (b) => b.kind + (b.origin === "inbox" ? " (bucket drop)" : "") },
          { title: "Status", cell: (b) => badge(b.status) },
          { title: "Started", cell: (b) => timeEl(b.created) },
          { title: "Datasets", cell: (b) => b.datasets.map((d) => d.name).join(", ") || "—" },
          { title: "Rows", cell: (b) => num(b.datasets.reduce((n, d) => n + (d.rows || 0), 0)) },
          { title: "Bytes", cell: (b) => bytes(b.bytes) },
        ],
        bundles.slice(0, PAGE),
        { empty: "No exports or imports yet. Start one with `batchgate bundles export ID… -o FILE` or `batchgate bundles import FILE`." },
      ),
      pager(start, PAGE, bundles.length > PAGE, (s) => navigate(`bundles?start=${s}${kind ? `&kind=${kind}` : ""}`)),
    );
  await pollUntil(
    async () => {
      const v = await load();
      draw(v);
      return v;
    },
    (v) => !v.bundles.some((b) => b.status === "running"),
    signal,
    2000,
  );
}

export async function detail({ main, params, signal }) {
  const [id] = params;
  const draw = (b) =>
    replace(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "bundles" }, "Bundles"), " / ", b.id),
      h("h1", {}, `${b.kind === "export" ? "Export" : "Import"} `, badge(b.status)),
      b.status === "running" ? h("p", { class: "live", role: "status" }, "Running: this page updates by itself.") : null,
      b.duplicateOf
        ? notice(["This bundle was imported before by ", h("a", { href: `bundles/${b.duplicateOf}` }, b.duplicateOf), ": nothing was imported again."])
        : null,
      dl([
        ["Id", h("code", {}, b.id)],
        b.bundleId ? ["Bundle", h("code", {}, b.bundleId)] : null,
        ["Started", timeEl(b.created)],
        ["Took", duration(b.created, b.ended)],
        ["By", b.createdUser],
        b.origin ? ["Arrived", b.origin === "inbox" ? "dropped in the bucket" : "through the API"] : null,
        ["Bytes", bytes(b.bytes)],
        b.request && b.request.asOfBatch ? ["As of batch", h("a", { href: `batches/${b.request.asOfBatch}` }, b.request.asOfBatch)] : null,
        b.request ? ["Rows included", b.request.includeData ? "yes" : "no: definitions only"] : null,
        b.message ? ["Message", b.message] : null,
        // A presigned S3 URL: another origin, so a link to follow, not a fetch of this page.
        b.download ? ["Download", h("a", { href: b.download, rel: "noopener noreferrer", download: `bundle-${b.id}.bgbundle` }, "the .bgbundle (link valid for an hour)")] : null,
      ]),
      section(
        "Datasets",
        table(
          [
            { title: "Dataset", cell: datasetLink },
            { title: "Source id", cell: (d) => h("code", {}, d.sourceId) },
            { title: "Rows", cell: (d) => num(d.rows) },
            { title: b.kind === "import" ? "Batch" : "As of batch", cell: (d) => (d.batchId ? h("a", { href: `batches/${d.batchId}` }, d.batchId) : "—") },
            { title: "", cell: (d) => (d.created ? "created" : d.evolved ? "schema extended" : "") },
          ],
          b.datasets,
          { empty: b.status === "running" ? "Not known yet." : "No datasets." },
        ),
      ),
      (b.errors || []).length
        ? section(
            "Errors",
            table(
              [
                { title: "Code", cell: (e) => h("code", {}, e.code) },
                { title: "Dataset", cell: (e) => e.dataset || "" },
                { title: "Message", cell: (e) => e.message },
              ],
              b.errors,
            ),
          )
        : null,
    );
  await pollUntil(
    async () => {
      const b = await get(`${BUNDLES}/${encodeURIComponent(id)}`, {}, { signal });
      draw(b);
      return b;
    },
    (b) => b.status !== "running",
    signal,
    1500,
  );
}
