"""The functions of template.yaml: each one's code folder and the layers it runs with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchgate_tools.layerbuild.files import ROOT

TEMPLATE = ROOT / "template.yaml"


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: str
    layers: list[str]  # layer folder names under layers/, e.g. ["dependencies", "common"]


def template_functions(template: Path = TEMPLATE) -> list[FunctionSpec]:
    from batchgate_tools.template import load_template  # PyYAML: build machine only

    t = load_template(template)
    resources: dict[str, Any] = t.get("Resources") or {}
    layer_dirs = {
        lid: Path(str(r["Properties"]["ContentUri"])).name
        for lid, r in resources.items()
        if r.get("Type") == "AWS::Serverless::LayerVersion"
    }
    global_layers = ((t.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    specs = []
    for lid, r in resources.items():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        props = r.get("Properties") or {}
        # SAM appends a function's own Layers to the Globals list.
        refs = [*global_layers, *(props.get("Layers") or [])]
        names = [layer_dirs.get(ref["Ref"], str(ref)) if isinstance(ref, dict) else str(ref) for ref in refs]
        specs.append(FunctionSpec(lid, str(props.get("CodeUri", "")), names))
    return specs
