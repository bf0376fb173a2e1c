"""Each failure a new user meets on first contact ends as one line on stderr that says how to fix
it, with exit code 2: never a traceback. The command runs as a user runs it, in a subprocess."""

from __future__ import annotations

import fcntl
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def batchgate(*args: str, env: dict[str, str] | None = None, home: Path) -> subprocess.CompletedProcess[str]:
    """No AWS or batchgate settings from the machine; a cache of our own (no running stack)."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BATCHGATE_")) and k != "PYTHONPATH"
    }
    base |= {
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools")),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance role to find either
    }
    return subprocess.run(
        [sys.executable, "-m", "batchgate_tools.cli", *args],
        cwd=ROOT, env=base | (env or {}), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error"), lines[0]
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def not_batchgate() -> Iterator[str]:
    """Something else answering HTTP: a static file server."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


KEY = ("--api-key", "bgk_x", "--token", "bgt_x")


def test_stack_not_running(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line(batchgate("datasets", "list", "--url", url, *KEY, home=tmp_path))
    assert f"nothing answers at {url}" in line and "batchgate up" in line and "BATCHGATE_URL" in line


def test_wrong_endpoint(tmp_path: Path, not_batchgate: str) -> None:
    line = one_line(batchgate("batches", "list", "--url", not_batchgate, *KEY, home=tmp_path))
    assert "is not a batchgate API" in line and "ApiUrl" in line


def test_no_key_and_no_local_stack(tmp_path: Path) -> None:
    line = one_line(batchgate("batches", "list", home=tmp_path))
    assert "no API key" in line and "keys create --stack" in line and "batchgate up" in line


def test_keys_create_without_a_region(tmp_path: Path) -> None:
    line = one_line(
        batchgate("keys", "create", "--stack", "batchgate-dev", "--org", "a", "--sandbox", "b", home=tmp_path)
    )
    assert "no AWS region" in line and "--region" in line and "AWS_REGION" in line


def test_keys_create_without_credentials(tmp_path: Path) -> None:
    args = (
        "keys",
        "create",
        "--stack",
        "batchgate-dev",
        "--region",
        "eu-west-1",
        "--org",
        "a",
        "--sandbox",
        "b",
    )
    line = one_line(batchgate(*args, home=tmp_path))
    assert "no usable AWS credentials" in line and "AWS_PROFILE" in line


def test_keys_create_without_a_table_or_stack(tmp_path: Path) -> None:
    line = one_line(batchgate("keys", "create", "--org", "a", "--sandbox", "b", home=tmp_path))
    assert "--stack NAME" in line and "--table NAME" in line


def test_up_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ("up", "--port", str(port), "--aws-port", "0", "--data-dir", str(tmp_path / "data"))
        line = one_line(batchgate(*args, home=tmp_path))
    assert f"port {port} on 127.0.0.1 (API) is in use" in line and "--port 0" in line


def test_up_on_a_locked_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with (data / ".lock").open("a+") as held:  # what a running `batchgate up` holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        line = one_line(
            batchgate("up", "--port", "0", "--aws-port", "0", "--data-dir", str(data), home=tmp_path)
        )
    assert f"data directory {data} is in use" in line and "(pid 4242)" in line and "--data-dir" in line


def test_invoke_without_a_stack(tmp_path: Path) -> None:
    done = batchgate(
        "invoke",
        "ApiFunction",
        "-e",
        "events/api/request.json",
        "--aws-port",
        str(free_port()),
        home=tmp_path,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no local stack on port" in done.stderr and "batchgate up" in done.stderr
