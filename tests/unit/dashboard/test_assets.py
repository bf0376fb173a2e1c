"""The dashboard's page and files: deep links, ETags, security headers, what the page may load."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from batchgate.dashboard import assets
from batchgate.dashboard.assets import STATIC, base_href, serve

LAMBDA_RESPONSE_MAX = 6 * 1024 * 1024


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/ui", "ui/"),
        ("/ui/", "./"),
        ("/ui/batches", "./"),
        ("/ui/batches/", "../"),
        ("/ui/batches/abc", "../"),
        ("/ui/runs/abc/", "../../"),
    ],
)
def test_every_view_url_answers_the_page_with_a_base_that_resolves_to_ui(path: str, base: str) -> None:
    assert base_href(path) == base
    a = serve(path)
    assert a.status == 200 and a.content_type.startswith("text/html")
    assert f'<base href="{base}">'.encode() in a.body
    # The base, resolved against the page's URL under any prefix, is the app's root.
    from urllib.parse import urljoin

    assert urljoin(f"https://h/prod{path}", base) == "https://h/prod/ui/"


@pytest.mark.parametrize("view", sorted(assets.VIEWS))
def test_each_view_is_a_deep_link(view: str) -> None:
    assert serve(f"/ui/{view}").status == 200
    assert serve(f"/ui/{view}/some-id").status == 200


@pytest.mark.parametrize(
    "path",
    ["/ui/nope", "/ui/static/missing.js", "/ui/static/../assets.py", "/uix", "/ui/static/views/../../x"],
)
def test_unknown_paths_are_404(path: str) -> None:
    assert serve(path).status == 404


def test_assets_have_strong_etags_and_answer_304_when_unchanged() -> None:
    a = serve("/ui/static/app.js")
    assert a.status == 200 and a.content_type.startswith("text/javascript")
    etag = a.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert serve("/ui/static/app.js", etag).status == 304
    assert serve("/ui/static/app.js", etag).body == b""
    assert serve("/ui/static/app.js", f'"other", W/{etag}').status == 304
    assert serve("/ui/static/app.js", '"other"').status == 200
    # The page's tag depends on its base, so a deep link's copy is not taken for /ui's.
    assert serve("/ui").headers["ETag"] != serve("/ui/batches/x").headers["ETag"]
    assert serve("/ui/batches/x", serve("/ui/batches/y").headers["ETag"]).status == 304


@pytest.mark.parametrize("path", ["/ui", "/ui/batches/x", "/ui/static/app.css", "/ui/nope"])
def test_security_headers_on_every_answer(path: str) -> None:
    h = serve(path).headers
    csp = {d.split()[0]: d.split()[1:] for d in (x.strip() for x in h["Content-Security-Policy"].split(";"))}
    assert csp["default-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in h["Content-Security-Policy"]
    assert "'unsafe-eval'" not in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Cache-Control"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.inline += [k for k in a if k.startswith("on") or k == "style"]
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True
        self.urls += [v for k, v in a.items() if k in ("src", "href") and v]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script body")


def test_the_page_has_no_inline_script_or_style_and_loads_only_its_own_files() -> None:
    page = _Page()
    page.feed(serve("/ui").body.decode())
    assert page.scripts and all(s.get("src") for s in page.scripts)
    assert page.inline == []
    for u in page.urls:
        assert not re.match(r"^[a-z]+:|^//", u), f"{u} is not from this origin"
        if u.startswith("static/"):
            assert serve(f"/ui/{u}").status == 200, u


def _imports(js: Path) -> list[str]:
    return re.findall(r"""(?:^|\n)\s*import\s[^;]*?from\s+["']([^"']+)["']""", js.read_text())


def test_every_module_import_is_a_relative_file_that_is_served() -> None:
    modules = sorted(STATIC.rglob("*.js"))
    assert modules
    for js in modules:
        for spec in _imports(js):
            assert spec.startswith("./") or spec.startswith("../"), f"{js.name} imports {spec}"
            target = (js.parent / spec).resolve()
            rel = target.relative_to(STATIC.resolve()).as_posix()
            assert serve(f"/ui/static/{rel}").status == 200, f"{js.name} imports {spec}"
        # The SVG namespace is a name, not a place anything is loaded from.
        text = js.read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text, f"{js.name} names another origin"
        assert "eval(" not in text and "new Function" not in text


def test_every_file_is_served_and_is_utf8_text() -> None:
    # The API function sends them as text (no base64): a binary file would be mangled.
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    for p in files:
        p.read_bytes().decode("utf-8")
        assert (
            serve(f"/ui/static/{p.relative_to(STATIC).as_posix()}").status == 200 or p.name == "index.html"
        ), p


def test_assets_are_small_for_a_lambda_answer() -> None:
    total = assets.total_bytes()
    assert 0 < total < 512 * 1024, total
    assert all(
        len(serve(f"/ui/static/{p.relative_to(STATIC).as_posix()}").body) < LAMBDA_RESPONSE_MAX
        for p in STATIC.rglob("*.*")
    )


def _event(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "resource": "/ui/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers or {},
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"requestId": "r1", "path": f"/prod{path}", "stage": "prod"},
        "body": None,
        "isBase64Encoded": False,
    }


def _headers(out: dict[str, Any]) -> dict[str, str]:
    return {
        **(out.get("headers") or {}),
        **{k: v[0] for k, v in (out.get("multiValueHeaders") or {}).items()},
    }


def test_the_api_function_serves_the_dashboard_without_a_caller_and_leaves_it_out_of_openapi() -> None:
    from batchgate.api.app import app, resolve

    out = resolve(_event("/ui/batches/abc"), None)  # type: ignore[arg-type]
    assert out["statusCode"] == 200 and out["isBase64Encoded"] is False
    body = out["body"].encode()
    assert b'<base href="../">' in body
    assert _headers(out)["X-Content-Type-Options"] == "nosniff"
    # The page's tag does not match a module's: 200.
    again = resolve(_event("/ui/static/views/batches.js", {"If-None-Match": _headers(out)["ETag"]}), None)  # type: ignore[arg-type]
    assert again["statusCode"] == 200
    etag = _headers(again)["ETag"]
    assert resolve(_event("/ui/static/views/batches.js", {"if-none-match": etag}), None)["statusCode"] == 304  # type: ignore[arg-type]
    assert resolve(_event("/ui/a/b/c/d"), None)["statusCode"] == 404  # type: ignore[arg-type]
    assert resolve(_event("/ui/runs/a/b/c"), None)["statusCode"] == 200  # type: ignore[arg-type]
    assert resolve({**_event("/ui"), "httpMethod": "POST"}, None)["statusCode"] == 404  # type: ignore[arg-type]
    assert not [p for p in app.get_openapi_schema().paths or {} if p.startswith("/ui")]
