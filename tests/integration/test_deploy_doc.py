"""docs/deploy.md is followed by people who have never seen batchgate: every command in its shell
blocks must exist and parse. batchgate commands go through the CLI's own parser, SAM CLI
commands are checked against their --help, AWS CLI commands against botocore's service models
(the operation and each parameter), make targets against the Makefile, and inline Python compiles.
A command of any other program fails the test, so the page cannot grow an unchecked one.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from batchgate_tools.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy.md"
AWS_GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile", "--endpoint-url", "--no-paginate"}
# The AWS CLI's own S3 commands (not API operations), as the page uses them.
AWS_S3_COMMANDS = {"cp": {"--recursive"}, "ls": set(), "rm": {"--recursive"}, "rb": {"--force"}}


def commands() -> list[list[str]]:
    """Every command line of the page's ``sh`` blocks, continuation lines joined."""
    text = DOC.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                found.append(argv)
    return found


COMMANDS = commands()


def test_the_page_has_the_strangers_path() -> None:
    programs = {Path(argv[0]).name for argv in COMMANDS}
    assert {"sam", "batchgate", "aws"} <= programs
    joined = [" ".join(argv) for argv in COMMANDS]
    for step in (
        "sam deploy --config-env dev",
        "batchgate keys create --stack",
        "batchgate ingest",
        "athena",
        "sam delete",
    ):
        assert any(step in line for line in joined), f"the page lost its step: {step}"


@cache
def sam_help(command: str) -> str:
    sam = shutil.which("sam") or str(ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(sam).exists():
        pytest.fail("SAM CLI not found on PATH nor at .venv-sam/bin/sam: run `make install-dev`")
    proc = subprocess.run(
        [sam, command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SAM_CLI_TELEMETRY": "0"},
    )
    assert proc.returncode == 0, f"`sam {command}` is no SAM CLI command: {proc.stderr[-500:]}"
    return proc.stdout


def check_sam(argv: list[str]) -> None:
    help_text = sam_help(argv[1])
    for token in argv[2:]:
        if token.startswith("--"):
            assert re.search(rf"{re.escape(token)}\b", help_text), f"`sam {argv[1]}` has no {token}"
    if "--config-env" in argv:
        env = argv[argv.index("--config-env") + 1]
        assert env in tomllib.loads((ROOT / "samconfig.toml").read_text()), f"samconfig.toml has no {env}"


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def check_aws(argv: list[str]) -> None:
    service, command, rest = argv[1], argv[2], argv[3:]
    flags = [t for t in rest if t.startswith("--")]
    if service == "s3":
        assert command in AWS_S3_COMMANDS, f"aws s3 {command} is not used here before"
        assert set(flags) <= AWS_S3_COMMANDS[command] | AWS_GLOBAL_OPTIONS, argv
        return
    model = service_model(service)
    by_cli_name = {xform_name(op, "-"): op for op in model.operation_names}
    assert command in by_cli_name, f"aws {service} has no {command}"
    shape = model.operation_model(by_cli_name[command]).input_shape
    members = {xform_name(name, "-"): m for name, m in (shape.members.items() if shape else [])}
    for i, token in enumerate(rest):
        if not token.startswith("--") or token in AWS_GLOBAL_OPTIONS:
            continue
        name = token[2:]
        assert name in members, f"aws {service} {command} takes no {token}"
        value = rest[i + 1] if i + 1 < len(rest) else ""
        if members[name].type_name == "structure" and value.startswith("{"):
            json.loads(value)  # a JSON argument must be JSON


def check_batchgate(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit as exc:
        raise AssertionError(f"`{shlex.join(argv)}` does not parse") from exc


def check_make(argv: list[str]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in argv[1:]:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"make has no target {target}"


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a)[:70] for a in COMMANDS])
def test_command_exists_and_parses(argv: list[str]) -> None:
    program = Path(argv[0]).name
    if program == "batchgate":
        check_batchgate(argv)
    elif program == "sam":
        check_sam(argv)
    elif program == "aws":
        check_aws(argv)
    elif program == "make":
        check_make(argv)
    elif program in ("python3", "python"):
        assert argv[1] == "-c", argv
        compile(argv[2], "<deploy.md>", "exec")
    elif program == "export":
        assert all(re.fullmatch(r"[A-Z_]+=\S+", a) for a in argv[1:]), argv
    elif program == "curl":
        assert any(a.startswith(("http", "$")) for a in argv[1:]), argv
    else:
        raise AssertionError(f"{program}: a command this test does not know how to check")
