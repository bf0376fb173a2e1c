"""Start `batchgate up` as a subprocess and talk to it over HTTP and S3 only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    data_dir: Path
    log: Path

    @property
    def api(self) -> str:
        return str(self.info["api"])

    @property
    def bucket(self) -> str:
        return str(self.info["bucket"])

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.info['token']}",
            "x-api-key": self.info["keyId"],
            "x-gw-ims-org-id": self.info["org"],
            "x-sandbox-name": self.info["sandbox"],
            **extra,
        }

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.info["endpoint"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.api + path, headers=self.headers(), timeout=60, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return requests.post(
            self.api + path, headers=self.headers(**kw.pop("extra_headers", {})), timeout=60, **kw
        )

    def put(self, path: str, data: bytes, **kw: Any) -> requests.Response:
        h = self.headers(**{"Content-Type": "application/octet-stream"})
        return requests.put(self.api + path, headers=h, data=data, timeout=60, **kw)

    def patch(self, path: str, data: bytes, *, content_range: str) -> requests.Response:
        h = self.headers(**{"Content-Type": "application/octet-stream", "Content-Range": content_range})
        return requests.patch(self.api + path, headers=h, data=data, timeout=60)

    def wait_batch(self, batch_id: str, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = self.get(f"/data/foundation/catalog/batches/{batch_id}")
            if r.status_code == 200:
                body = r.json()[batch_id]
                if body["status"] in statuses:
                    return body
            time.sleep(0.3)
        raise AssertionError(
            f"batch {batch_id} did not reach {statuses}; last seen {body}; log:\n{self.tail()}"
        )

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def start_stack(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = 90,
) -> RunningStack:
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / "ready.json"
    ready.unlink(missing_ok=True)
    log = data_dir / f"stack-{int(time.time() * 1000)}.log"
    cmd = [
        sys.executable, "-m", "batchgate_tools.cli", "up",
        "--port", "0", "--aws-port", "0",
        "--data-dir", str(data_dir), "--ready-file", str(ready),
    ]  # fmt: skip
    for name, value in (params or {}).items():
        cmd += ["--param", f"{name}={value}"]
    pythonpath = os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))
    full_env = {**os.environ, "PYTHONPATH": pythonpath, **(env or {})}
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        full_env.pop(k, None)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"batchgate up exited with {proc.returncode}:\n{log.read_text()}")
        if ready.exists() and ready.stat().st_size:
            try:
                info = json.loads(ready.read_text())
                return RunningStack(proc, info, data_dir, log)
            except json.JSONDecodeError:
                pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"batchgate up was not ready in {timeout}s:\n{log.read_text()}")
