// Export feeds: the list with each feed's state, and one feed: last sync, watermark, pending
// changes (the lag), failed items; SYNC / FULL_SYNC / RETRY_FAILED, the estimate of the next
// sync, its syncs, and a sync's items with their payloads. A running sync refreshes itself.
import { get, post } from "../api.js";
import { h, replace, table, timeEl, time, num, bytes, badge, dl, section, pager, errorBox, notice, pollUntil, duration } from "../ui.js";

const FEEDS = "/data/foundation/export/feeds";
const PAGE = 50;
const mayManage = (role) => role === null || role === "admin";

function destination(d) {
  return d.type === "s3" ? `S3 ${d.uri} (${d.format})` : `webhook ${d.url}`;
}

function lag(state) {
  const p = state.pending;
  if (!p) return "—";
  return p.rows || p.batches ? `${num(p.rows)} rows in ${num(p.batches)} batches waiting (${p.mode})` : "up to date";
}

export async function list({ main, query, navigate, signal }) {
  const start = Number(query.get("start") || 0);
  const { feeds } = await get(FEEDS, { limit: PAGE + 1, start }, { signal });
  replace(
    main,
    h("h1", {}, "Export feeds"),
    table(
      [
        { title: "Feed", cell: (f) => h("a", { href: `feeds/${f.id}` }, f.name) },
        { title: "Dataset", cell: (f) => h("a", { href: `datasets/${f.datasetId}` }, f.datasetId) },
        { title: "Destination", cell: (f) => destination(f.destination) },
        { title: "Last sync", cell: (f) => (f.state.lastSync ? [badge(f.state.lastSync.status), " ", time(f.state.lastSync.ended || f.state.lastSync.started)] : "never") },
        { title: "Behind", cell: (f) => lag(f.state) },
        { title: "Failed items", cell: (f) => num(f.state.failedItems) },
      ],
      feeds.slice(0, PAGE),
      { empty: "No feeds yet. Create one with the API or `batchgate feeds create`." },
    ),
    pager(start, PAGE, feeds.length > PAGE, (s) => navigate(`feeds?start=${s}`)),
  );
}

function syncFacts(s) {
  return dl([
    ["Sync", h("code", {}, s.id)],
    ["Mode", s.mode],
    ["Status", badge(s.status)],
    ["Started", timeEl(s.started)],
    ["Took", duration(s.started, s.ended)],
    ["Rows", `${num(s.rows.upserted)} upserted, ${num(s.rows.deleted)} deleted`],
    ["Items", `${num(s.items.sent)} of ${num(s.items.total)} sent, ${num(s.items.failed)} failed, ${num(s.items.retried)} retried`],
    s.bytes !== undefined ? ["Bytes", bytes(s.bytes)] : null,
    s.message ? ["Message", s.message] : null,
  ]);
}

