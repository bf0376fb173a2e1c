"""What ``GET /ui…`` answers: the app's page for every view's URL (deep links), its static files
with strong ETags, and the security headers. Pure: no AWS, no powertools; the route hands in
the path and ``If-None-Match`` and sends back what this returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui"
# The views the app routes to (static/app.js): their URLs answer the page, so a bookmark or a
# shared link opens the view. Anything else under /ui is a 404, not a blank app.
VIEWS = frozenset({"datasets", "batches", "jobs", "runs", "feeds", "bundles", "charts", "login"})
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything from this origin, nothing inline (no 'unsafe-inline' for scripts or styles), no
# framing (clickjacking on the action buttons), forms and <base> only to this origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Asset URLs carry no content hash (no build step), so every load revalidates: with the ETag
# that costs a 304 with no body.
CACHE_CONTROL = "no-cache"
BASE_MARK = "<!--base-->"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: str
    etag: str


def etag_of(body: bytes) -> str:
    """A strong ETag: the same bytes, the same tag, whichever Lambda instance answers."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@lru_cache(maxsize=1)
def _files() -> dict[str, _File]:
    """Every static file, read once per process (they ship inside the package)."""
    out: dict[str, _File] = {}
    for p in sorted(STATIC.rglob("*")):
        if p.is_file() and p.suffix in TYPES:
            body = p.read_bytes()
            out[p.relative_to(STATIC).as_posix()] = _File(body, TYPES[p.suffix], etag_of(body))
    return out


def total_bytes() -> int:
    """The weight of every asset the app can load (docs/dashboard.md reports it)."""
    return sum(len(f.body) for f in _files().values())


def base_href(path: str) -> str:
    """The page's ``<base href>``, relative to the URL it was asked at, so asset and API URLs
    resolve under whatever prefix the API sits behind (API Gateway's ``/{stage}``, a custom
    domain's base path, none locally) without the server knowing it."""
    rest = path[len(PREFIX) :]
    if rest in ("", "/"):
        return "ui/" if rest == "" else "./"
    depth = rest.strip("/").count("/") + (1 if rest.endswith("/") else 0)
    return "./" if depth == 0 else "../" * depth


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # A weak comparison, as RFC 9110 asks for If-None-Match (proxies may weaken our tag).
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags


def _answer(body: bytes, content_type: str, etag: str, if_none_match: str | None) -> Answer:
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": etag}
    if _matches(if_none_match, etag):
        return Answer(304, content_type, b"", headers)
    return Answer(200, content_type, body, headers)


def not_found() -> Answer:
    body = b"Not found. The dashboard is at /ui.\n"
    return Answer(
        404, "text/plain; charset=utf-8", body, {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL}
    )


def serve(path: str, if_none_match: str | None = None) -> Answer:
    """The answer to ``GET {path}``, a path under ``/ui``."""
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return not_found()
    rest = path[len(PREFIX) :].strip("/")
    if rest.startswith("static/"):
        f = _files().get(rest.removeprefix("static/"))
        if f is None or ".." in rest.split("/"):
            return not_found()
        return _answer(f.body, f.content_type, f.etag, if_none_match)
    first = rest.split("/", 1)[0]
    if rest and first not in VIEWS:
        return not_found()
    index = _files()["index.html"]
    body = index.body.replace(BASE_MARK.encode(), f'<base href="{base_href(path)}">'.encode(), 1)
    return _answer(body, index.content_type, etag_of(body), if_none_match)
