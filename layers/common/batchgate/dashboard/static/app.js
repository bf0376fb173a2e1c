// The app shell: login, navigation, and a router from the URL (relative to <base href>) to a
// view. Every view has its own URL, so it can be bookmarked and shared.
import { appRoot, clearSession, forgetRole, role, saveSession, session, whenAuthLost, call } from "./api.js";
import { h, replace, errorBox, notice } from "./ui.js";
import * as datasets from "./views/datasets.js";
import * as batches from "./views/batches.js";
import * as jobs from "./views/jobs.js";
import * as feeds from "./views/feeds.js";
import * as charts from "./views/charts.js";
import * as bundles from "./views/bundles.js";

// Views in the navigation, in order. A view whose API is not there is not listed (and not routed).
const NAV = [
  ["datasets", "Datasets"],
  ["batches", "Batches"],
  ["jobs", "Jobs"],
  ["runs", "Runs"],
  ["feeds", "Feeds"],
  ["bundles", "Bundles"],
  ["charts", "Charts"],
];
const ROUTES = [
  [/^datasets\/?$/, datasets.list],
  [/^datasets\/([^/]+)$/, datasets.detail],
  [/^batches\/?$/, batches.list],
  [/^batches\/([^/]+)$/, batches.detail],
  [/^jobs\/?$/, jobs.list],
  [/^jobs\/([^/]+)$/, jobs.detail],
  [/^runs\/?$/, jobs.runs],
  [/^runs\/([^/]+)$/, jobs.run],
  [/^feeds\/?$/, feeds.list],
  [/^feeds\/([^/]+)$/, feeds.detail],
  [/^bundles\/?$/, bundles.list],
  [/^bundles\/([^/]+)$/, bundles.detail],
  [/^charts\/?$/, charts.view],
];
// The local stack's tenant (batchgate up seeds org local, sandboxes prod and dev).
const DEFAULT_ORG = "local";
const DEFAULT_SANDBOX = "prod";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let current = null; // the AbortController of the view on screen
let pendingMessage = "";

function relPath() {
  const base = appRoot.pathname;
  const p = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : "";
  return decodeURIComponent(p.replace(/\/+$/, ""));
}

export function navigate(to, { replace: rep = false } = {}) {
  const u = new URL(to, appRoot);
  if (rep) history.replaceState(null, "", u);
  else history.pushState(null, "", u);
  render();
}

function renderNav(active) {
  const s = session();
  nav.hidden = !s;
  replace(
    nav,
    NAV.map(([path, label]) =>
      h("a", { href: path, "aria-current": active === path ? "page" : null }, label),
    ),
  );
  replace(
    who,
    s
      ? [
          h("span", { class: "muted" }, `${s.org} / ${s.sandbox}`),
          h("button", { class: "link", onclick: logout }, "Log out"),
        ]
      : [],
  );
}

function logout() {
  clearSession();
  forgetRole();
  navigate("login");
}

function login() {
  const sandboxDefault = DEFAULT_SANDBOX;
  const message = pendingMessage;
  pendingMessage = "";
  const field = (label, name, attrs = {}) =>
    h("p", {}, h("label", { for: `f-${name}` }, label), h("input", { id: `f-${name}`, name, required: true, ...attrs }));
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "login", onsubmit: submit },
    h("h1", {}, "Log in"),
    message ? notice(message) : null,
    h("p", { class: "muted" }, "Use an API key of this deployment (batchgate up prints one). The login lasts for this tab."),
    field("API key", "apiKey", { autocomplete: "username", spellcheck: "false" }),
    field("Token", "token", { type: "password", autocomplete: "current-password" }),
    field("Org", "org", { value: DEFAULT_ORG }),
    field("Sandbox", "sandbox", { value: sandboxDefault }),
    h("p", {}, h("button", { type: "submit" }, "Log in")),
    status,
  );
  async function submit(ev) {
    ev.preventDefault();
    const f = new FormData(form);
    const creds = Object.fromEntries(["apiKey", "token", "org", "sandbox"].map((k) => [k, String(f.get(k)).trim()]));
    replace(status, h("p", { class: "muted" }, "Checking the key…"));
    try {
      // A cheap call that every role may make proves the key, token, org and sandbox together.
      await call("GET", "/data/foundation/catalog/dataSets", { query: { limit: 1 }, creds });
    } catch (e) {
      replace(
        status,
        errorBox(
          e.status === 401
            ? { message: "That key and token were refused. Check both and try again." }
            : e.status === 403
              ? { message: `This key may not use org ${creds.org} / sandbox ${creds.sandbox}.` }
              : e,
        ),
      );
      return;
    }
    saveSession(creds);
    forgetRole();
    const next = new URLSearchParams(location.search).get("next");
    navigate(next && !next.startsWith("login") && !/^[a-z]+:|^\/\//i.test(next) ? next : "datasets", { replace: true });
  }
  renderNav(null);
  replace(main, form);
  form.querySelector("input").focus();
}

async function render() {
  if (current) current.abort();
  current = new AbortController();
  const path = relPath();
  if (path === "login" || !session()) {
    if (path !== "login") {
      const next = path + location.search;
      history.replaceState(null, "", new URL(`login${next ? `?next=${encodeURIComponent(next)}` : ""}`, appRoot));
    }
    login();
    return;
  }
  if (path === "") return navigate("datasets", { replace: true });
  const found = ROUTES.map(([re, view]) => [path.match(re), view]).find(([m]) => m);
  renderNav(path.split("/")[0]);
  if (!found) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "There is no such page. "), h("a", { href: "datasets" }, "Datasets"));
    return;
  }
  const [match, view] = found;
  const ctx = {
    params: match.slice(1).map(decodeURIComponent),
    query: new URLSearchParams(location.search),
    signal: current.signal,
    main,
    navigate,
    role,
  };
  replace(main, h("p", { class: "muted" }, "Loading…"));
  try {
    await view(ctx);
  } catch (e) {
    if (ctx.signal.aborted || e.isAuth) return;
    replace(main, h("h1", {}, "Something went wrong"), errorBox(e));
  }
}

whenAuthLost((message) => {
  pendingMessage = message;
  const path = relPath();
  history.replaceState(null, "", new URL(`login${path && path !== "login" ? `?next=${encodeURIComponent(path + location.search)}` : ""}`, appRoot));
  render();
});

// In-app links are plain <a href> relative to <base>: follow them without reloading the page.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download") || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  const u = new URL(a.href);
  if (u.origin !== location.origin || !u.pathname.startsWith(appRoot.pathname)) return;
  ev.preventDefault();
  navigate(u.href);
  main.focus();
});
window.addEventListener("popstate", render);
render();
