// Scheduled jobs and their runs: the job list (status, next fire, last run), one job with
// ACTIVATE / DEACTIVATE / RUN now / edit (only while inactive, with its workflow's attribute
// form) / delete and its runs; the run history across jobs, searchable by job name; one run
// with its steps, their metrics and its batches. A running run refreshes itself.
import { get, post, call } from "../api.js";
import {
  h, replace, table, timeEl, num, badge, dl, section, pager, errorBox, notice, confirmDialog,
  pollUntil, duration,
} from "../ui.js";

const JOBS = "/data/foundation/schedules/jobs";
const RUNS = "/data/foundation/schedules/runs";
const PAGE = 50;
const qs = (q) => new URLSearchParams(Object.entries(q).filter(([, v]) => v !== "" && v !== undefined && v !== null));
// Managing jobs is the admin's (core/roles.py); null: the role could not be read, the API decides.
const mayManage = (role) => role === null || role === "admin";

export async function list({ main, query, navigate, signal }) {
  const start = Number(query.get("start") || 0);
  const f = { name: query.get("name") || "", status: query.get("status") || "" };
  const { jobs } = await get(JOBS, { ...f, limit: PAGE + 1, start }, { signal });
  const name = h("input", { id: "j-name", type: "search", value: f.name, placeholder: "exact job name" });
  const status = h(
    "select",
    { id: "j-st" },
    h("option", { value: "" }, "any"),
    ["active", "inactive"].map((s) => h("option", { value: s, selected: s === f.status }, s)),
  );
  const go = (q) => navigate(`jobs?${qs(q)}`);
  replace(
    main,
    h("h1", {}, "Jobs"),
    h("p", {}, h("a", { href: "runs" }, "Run history of all jobs →")),
    h(
      "form",
      { class: "filters", onsubmit: (e) => (e.preventDefault(), go({ name: name.value.trim(), status: status.value })) },
      h("span", {}, h("label", { for: "j-name" }, "Name"), name),
      h("span", {}, h("label", { for: "j-st" }, "Status"), status),
      h("button", { type: "submit" }, "Apply"),
    ),
    table(
      [
        { title: "Job", cell: (j) => h("a", { href: `jobs/${j.id}` }, j.name) },
        { title: "Status", cell: (j) => [badge(j.status), j.runningRun ? [" ", badge("running")] : null] },
        { title: "Workflow", cell: (j) => j.workflow },
        { title: "Schedule", cell: (j) => h("code", {}, j.schedule.expression) },
        { title: "Next fire", cell: (j) => (j.nextFire ? timeEl(j.nextFire) : "—") },
        { title: "Last run", cell: (j) => (j.lastRun ? h("a", { href: `runs/${j.lastRun}` }, j.lastRun) : "never") },
      ],
      jobs.slice(0, PAGE),
      { empty: f.name || f.status ? "No job matches." : "No jobs yet. Create one with the API or `batchgate jobs create`." },
    ),
    pager(start, PAGE, jobs.length > PAGE, (s) => go({ ...f, start: s })),
  );
}

function runsTable(runs, withJob) {
  return table(
    [
      { title: "Run", cell: (r) => h("a", { href: `runs/${r.id}` }, r.id) },
      withJob ? { title: "Job", cell: (r) => (r.jobId ? h("a", { href: `jobs/${r.jobId}` }, r.jobName) : r.jobName) } : null,
      { title: "Status", cell: (r) => badge(r.status) },
      { title: "Trigger", cell: (r) => r.trigger },
      { title: "Started", cell: (r) => timeEl(r.started) },
      { title: "Took", cell: (r) => duration(r.started, r.ended) },
      { title: "Batches", cell: (r) => (r.batches || []).map((b) => [h("a", { href: `batches/${b}` }, b), " "]) },
      { title: "Message", cell: (r) => r.message || "" },
    ].filter(Boolean),
    runs,
    { empty: "No runs yet." },
  );
}

function input(attr, value) {
  const id = `a-${attr.name}`;
  const v = value === undefined || value === null ? "" : value;
  let el;
  if (attr.enum) {
    el = h("select", { id, name: attr.name },
      attr.required ? null : h("option", { value: "" }, "(default)"),
      attr.enum.map((o) => h("option", { value: o, selected: o === v }, o)));
  } else if (attr.type === "boolean") {
    el = h("input", { id, name: attr.name, type: "checkbox", checked: v === true });
  } else if (attr.type === "object" || attr.type === "array") {
    el = h("textarea", { id, name: attr.name, rows: 3 }, v === "" ? "" : JSON.stringify(v));
  } else {
    el = h("input", { id, name: attr.name, type: attr.type === "number" || attr.type === "integer" ? "number" : "text", step: "any", value: v, required: attr.required });
  }
  return h("p", {}, h("label", { for: id }, attr.name, attr.required ? " *" : ""), el, h("small", { class: "muted" }, attr.description));
}

