"""The command line: build both layers and report their size, or build one layer or one function.

python -m batchgate_tools.layerbuild --out build/layers [--report] [--json PATH]
    both layers into OUT/dependencies/python and OUT/common/python, then the size of each
    layer and of each function of template.yaml with its layers; exits 1 if one exceeds
    Lambda's 250 MB unzipped limit or if a safety check fails.
python -m batchgate_tools.layerbuild --layer dependencies|common --into DIR
python -m batchgate_tools.layerbuild --function SRC --into DIR
    what the SAM ``BuildMethod: makefile`` targets run: one layer into DIR/python, or one
    function's code into DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from batchgate_tools.layerbuild.build import build_common, build_dependencies, build_function
from batchgate_tools.layerbuild.files import ROOT, BuildError, rel_to_root
from batchgate_tools.layerbuild.imports import check_imports
from batchgate_tools.layerbuild.report import format_report, mib, size_report
from batchgate_tools.layerbuild.template import template_functions

DEFAULT_JSON = ROOT / "build" / "layer-sizes.json"


def build_all(out: Path) -> dict[str, Any]:
    deps = build_dependencies(out / "dependencies")
    common = build_common(out / "common")
    imports = check_imports(
        common.path / "python" / "batchgate",
        deps.path / "python",
        [ROOT / s.code_uri for s in template_functions()],
    )
    return size_report(out, [deps, common], imports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m batchgate_tools.layerbuild",
        description="Build the Lambda layers and check their size.",
    )
    parser.add_argument("--out", type=Path, help="build both layers under OUT and check sizes")
    parser.add_argument("--report", action="store_true", help="print the sizes and write them as JSON")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"JSON report path ({rel_to_root(DEFAULT_JSON)})"
    )
    parser.add_argument(
        "--layer", choices=["dependencies", "common"], help="build one layer into INTO/python"
    )
    parser.add_argument("--function", type=Path, help="copy one function's code into INTO")
    parser.add_argument("--into", type=Path, help="target of --layer / --function (SAM's $ARTIFACTS_DIR)")
    args = parser.parse_args(argv)
    try:
        if args.layer or args.function:
            if not args.into:
                parser.error("--layer and --function need --into")
            if args.layer == "dependencies":
                layer = build_dependencies(args.into)
                print(
                    f"dependencies layer: {mib(layer.bytes)} (before stripping {mib(layer.installed_bytes)})"
                )
            elif args.layer == "common":
                build_common(args.into)
            else:
                build_function(args.function, args.into)
            return 0
        out = args.out or ROOT / "build" / "layers"
        report = build_all(out.resolve())
    except BuildError as exc:
        print(f"layerbuild: {exc}", file=sys.stderr)
        return 1
    if args.report:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(format_report(report))
        print(f"\nwritten to {rel_to_root(args.json)}")
    if not report["ok"]:
        if not args.report:
            print(format_report(report), file=sys.stderr)
        print(
            "layerbuild: a function does not fit in Lambda's limit or imports what is not deployed",
            file=sys.stderr,
        )
        return 1
    return 0
