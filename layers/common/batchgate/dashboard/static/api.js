// All data comes through the public API with the user's key. The key and token live in
// sessionStorage only: gone with the tab, never in a URL or a cookie.
const SESSION = "batchgate.session";

// <base href> points at the app's root (…/ui/); the API is its parent, whatever prefix
// (API Gateway stage, custom domain path) sits in front of both.
export const appRoot = new URL(document.baseURI);
export const apiRoot = new URL("../", appRoot);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  // The key no longer opens this org and sandbox: expired, disabled, wrong token or tenant.
  get isAuth() {
    return this.status === 401 || (this.status === 403 && this.code !== "BG-403-ROLE");
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(SESSION, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION);
}

let onAuthLost = () => {};
export function whenAuthLost(fn) {
  onAuthLost = fn;
}

function headers(s, extra) {
  return {
    Authorization: `Bearer ${s.token}`,
    "x-api-key": s.apiKey,
    "x-gw-ims-org-id": s.org,
    "x-sandbox-name": s.sandbox,
    ...extra,
  };
}

export function url(path, query) {
  const u = new URL(path.replace(/^\//, ""), apiRoot);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const one of Array.isArray(v) ? v : [v]) u.searchParams.append(k, one);
  }
  return u;
}

async function errorOf(r) {
  let code = `HTTP-${r.status}`;
  let message = r.statusText || `HTTP ${r.status}`;
  try {
    const body = await r.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && body.message) {
      message = body.message; // API Gateway's own answers: {"message": …}
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(r.status, code, message);
}

// One call with the session's credentials. `as` is "json" (default), "blob" or "text".
export async function call(method, path, { query, body, as = "json", extraHeaders, signal, creds } = {}) {
  const s = creds || session();
  if (!s) {
    onAuthLost("Please log in.");
    throw new ApiError(401, "BG-401", "not logged in");
  }
  const init = { method, headers: headers(s, extraHeaders), signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const r = await fetch(url(path, query), init);
  if (!r.ok) {
    const err = await errorOf(r);
    if (err.isAuth && !creds) {
      clearSession();
      onAuthLost(
        err.status === 401
          ? "Your key was refused (expired, disabled or a wrong token). Please log in again."
          : `This key may not use org ${s.org} / sandbox ${s.sandbox}. Please log in again.`,
      );
    }
    throw err;
  }
  if (r.status === 204) return null;
  if (as === "blob") return r.blob();
  if (as === "text") return r.text();
  return r.json();
}

export const get = (path, query, opts = {}) => call("GET", path, { ...opts, query });
export const post = (path, query, body, opts = {}) => call("POST", path, { ...opts, query, body });

// The key's role, read from the key listing (every role may list its org's keys, without
// tokens). null when it cannot be told: the buttons then show and the API has the last word.
let roleCache = null;
export async function role() {
  const s = session();
  if (!s) return null;
  if (roleCache && roleCache.key === s.apiKey) return roleCache.role;
  let found = null;
  try {
    const { keys } = await get("/data/foundation/keys");
    found = (keys.find((k) => k.id === s.apiKey) || {}).role || null;
  } catch (e) {
    if (e.isAuth) throw e;
  }
  roleCache = { key: s.apiKey, role: found };
  return found;
}
export function forgetRole() {
  roleCache = null;
}

// A download in ranges small enough to come back inline: above the API's inline limit a
// download is a redirect to S3, another origin, which the page's CSP (connect-src 'self')
// does not let it fetch.
const RANGE = 4 * 1024 * 1024;
export async function downloadBlob(path, { signal } = {}) {
  const s = session();
  const parts = [];
  let type = "application/octet-stream";
  for (let first = 0; ; first += RANGE) {
    const r = await fetch(url(path), { headers: headers(s, { Range: `bytes=${first}-${first + RANGE - 1}` }), signal });
    if (r.status === 416) break; // an empty file
    if (!r.ok) throw await errorOf(r);
    type = r.headers.get("Content-Type") || type;
    parts.push(await r.blob());
    const total = Number(((r.headers.get("Content-Range") || "").split("/")[1]) || NaN);
    if (r.status === 200 || !(first + RANGE < total)) break;
  }
  return new Blob(parts, { type });
}
