"""The local API Gateway serves without credentials exactly the paths template.yaml exempts from
the authorizer (`Auth: {Authorizer: NONE}`), so the dashboard and the API's description behave
the same on a laptop and in AWS."""

from __future__ import annotations

from batchgate_tools.local.http_api import PUBLIC_PATHS, is_public
from batchgate_tools.template import load_template


def _public_in_template() -> set[str]:
    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]
    return {
        e["Properties"]["Path"]
        for e in events.values()
        if (e["Properties"].get("Auth") or {}).get("Authorizer") == "NONE"
    }


def test_local_public_paths_are_the_templates() -> None:
    # API Gateway's greedy {proxy+} under a public path is what "and under it" means locally.
    template = {p.removesuffix("/{proxy+}") for p in _public_in_template()}
    assert template == set(PUBLIC_PATHS)
    for path in _public_in_template():
        if path.endswith("/{proxy+}"):
            assert path.removesuffix("/{proxy+}") in _public_in_template(), f"{path} without its parent"


def test_is_public_takes_the_path_and_what_is_under_it_only() -> None:
    assert is_public("/ui") and is_public("/ui/") and is_public("/ui/batches/abc")
    assert is_public("/openapi.json") and is_public("/health")
    assert not is_public("/uix") and not is_public("/data/foundation/catalog/batches")
    assert not is_public("/") and not is_public("/u")