function readAttr(attr, form) {
  const el = form.elements[attr.name];
  if (attr.type === "boolean") return el.checked;
  const raw = el.value.trim();
  if (raw === "") return undefined;
  if (attr.type === "number" || attr.type === "integer") return Number(raw);
  if (attr.type === "object" || attr.type === "array") return JSON.parse(raw);
  return raw;
}

function editForm(job, workflow, done) {
  const out = h("div", { "aria-live": "polite" });
  const s = job.schedule;
  const form = h(
    "form",
    { class: "form", onsubmit: submit },
    h("h2", {}, "Edit"),
    h("p", {}, h("label", { for: "e-desc" }, "Description"), h("input", { id: "e-desc", name: "description", value: job.description || "" })),
    h("p", {}, h("label", { for: "e-expr" }, "Schedule expression"), h("input", { id: "e-expr", name: "expression", value: s.expression, required: true }),
      h("small", { class: "muted" }, "rate(15 minutes), cron(0 3 * * ? *) or at(2026-12-01T09:00:00)")),
    h("p", {}, h("label", { for: "e-tz" }, "Time zone"), h("input", { id: "e-tz", name: "timezone", value: s.timezone || "UTC" })),
    h("p", {}, h("label", { for: "e-start" }, "Start (ISO-8601, optional)"), h("input", { id: "e-start", name: "start", value: s.start || "" })),
    h("p", {}, h("label", { for: "e-end" }, "End (ISO-8601, optional)"), h("input", { id: "e-end", name: "end", value: s.end || "" })),
    h("fieldset", {}, h("legend", {}, `Attributes of ${job.workflow}`), workflow.attributes.map((a) => input(a, job.attributes[a.name]))),
    h("p", { class: "row" }, h("button", { type: "submit" }, "Save")),
    out,
  );
  async function submit(ev) {
    ev.preventDefault();
    try {
      const attributes = {};
      for (const a of workflow.attributes) {
        const v = readAttr(a, form);
        if (v !== undefined) attributes[a.name] = v;
      }
      const schedule = { expression: form.elements.expression.value.trim(), timezone: form.elements.timezone.value.trim() || "UTC" };
      for (const k of ["start", "end"]) if (form.elements[k].value.trim()) schedule[k] = form.elements[k].value.trim();
      await call("PATCH", `${JOBS}/${job.id}`, { body: { description: form.elements.description.value, attributes, schedule } });
      done("Saved.");
    } catch (e) {
      replace(out, errorBox(e instanceof SyntaxError ? { message: `an attribute is not valid JSON: ${e.message}` } : e));
    }
  }
  return form;
}

export async function detail(ctx) {
  const { main, params, signal, navigate } = ctx;
  const [id] = params;
  const role = await ctx.role();
  const message = ctx.query.get("msg") || "";
  const draw = async () => {
    // Someone typing in the edit form keeps what they typed: the refresh waits.
    if (main.querySelector("form.form")?.contains(document.activeElement)) return null;
    const [job, { runs }, { workflows }] = await Promise.all([
      get(`${JOBS}/${encodeURIComponent(id)}`, {}, { signal }),
      get(RUNS, { jobId: id, limit: 20 }, { signal }),
      get("/data/foundation/schedules/workflows", {}, { signal }),
    ]);
    const workflow = workflows.find((w) => w.name === job.workflow);
    const out = h("div", { "aria-live": "polite" });
    const act = (action, confirmText) => async () => {
      if (confirmText && !(await confirmDialog(`${action} job?`, confirmText, action))) return;
      try {
        const r = await post(`${JOBS}/${job.id}`, { action });
        if (action === "RUN") return navigate(`runs/${r.runId}`);
        const said = action === "ACTIVATE" ? "Activated: the schedule is on." : "Deactivated: the schedule is off.";
        // Rendered again, so the page follows the job's new state (an active job refreshes).
        navigate(`jobs/${job.id}?msg=${encodeURIComponent(said)}`, { replace: true });
      } catch (e) {
        replace(out, errorBox(e));
      }
    };
    const remove = async () => {
      if (!(await confirmDialog("Delete job?", `Job ${job.name} goes; its runs stay in the history.`, "Delete"))) return;
      try {
        await call("DELETE", `${JOBS}/${job.id}`);
        navigate("jobs");
      } catch (e) {
        replace(out, errorBox(e));
      }
    };
    const manage = mayManage(role);
    replace(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "jobs" }, "Jobs"), " / ", job.name),
      h("h1", {}, job.name, " ", badge(job.status)),
      message ? notice(message) : null,
      manage
        ? h(
            "div",
            { class: "actions" },
            job.status === "inactive" ? h("button", { onclick: act("ACTIVATE") }, "Activate") : h("button", { class: "secondary", onclick: act("DEACTIVATE") }, "Deactivate"),
            h("button", { class: "secondary", onclick: act("RUN") }, "Run now"),
            job.status === "inactive" ? h("button", { class: "danger", onclick: remove }, "Delete") : null,
            out,
          )
        : null,
      dl([
        ["Id", h("code", {}, job.id)],
        ["Description", job.description || "—"],
        ["Workflow", `${job.workflow}${workflow ? ` (steps: ${workflow.steps.join(" → ")})` : ""}`],
        ["Schedule", [h("code", {}, job.schedule.expression), ` in ${job.schedule.timezone || "UTC"}`, job.schedule.start ? `, from ${job.schedule.start}` : "", job.schedule.end ? `, until ${job.schedule.end}` : ""]],
        ["Next fire", job.nextFire ? timeEl(job.nextFire) : job.status === "active" ? "no tick left" : "— (inactive)"],
        ["Running now", job.runningRun ? h("a", { href: `runs/${job.runningRun}` }, job.runningRun) : "no"],
        ["Last run", job.lastRun ? h("a", { href: `runs/${job.lastRun}` }, job.lastRun) : "never"],
        ["Created", [timeEl(job.created), ` by ${job.createdUser}`]],
        ["Updated", [timeEl(job.updated), ` by ${job.updatedUser}`]],
      ]),
      section("Attributes", table([{ title: "Name", cell: ([k]) => h("code", {}, k) }, { title: "Value", cell: ([, v]) => (typeof v === "object" ? JSON.stringify(v) : String(v)) }], Object.entries(job.attributes))),
      section("Runs", runsTable(runs, false), h("p", {}, h("a", { href: `runs?jobName=${encodeURIComponent(job.name)}` }, "All runs of this job →"))),
      manage && job.status === "inactive" && workflow
        ? editForm(job, workflow, (m) => navigate(`jobs/${job.id}?msg=${encodeURIComponent(m)}`, { replace: true }))
        : manage
          ? h("p", { class: "muted" }, "Deactivate the job to edit it.")
          : null,
    );
    return job;
  };
  // An active job fires by itself and a running run ends: both refresh the page.
  await pollUntil(draw, (job) => job !== null && job.status !== "active" && !job.runningRun, signal, 3000);
}

