"""The summary ``python -m benchmarks`` prints: issue 18's three answers, from the results files.

1. peers (``results/peers.json``): per dataset, each case's median ratio (pyarrow parse + write ÷
   the case, > 1 is faster) and CPU seconds for CSV, JSON Lines and Parquet, and whether
   batchgate's ratio is at or above polars' for CSV and JSON Lines and at or above
   :data:`PARQUET_GOAL` for Parquet;
2. drop → success (``results/drop.json``): each dropped file's time to ``success`` ÷ the validator
   alone, against the goal the results carry, with the batch's timeline split;
3. cost (``results/sizing.json``): seconds and dollars per GB by format and memory size.

Every figure comes from the files as they are (the committed ones, or those a run just wrote), each
section saying its file's date; a missing file is said to be missing. Nothing here measures.
``python -m benchmarks --summary`` prints it without running anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = ("peers", "drop", "sizing")
# Issue 18 asks batchgate to match polars on CSV and JSON Lines, and to reach 0.8 of pyarrow's
# parse + write on Parquet (docs/performance.md). peers.json does not carry this goal; drop.json
# carries its own.
PARQUET_GOAL = 0.8
AGAINST_POLARS = ("csv", "json")
CASE_ORDER = ("arrow", "polars", "duckdb", "dlt", "batchgate")
CASE_NAMES = {
    "arrow": "arrow",
    "polars": "polars",
    "duckdb": "DuckDB",
    "dlt": "dlt",
    "batchgate": "batchgate",
}
FORMAT_NAMES = {"csv": "CSV", "json": "JSON Lines", "parquet": "Parquet"}

Results = Mapping[str, Any]


def load(results_dir: Path = RESULTS) -> dict[str, Results | None]:
    """``{name: contents}`` for peers, drop and sizing; ``None`` for a file that is not there."""
    out: dict[str, Results | None] = {}
    for name in NAMES:
        path = results_dir / f"{name}.json"
        out[name] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    return out


def summary(results: Mapping[str, Results | None]) -> str:
    """The three sections, as text."""
    sections = [
        _section("peers", results.get("peers"), peers_lines),
        _section("drop", results.get("drop"), drop_lines),
        _section("sizing", results.get("sizing"), sizing_lines),
    ]
    rule = "=" * 100
    return "\n".join([rule, "Summary (issue 18), from benchmarks/results/", rule, *sections])


def print_summary(results_dir: Path = RESULTS) -> None:
    print(summary(load(results_dir)), flush=True)


def _section(name: str, data: Results | None, lines: Callable[[Results], list[str]]) -> str:
    if data is None:
        return f'\n{name}: benchmarks/results/{name}.json is missing (make bench ARGS="--only {name}")'
    return "\n".join(["", *lines(data)])


def _date(data: Results) -> str:
    date = data.get("date")
    return f"run {date}" if date else "undated"


def _cell(value: Any, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


# -- peers -------------------------------------------------------------------------------------
def peers_lines(peers: Results) -> list[str]:
    lines = [
        f"Peers (benchmarks/results/peers.json, {_date(peers)}): {peers.get('rows', 0):,} rows,"
        f" medians of {peers.get('rounds', '?')} interleaved rounds, {peers.get('cpus', '?')} CPUs",
        "  ratio = pyarrow parse + write ÷ the case (> 1: faster); CPU s = the process's CPU seconds",
    ]
    missed: list[str] = []
    for kind, per_kind in peers.get("datasets", {}).items():
        formats: dict[str, Any] = per_kind.get("formats", {})
        head = "".join(f" | {FORMAT_NAMES.get(f, f) + ' ratio':>16} {'CPU s':>6}" for f in formats)
        lines += ["", f"  {kind} ({per_kind.get('bad_rows', 0):,} bad rows)", f"  {'case':10}{head}"]
        cases = [c for c in CASE_ORDER if any(c in per for per in formats.values())]
        cases += sorted({c for per in formats.values() for c in per if _is_case(per[c])} - set(cases))
        for case in cases:
            cells = ""
            for per in formats.values():
                r = per.get(case) or {}
                cells += f" | {_cell(r.get('ratio')):>16} {_cell(r.get('cpu_seconds')):>6}"
            lines.append(f"  {CASE_NAMES.get(case, case):10}{cells}")
        verdicts = peers_verdicts(formats)
        lines += [f"  {v.line}" for v in verdicts]
        missed += [f"{kind} {FORMAT_NAMES[v.fmt]}" for v in verdicts if v.fmt in AGAINST_POLARS and not v.met]
        missed += [f"{kind} {FORMAT_NAMES[f]} (not run)" for f in AGAINST_POLARS if f not in formats]
    if not peers.get("datasets"):
        missed.append("no datasets in the results")
    done = "met" if not missed else "not met: " + ", ".join(missed)
    lines += ["", f"  Issue 18, batchgate at or above polars for CSV and JSON Lines: {done}"]
    return lines


def _is_case(value: Any) -> bool:
    return isinstance(value, dict) and "ratio" in value


class Verdict(NamedTuple):
    fmt: str
    line: str
    met: bool | None  # None: no verdict (a case is missing)


def peers_verdicts(formats: Mapping[str, Any]) -> list[Verdict]:
    """One per format: batchgate against polars (CSV, JSON Lines) or against the Parquet goal."""
    out = []
    for fmt, per in formats.items():
        name = FORMAT_NAMES.get(fmt, fmt)
        ours = (per.get("batchgate") or {}).get("ratio")
        if ours is None:
            out.append(Verdict(fmt, f"{name}: batchgate is not in the results: no verdict", None))
        elif fmt in AGAINST_POLARS:
            theirs = (per.get("polars") or {}).get("ratio")
            if theirs is None:
                out.append(Verdict(fmt, f"{name}: polars is not in the results: no verdict", None))
                continue
            met = ours >= theirs
            verdict = "at or above polars" if met else "below polars"
            out.append(Verdict(fmt, f"{name}: batchgate {ours:.2f} vs polars {theirs:.2f}: {verdict}", met))
        elif fmt == "parquet":
            met = ours >= PARQUET_GOAL
            verdict = f"at or above {PARQUET_GOAL:g}" if met else f"below {PARQUET_GOAL:g}"
            out.append(
                Verdict(
                    fmt, f"{name}: batchgate {ours:.2f} (goal {PARQUET_GOAL:g} of pyarrow): {verdict}", met
                )
            )
    return out


# -- drop --------------------------------------------------------------------------------------
_ROWS = re.compile(r"^([\d,.]+)\s*([kKMG]?)-row file$")
_GIB = re.compile(r"^([\d.]+)\s*GiB file$")
_SCALE = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def _size(label: str) -> tuple[str, float] | None:
    """``("rows", 2e6)`` for "2M-row file" or "2,000,000-row file", ``("GiB", 1.0)`` for "1 GiB file"."""
    if m := _ROWS.match(label):
        return "rows", float(m.group(1).replace(",", "")) * _SCALE[m.group(2)]
    if m := _GIB.match(label):
        return "GiB", float(m.group(1))
    return None


def goal_for(label: str, goals: Mapping[str, float]) -> tuple[str, float] | None:
    """The goal for the file labelled ``label``: the one with the same name, or the same size."""
    if label in goals:
        return label, goals[label]
    size = _size(label)
    for name, goal in goals.items():
        if size is not None and _size(name) == size:
            return name, goal
    return None


def drop_lines(drop: Results) -> list[str]:
    goals: dict[str, float] = dict(drop.get("goal", {}))
    lines = [
        f"Drop → success (benchmarks/results/drop.json, {_date(drop)}, {drop.get('cpus', '?')} CPUs):"
        " S3 received → batch commitEnded ÷ validate_file alone on the local disk (lower is better)",
        f"  {'file':20} {'alone s':>8} {'CPU s':>6} {'drop s':>7} {'→valid.':>8} {'→commit':>8}"
        f" {'commit':>7} {'ratio':>6} {'goal':>5}  verdict",
    ]
    for label, r in drop.get("files", {}).items():
        alone, dropped = r.get("validator_alone", {}), r.get("drop", {})
        ratio = r.get("ratio")
        goal = goal_for(label, goals)
        if goal is None:
            verdict = f"no goal for this file (goals: {', '.join(goals) or 'none'})"
        elif ratio is None:
            verdict = "no ratio: no verdict"
        else:
            verdict = f"goal met ({goal[0]})" if ratio <= goal[1] else f"goal missed ({goal[0]})"
        lines.append(
            f"  {label:20} {_cell(alone.get('seconds')):>8} {_cell(alone.get('cpu_seconds')):>6}"
            f" {_cell(dropped.get('drop_to_success_s')):>7} {_cell(dropped.get('received_to_validated_s')):>8}"
            f" {_cell(dropped.get('validated_to_commit_started_s')):>8} {_cell(dropped.get('commit_s')):>7}"
            f" {_cell(ratio):>6} {_cell(goal and goal[1], 'g'):>5}  {verdict}"
        )
    lines.append("  →valid. = received → validated, →commit = validated → commitStarted, commit = the commit")
    return lines


# -- sizing ------------------------------------------------------------------------------------
def _price(value: Any) -> str:
    return "?" if value is None else f"{value:.10f}".rstrip("0")


def sizing_lines(sizing: Results) -> list[str]:
    formats: dict[str, Any] = sizing.get("formats", {})
    lines = [
        f"Cost (benchmarks/results/sizing.json, {_date(sizing)}): modeled from validate_file's CPU on"
        f" {sizing.get('rows', 0):,} profile rows, median of {sizing.get('rounds', '?')} rounds,"
        f" ${_price(sizing.get('price_usd_per_gb_second'))} per GB-second"
    ]
    for fmt, per in formats.items():
        pool = f", Arrow pool {'/'.join(per['pool'])}" if per.get("pool") else ""
        share = per.get("encode_share")
        lines.append(
            f"  {FORMAT_NAMES.get(fmt, fmt):10} {_cell(per.get('cpu_seconds_per_gb'))} CPU-s per GB,"
            f" {_cell(per.get('cpu_seconds_per_million_rows'), '.3f')} per million rows,"
            f" encoder share {'-' if share is None else format(share, '.0%')}{pool}"
        )
    memories: list[int] = []
    for per in formats.values():
        memories += [m["memory_mb"] for m in per.get("model", []) if m["memory_mb"] not in memories]
    head = "".join(f" | {FORMAT_NAMES.get(f, f) + ' s/GB':>15} {'$/GB':>9}" for f in formats)
    lines.append(f"  {'memory MB':>9} {'vCPU-s/s':>8}{head}")
    for memory in sorted(memories):
        vcpu: Any = None
        cells = ""
        for per in formats.values():
            row: dict[str, Any] = next((m for m in per.get("model", []) if m["memory_mb"] == memory), {})
            vcpu = row.get("vcpu_seconds_per_second", vcpu)
            cells += (
                f" | {_cell(row.get('seconds_per_gb'), '.1f'):>15} {_cell(row.get('usd_per_gb'), '.6f'):>9}"
            )
        lines.append(f"  {memory:>9} {_cell(vcpu):>8}{cells}")
    return lines
