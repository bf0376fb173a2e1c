"""`batchgate --version`, and help that names every environment variable the command reads."""

from __future__ import annotations

import argparse
import re
from importlib import metadata
from pathlib import Path

import pytest

from batchgate_tools.cli import build_parser, main

CLI = Path(__file__).resolve().parents[2] / "tools" / "batchgate_tools" / "cli"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"batchgate {metadata.version('batchgate')}"


def helps() -> dict[str, str]:
    """Every command's and subcommand's --help text, by its command line."""
    out: dict[str, str] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        out[prefix] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{prefix} {name}".strip())

    walk(build_parser(), "")
    return out


def test_help_names_each_environment_variable_the_cli_reads() -> None:
    read = set()
    for path in CLI.glob("*.py"):
        read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', path.read_text()))
    assert {"BATCHGATE_URL", "BATCHGATE_API_KEY", "BATCHGATE_TABLE", "BATCHGATE_STACK"} <= read
    texts = helps()
    everything = "\n".join(texts.values())
    assert [v for v in sorted(read) if v not in everything] == []
    # and each API command's own help names the connection variables
    for command in ("datasets list", "batches show", "ingest", "keys create", "jobs create", "jobs run-show"):
        assert "environment:" in texts[command], command
    assert "BATCHGATE_URL" in texts["batches show"] and "BATCHGATE_STACK" in texts["keys create"]


def test_every_jobs_command_has_help_and_the_connection_variables() -> None:
    texts = helps()
    commands = ("workflows", "create", "list", "show", "edit", "activate", "deactivate", "run", "delete")
    for name in (*commands, "runs", "run-show"):
        text = texts[f"jobs {name}"]
        assert "BATCHGATE_URL" in text and "BATCHGATE_SANDBOX" in text, name
    assert "--attr KEY=VALUE" in texts["jobs create"] and "--attr KEY=VALUE" in texts["jobs edit"]
    assert "Exit codes: 0" in texts["jobs run"] and "--wait" in texts["jobs run"]
    for name in (*commands, "runs", "run-show"):
        assert f"    {name} " in texts["jobs"] or f"    {name}\n" in texts["jobs"], name
