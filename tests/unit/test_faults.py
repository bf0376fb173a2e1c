"""Failure drills across processes: an entry fires once among all the processes sharing its
state directory, and `kill` ends the named process first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batchgate import faults
from batchgate.core.errors import Transient

FIRE = "from batchgate import faults\ntry:\n    faults.inject('commit')\nexcept Exception as exc:\n    print(type(exc).__name__)\n"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", FIRE], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_an_entry_fires_once_across_processes_that_share_a_state_directory(tmp_path: Path) -> None:
    env = {faults.ENV: "commit,commit:delay=0,gc", faults.STATE_ENV: str(tmp_path)}
    outputs = [_run(env).stdout.strip() for _ in range(3)]
    # the first process takes entry 0 (transient); the second takes entry 1 (a delay); then none
    assert outputs == ["Transient", "", ""]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fired-0", "fired-1"]


def test_without_a_state_directory_each_process_fires_its_own_copy(tmp_path: Path) -> None:
    assert [_run({faults.ENV: "commit"}).stdout.strip() for _ in range(2)] == ["Transient", "Transient"]


def test_in_one_process_an_entry_is_forgotten_once_fired(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.STATE_ENV, raising=False)
    monkeypatch.setenv(faults.ENV, "commit")
    with pytest.raises(Transient):
        faults.inject("commit")
    faults.inject("commit")  # gone
    assert faults.ENV not in os.environ


def test_kill_ends_the_named_process_then_itself(tmp_path: Path) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        done = _run({faults.ENV: "commit:kill", faults.KILL_PID_ENV: str(victim.pid)})
        assert done.returncode == 137
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
