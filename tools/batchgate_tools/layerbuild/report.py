"""The size report: each layer and each function of template.yaml with its layers, against
Lambda's unzipped limit, as a dict (written as JSON) and as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchgate_tools.layerbuild.build import LayerBuild, function_bytes
from batchgate_tools.layerbuild.files import ROOT
from batchgate_tools.layerbuild.imports import ImportReport
from batchgate_tools.layerbuild.strip import RUNTIME_SDK_FLOOR
from batchgate_tools.layerbuild.template import template_functions

# Lambda's quota: function code plus all its layers, unzipped. 250 MiB, in bytes.
LAMBDA_UNZIPPED_LIMIT = 262_144_000


def size_report(out: Path, layers: list[LayerBuild], imports: ImportReport) -> dict[str, Any]:
    sizes = {layer.name: layer.bytes for layer in layers}
    functions = {}
    warnings = list(imports.warnings)
    for spec in template_functions():
        code = ROOT / spec.code_uri
        code_bytes = function_bytes(code)
        missing = [n for n in spec.layers if n not in sizes]
        if missing:
            warnings.append(f"{spec.logical_id}: layers {missing} are not built here, not counted")
        if not (code / "app.py").exists():
            warnings.append(f"{spec.logical_id}: {spec.code_uri} has no app.py yet")
        total = code_bytes + sum(sizes.get(n, 0) for n in spec.layers)
        functions[spec.logical_id] = {
            "code_uri": spec.code_uri,
            "code_bytes": code_bytes,
            "layers": spec.layers,
            "total_bytes": total,
            "headroom_bytes": LAMBDA_UNZIPPED_LIMIT - total,
            "fits": total <= LAMBDA_UNZIPPED_LIMIT,
        }
    return {
        "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
        "out": str(out),
        "layers": {
            layer.name: {
                "bytes": layer.bytes,
                "before_strip_bytes": layer.installed_bytes,
                "files": layer.files,
                "stripped": [r.__dict__ for r in layer.stripped],
            }
            for layer in layers
        },
        "functions": functions,
        "distributions": next((la.distributions for la in layers if la.name == "dependencies"), {}),
        "runtime_sdk_floor": RUNTIME_SDK_FLOOR,
        "import_errors": imports.errors,
        "unimportable_on_lambda": imports.unimportable,
        "warnings": warnings,
        "ok": all(f["fits"] for f in functions.values()) and not imports.errors,
    }


def mib(n: int) -> str:
    return f"{n / 2**20:8.1f} MiB"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"Lambda limit (function + layers, unzipped): {mib(report['limit_bytes'])}", "", "layers:"]
    for name, layer in report["layers"].items():
        lines.append(
            f"  {name:<14}{mib(layer['bytes'])}   (before stripping {mib(layer['before_strip_bytes'])})"
        )
        for r in layer["stripped"]:
            lines.append(f"      - {r['rule']:<20}{mib(r['bytes'])}  {r['files']:>5} files   {r['reason']}")
    lines += ["", "functions (code + layers):"]
    for lid, f in report["functions"].items():
        flag = "ok" if f["fits"] else "TOO BIG"
        lines.append(
            f"  {lid:<26}{mib(f['total_bytes'])}  code {f['code_bytes']:>9,} B  "
            f"headroom {mib(f['headroom_bytes'])}  {flag}"
        )
    for e in report["import_errors"]:
        lines.append(f"ERROR   {e}")
    for w in report["warnings"]:
        lines.append(f"warning {w}")
    return "\n".join(lines)
