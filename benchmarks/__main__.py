"""``python -m benchmarks [--only NAME ...] [options]``: run every benchmark module, then print the summary.

A benchmark module is any ``benchmarks/*.py`` defining ``run(results, args)`` (or ``run(results)``);
it may define ``add_arguments(parser)`` for its options. Each module's entry in ``results`` is
written to ``benchmarks/results/{name}.json``.

After the modules, the summary (``benchmarks/_summary.py``) is printed from the results files,
each with its date: the peers table with batchgate's ratio against polars' (CSV, JSON Lines) and
against 0.8 (Parquet), the drop → success ratios against their goals with the timeline split, and
the cost per GB by format and memory size. ``--summary`` prints it alone, from the committed
results, without running anything.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks._summary import print_summary

HERE = Path(__file__).parent


def _modules() -> dict[str, Any]:
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{path.stem}")
        if callable(getattr(module, "run", None)):
            found[path.stem] = module
    return found


def main(argv: list[str] | None = None) -> None:
    root = str(HERE.parent)
    for p in (root, str(HERE.parent / "layers" / "common"), str(HERE.parent / "tools")):
        if p not in sys.path:
            sys.path.insert(0, p)
    modules = _modules()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(modules), help="run only this benchmark")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="only print the summary of benchmarks/results/*.json, run nothing",
    )
    for module in modules.values():
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    args = parser.parse_args(argv)
    results_dir = HERE / "results"
    if args.summary:
        print_summary(results_dir)
        return
    results_dir.mkdir(exist_ok=True)
    for name, module in modules.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        results: dict[str, Any] = {}
        if len(inspect.signature(module.run).parameters) >= 2:
            module.run(results, args)
        else:
            module.run(results)
        for key, value in results.items():
            (results_dir / f"{key}.json").write_text(json.dumps(value, indent=2, default=str) + "\n")
    print_summary(results_dir)


if __name__ == "__main__":
    main()
