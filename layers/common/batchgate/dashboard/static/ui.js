// DOM helpers, formatting and the few widgets every view shares. No framework: views build
// elements with h() and replace the main element's children.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Times in the browser's own zone, as people read them.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export function time(ms) {
  if (ms === undefined || ms === null || ms === "") return "—";
  const d = new Date(typeof ms === "string" && /^\d+$/.test(ms) ? Number(ms) : ms);
  return isNaN(d) ? String(ms) : dateTime.format(d);
}
export function timeEl(ms) {
  if (ms === undefined || ms === null) return "—";
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : h("time", { datetime: d.toISOString() }, time(ms));
}

export function duration(start, end) {
  if (!start) return "—";
  const s = Math.max(0, ((end || Date.now()) - start) / 1000);
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

const numberFmt = new Intl.NumberFormat();
export const num = (n) => (n === undefined || n === null ? "—" : numberFmt.format(n));

export function bytes(n) {
  if (n === undefined || n === null) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function badge(status) {
  return h("span", { class: `badge s-${String(status).toLowerCase()}` }, status);
}

export function table(columns, rows, { empty = "Nothing here yet.", caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
      h(
        "tbody",
        {},
        rows.map((r) => h("tr", {}, columns.map((c) => h("td", { "data-label": c.title }, c.cell(r))))),
      ),
    ),
  );
}

export function dl(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

export function errorBox(err) {
  const code = err && err.code ? `${err.code}: ` : "";
  return h("p", { class: "error", role: "alert" }, `${code}${(err && err.message) || err}`);
}

export function notice(text) {
  return h("p", { class: "notice", role: "status" }, text);
}

// A confirmation in a modal <dialog>: focus goes to it, Escape cancels, Tab stays inside.
export function confirmDialog(title, text, okLabel) {
  return new Promise((resolve) => {
    const dlg = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "dlg-title" },
      h("h2", { id: "dlg-title" }, title),
      h("p", {}, text),
      h(
        "form",
        { method: "dialog", class: "row" },
        h("button", { value: "cancel", class: "secondary" }, "Cancel"),
        h("button", { value: "ok", class: "danger" }, okLabel),
      ),
    );
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "ok");
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// Poll `load` until `isFinal` says so or the view is left (the signal aborts).
export async function pollUntil(load, isFinal, signal, ms = 2000) {
  for (;;) {
    const value = await load();
    if (isFinal(value) || signal.aborted) return value;
    await new Promise((r) => {
      const t = setTimeout(r, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        r();
      });
    });
    if (signal.aborted) return value;
  }
}

// Pager over the API's offset paging: `start` and `limit`; `more` when a page came back full.
export function pager(start, limit, more, go) {
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("button", { class: "secondary", disabled: start <= 0, onclick: () => go(Math.max(0, start - limit)) }, "← Newer"),
    h("span", { class: "muted" }, `${num(start + 1)}–${num(start + limit)}`),
    h("button", { class: "secondary", disabled: !more, onclick: () => go(start + limit) }, "Older →"),
  );
}

export function download(blob, name) {
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}