export async function detail(ctx) {
  const { main, params, signal, query, navigate } = ctx;
  const [id] = params;
  const role = await ctx.role();
  const syncId = query.get("sync");
  const message = query.get("msg") || "";
  const estimateBox = h("div", { "aria-live": "polite" });
  const out = h("div", { "aria-live": "polite" });

  const load = async () => {
    const [feed, { syncs }] = await Promise.all([
      get(`${FEEDS}/${encodeURIComponent(id)}`, {}, { signal }),
      get(`${FEEDS}/${encodeURIComponent(id)}/syncs`, { limit: 20 }, { signal }),
    ]);
    const shownId = syncId || (syncs[0] && syncs[0].id);
    const shown = shownId ? await get(`${FEEDS}/${id}/syncs/${shownId}`, {}, { signal }) : null;
    const items = shown ? (await get(`${FEEDS}/${id}/syncs/${shownId}/items`, {}, { signal })).items : [];
    return { feed, syncs, shown, items };
  };
  const act = (action) => async () => {
    try {
      const { syncId: started } = await post(`${FEEDS}/${id}`, { action });
      navigate(`feeds/${id}?sync=${started}&msg=${encodeURIComponent(`${action} started.`)}`);
    } catch (e) {
      replace(out, errorBox(e));
    }
  };
  const estimate = (mode) => async () => {
    try {
      const e = await get(`${FEEDS}/${id}/estimate`, { mode });
      replace(estimateBox, notice(`A ${mode} sync now: about ${num(e.rows)} rows, ${bytes(e.bytes)}, ${num(e.seconds)} s${e.measured === false ? " (not measured yet: a guess)" : ""}.`));
    } catch (e) {
      replace(estimateBox, errorBox(e));
    }
  };
  const draw = ({ feed, syncs, shown, items }) => {
    const st = feed.state;
    const running = st.syncing || (shown && shown.status === "running");
    replace(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "feeds" }, "Feeds"), " / ", feed.name),
      h("h1", {}, feed.name),
      message ? notice(message) : null,
      running ? h("p", { class: "live", role: "status" }, "A sync is running: this page updates by itself.") : null,
      h(
        "div",
        { class: "actions" },
        mayManage(role)
          ? [
              h("button", { onclick: act("SYNC"), disabled: !!st.syncing }, "Sync now"),
              h("button", { class: "secondary", onclick: act("FULL_SYNC"), disabled: !!st.syncing }, "Full resync"),
              h("button", { class: "secondary", onclick: act("RETRY_FAILED"), disabled: !!st.syncing || !st.failedItems }, "Retry failed"),
            ]
          : null,
        h("button", { class: "secondary", onclick: estimate("incremental") }, "Estimate next sync"),
        h("button", { class: "secondary", onclick: estimate("full") }, "Estimate full sync"),
        out,
      ),
      estimateBox,
      dl([
        ["Id", h("code", {}, feed.id)],
        ["Dataset", h("a", { href: `datasets/${feed.datasetId}` }, feed.datasetId)],
        ["Columns", feed.columns ? feed.columns.join(", ") : "all"],
        ["Destination", destination(feed.destination)],
        ["Last sync", st.lastSync ? [badge(st.lastSync.status), " ", st.lastSync.mode, ", ", timeEl(st.lastSync.ended || st.lastSync.started)] : "never"],
        ["Watermark", st.watermark ? [`snapshot ${st.watermark.snapshot}`, st.watermark.batch ? [", batch ", h("a", { href: `batches/${st.watermark.batch}` }, st.watermark.batch)] : "", st.watermark.time ? [", ", timeEl(st.watermark.time)] : ""] : "none: the next sync is full"],
        ["Behind", lag(st)],
        ["Failed items", st.failedItems ? `${num(st.failedItems)} owed by ${(st.owedSyncs || []).length} sync(s)` : "none"],
        st.rowsPerSecond ? ["Throughput", `${num(Math.round(st.rowsPerSecond))} rows/s`] : null,
      ]),
      section(
        "Syncs",
        table(
          [
            { title: "Sync", cell: (s) => h("a", { href: `feeds/${id}?sync=${s.id}`, "aria-current": shown && s.id === shown.id ? "true" : null }, s.id) },
            { title: "Mode", cell: (s) => s.mode },
            { title: "Status", cell: (s) => badge(s.status) },
            { title: "Started", cell: (s) => timeEl(s.started) },
            { title: "Rows", cell: (s) => `${num(s.rows.upserted)} / ${num(s.rows.deleted)} deleted` },
            { title: "Items", cell: (s) => `${num(s.items.sent)}/${num(s.items.total)}${s.items.failed ? `, ${num(s.items.failed)} failed` : ""}` },
          ],
          syncs,
          { empty: "No syncs yet." },
        ),
      ),
      shown
        ? section(
            `Sync ${shown.id}`,
            syncFacts(shown),
            (shown.errors || []).length ? table([{ title: "Error", cell: (e) => (typeof e === "string" ? e : JSON.stringify(e)) }], shown.errors) : null,
            table(
              [
                { title: "Item", cell: (i) => String(i.id) },
                { title: "Status", cell: (i) => badge(i.status) },
                { title: "Op", cell: (i) => i.op },
                { title: "Rows", cell: (i) => num(i.rows) },
                { title: "Bytes", cell: (i) => bytes(i.bytes) },
                { title: "Attempts", cell: (i) => num(i.attempts) },
                { title: "Last error", cell: (i) => i.lastError || "" },
                { title: "Where", cell: (i) => (i.target ? h("code", { class: "wrap" }, i.target) : "") },
                // A presigned S3 URL: another origin, so a link to open, not a fetch of this page.
                { title: "Payload", cell: (i) => (i.payload ? h("a", { href: i.payload, target: "_blank", rel: "noopener noreferrer" }, "payload") : "") },
              ],
              items,
              { empty: "No items: nothing to send." },
            ),
          )
        : null,
    );
  };
  await pollUntil(
    async () => {
      const v = await load();
      draw(v);
      return v;
    },
    (v) => !v.feed.state.syncing && !(v.shown && v.shown.status === "running"),
    signal,
    1500,
  );
}