export async function runs({ main, query, navigate, signal }) {
  const start = Number(query.get("start") || 0);
  const f = { jobName: query.get("jobName") || "", status: query.get("status") || "" };
  const { runs: found } = await get(RUNS, { ...f, limit: PAGE + 1, start }, { signal });
  const name = h("input", { id: "r-job", type: "search", value: f.jobName, placeholder: "a job's name" });
  const status = h(
    "select",
    { id: "r-st" },
    h("option", { value: "" }, "any"),
    ["running", "success", "failed", "skipped"].map((s) => h("option", { value: s, selected: s === f.status }, s)),
  );
  const go = (q) => navigate(`runs?${qs(q)}`);
  replace(
    main,
    h("h1", {}, "Runs"),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (e) => (e.preventDefault(), go({ jobName: name.value.trim(), status: status.value })) },
      h("span", {}, h("label", { for: "r-job" }, "Job name"), name),
      h("span", {}, h("label", { for: "r-st" }, "Status"), status),
      h("button", { type: "submit" }, "Search"),
    ),
    runsTable(found.slice(0, PAGE), true),
    pager(start, PAGE, found.length > PAGE, (s) => go({ ...f, start: s })),
  );
}

export async function run({ main, params, signal }) {
  const [id] = params;
  const draw = (r) =>
    replace(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "runs" }, "Runs"), " / ", r.id),
      h("h1", {}, "Run ", h("code", {}, r.id), " ", badge(r.status)),
      r.status === "running" ? h("p", { class: "live", role: "status" }, "Running: this page updates by itself.") : null,
      dl([
        ["Job", r.jobId ? h("a", { href: `jobs/${r.jobId}` }, r.jobName) : r.jobName],
        ["Workflow", r.workflow],
        ["Trigger", r.trigger],
        r.scheduledTime ? ["Scheduled for", timeEl(r.scheduledTime)] : null,
        ["Started", timeEl(r.started)],
        ["Ended", r.ended ? timeEl(r.ended) : "—"],
        ["Took", duration(r.started, r.ended)],
        ["Message", r.message || "—"],
        ["Batches", (r.batches || []).length ? r.batches.map((b) => [h("a", { href: `batches/${b}` }, b), " "]) : "none"],
      ]),
      section(
        "Steps",
        table(
          [
            { title: "Step", cell: (s) => s.name },
            { title: "Status", cell: (s) => badge(s.status) },
            { title: "Started", cell: (s) => timeEl(s.started) },
            { title: "Took", cell: (s) => duration(s.started, s.ended) },
            { title: "Metrics", cell: (s) => Object.entries(s.metrics || {}).map(([k, v]) => `${k} ${num(v)}`).join(", ") },
            { title: "Message", cell: (s) => s.message || "" },
          ],
          r.steps || [],
          { empty: "No step has started yet." },
        ),
      ),
      (r.errors || []).length
        ? section("Errors", table([{ title: "Code", cell: (e) => h("code", {}, e.code) }, { title: "What", cell: (e) => e.description || e.message || "" }], r.errors))
        : null,
    );
  await pollUntil(
    async () => {
      const r = await get(`${RUNS}/${encodeURIComponent(id)}`, {}, { signal });
      draw(r);
      return r;
    },
    (r) => r.status !== "running",
    signal,
    1500,
  );
}
