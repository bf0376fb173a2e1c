"""The benchmarks' summary (``benchmarks/_summary.py``): its verdicts follow the results it is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks._summary import goal_for, load, peers_verdicts, summary


def _case(ratio: float, cpu: float) -> dict[str, Any]:
    return {"seconds": 1.0, "cpu_seconds": cpu, "ratio": ratio}


def _peers(csv: tuple[float, float], json_: tuple[float, float], parquet: float) -> dict[str, Any]:
    """peers.json with one dataset; each pair is (batchgate's ratio, polars' ratio)."""
    formats = {
        "csv": {"arrow": _case(1.0, 1.25), "polars": _case(csv[1], 1.38), "batchgate": _case(csv[0], 1.66)},
        "json": {
            "arrow": _case(1.0, 2.99),
            "polars": _case(json_[1], 2.23),
            "batchgate": _case(json_[0], 3.53),
        },
        "parquet": {"arrow": _case(1.0, 0.78), "polars": _case(1.1, 1.14), "batchgate": _case(parquet, 1.54)},
    }
    return {
        "rows": 1000,
        "rounds": 3,
        "cpus": 2,
        "date": "2026-12-01T01:12:56+00:00",
        "datasets": {"profile": {"bad_rows": 12, "formats": formats}},
    }


def _drop(ratio_2m: float, ratio_1g: float) -> dict[str, Any]:
    def file(ratio: float) -> dict[str, Any]:
        return {
            "validator_alone": {"seconds": 0.65, "cpu_seconds": 1.17},
            "drop": {
                "drop_to_success_s": 2.99,
                "received_to_validated_s": 2.11,
                "validated_to_commit_started_s": 0.68,
                "commit_s": 0.21,
            },
            "ratio": ratio,
        }

    return {
        "date": "2026-12-01T02:25:10+00:00",
        "cpus": 2,
        "goal": {"2M-row file": 1.5, "1 GiB file": 2.0},
        "files": {"2,000,000-row file": file(ratio_2m), "1 GiB file": file(ratio_1g)},
    }


SIZING = {
    "rows": 2000000,
    "rounds": 5,
    "price_usd_per_gb_second": 1.66667e-05,
    "date": "2026-12-01T03:20:00+00:00",
    "formats": {
        "csv": {
            "cpu_seconds_per_gb": 12.34,
            "cpu_seconds_per_million_rows": 0.777,
            "encode_share": 0.3,
            "pool": ["jemalloc"],
            "model": [
                {
                    "memory_mb": 1769,
                    "vcpu_seconds_per_second": 1.0,
                    "seconds_per_gb": 12.3,
                    "usd_per_gb": 0.000355,
                },
                {
                    "memory_mb": 5307,
                    "vcpu_seconds_per_second": 3.0,
                    "seconds_per_gb": 4.1,
                    "usd_per_gb": 0.000356,
                },
            ],
        }
    },
}


def _lines(text: str, start: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith(start)]


def test_below_polars_on_both_formats_is_said_and_the_issue_is_not_met() -> None:
    text = summary(
        {"peers": _peers(csv=(0.95, 1.09), json_=(0.93, 1.42), parquet=0.67), "drop": None, "sizing": None}
    )
    assert _lines(text, "CSV:") == ["CSV: batchgate 0.95 vs polars 1.09: below polars"]
    assert _lines(text, "JSON Lines:") == ["JSON Lines: batchgate 0.93 vs polars 1.42: below polars"]
    assert _lines(text, "Parquet:") == ["Parquet: batchgate 0.67 (goal 0.8 of pyarrow): below 0.8"]
    assert _lines(text, "Issue 18") == [
        "Issue 18, batchgate at or above polars for CSV and JSON Lines: not met: profile CSV, profile JSON Lines"
    ]


def test_at_or_above_polars_counts_a_tie() -> None:
    text = summary(
        {"peers": _peers(csv=(1.09, 1.09), json_=(1.50, 1.42), parquet=0.8), "drop": None, "sizing": None}
    )
    assert _lines(text, "CSV:") == ["CSV: batchgate 1.09 vs polars 1.09: at or above polars"]
    assert _lines(text, "JSON Lines:") == ["JSON Lines: batchgate 1.50 vs polars 1.42: at or above polars"]
    assert _lines(text, "Parquet:") == ["Parquet: batchgate 0.80 (goal 0.8 of pyarrow): at or above 0.8"]
    assert _lines(text, "Issue 18") == ["Issue 18, batchgate at or above polars for CSV and JSON Lines: met"]


def test_one_format_below_polars_is_named_and_parquet_does_not_count_for_the_issue() -> None:
    text = summary(
        {"peers": _peers(csv=(1.2, 1.1), json_=(0.9, 1.0), parquet=0.5), "drop": None, "sizing": None}
    )
    assert _lines(text, "Issue 18") == [
        "Issue 18, batchgate at or above polars for CSV and JSON Lines: not met: profile JSON Lines"
    ]


def test_the_table_has_one_row_per_case_with_its_ratio_and_cpu() -> None:
    text = summary(
        {"peers": _peers(csv=(0.95, 1.09), json_=(0.93, 1.42), parquet=0.67), "drop": None, "sizing": None}
    )
    (row,) = _lines(text, "batchgate  |")
    assert row.split() == ["batchgate", "|", "0.95", "1.66", "|", "0.93", "3.53", "|", "0.67", "1.54"]
    assert _lines(text, "arrow ")[0].split()[1:] == [
        "|",
        "1.00",
        "1.25",
        "|",
        "1.00",
        "2.99",
        "|",
        "1.00",
        "0.78",
    ]
    assert "run 2026-12-01T01:12:56+00:00" in text


def test_a_missing_case_gives_no_verdict() -> None:
    peers = _peers(csv=(1.0, 1.0), json_=(1.0, 1.0), parquet=1.0)
    del peers["datasets"]["profile"]["formats"]["csv"]["polars"]
    verdicts = peers_verdicts(peers["datasets"]["profile"]["formats"])
    assert [(v.fmt, v.met) for v in verdicts] == [("csv", None), ("json", True), ("parquet", True)]
    assert verdicts[0].line == "CSV: polars is not in the results: no verdict"


def test_drop_ratios_are_judged_against_their_goals() -> None:
    text = summary({"peers": None, "drop": _drop(ratio_2m=4.61, ratio_1g=2.0), "sizing": None})
    (two_m,) = _lines(text, "2,000,000-row file")
    (one_g,) = _lines(text, "1 GiB file")
    assert two_m.endswith("4.61   1.5  goal missed (2M-row file)")
    assert one_g.endswith("2.00     2  goal met (1 GiB file)")
    # the timeline split: alone, CPU, drop, received → validated, → commit started, commit
    assert two_m.split()[2:8] == ["0.65", "1.17", "2.99", "2.11", "0.68", "0.21"]


def test_a_drop_of_another_size_has_no_goal() -> None:
    assert goal_for("2,000,000-row file", {"2M-row file": 1.5}) == ("2M-row file", 1.5)
    assert goal_for("200,000-row file", {"2M-row file": 1.5, "1 GiB file": 2.0}) is None
    assert goal_for("0.5 GiB file", {"2M-row file": 1.5, "1 GiB file": 2.0}) is None
    drop = _drop(1.0, 1.0)
    drop["files"] = {"200,000-row file": drop["files"]["2,000,000-row file"]}
    (line,) = _lines(summary({"peers": None, "drop": drop, "sizing": None}), "200,000-row file")
    assert line.endswith("no goal for this file (goals: 2M-row file, 1 GiB file)")


def test_the_cost_table_comes_from_the_model_rows() -> None:
    text = summary({"peers": None, "drop": None, "sizing": SIZING})
    assert _lines(text, "CSV ") == [
        "CSV        12.34 CPU-s per GB, 0.777 per million rows, encoder share 30%, Arrow pool jemalloc"
    ]
    assert _lines(text, "1769")[0].split() == ["1769", "1.00", "|", "12.3", "0.000355"]
    assert _lines(text, "5307")[0].split() == ["5307", "3.00", "|", "4.1", "0.000356"]
    assert "$0.0000166667 per GB-second" in text
    assert "run 2026-12-01T03:20:00+00:00" in text


def test_missing_files_are_said_to_be_missing(tmp_path: Path) -> None:
    (tmp_path / "sizing.json").write_text(json.dumps(SIZING))
    results = load(tmp_path)
    assert results["peers"] is None and results["drop"] is None and results["sizing"] == SIZING
    text = summary(results)
    assert "peers: benchmarks/results/peers.json is missing" in text
    assert "drop: benchmarks/results/drop.json is missing" in text
    assert "Cost (benchmarks/results/sizing.json, run 2026-12-01T03:20:00+00:00)" in text
