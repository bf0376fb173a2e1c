"""Deployability: the template lints and is secure, the layers build for the Lambda runtime without
Docker, fit Lambda's size limit, and import under CPython 3.12 next to the runtime's oldest SDK.

The slow tests download manylinux wheels from PyPI (cached in build/pip-cache). They all run in one
xdist group so the layers are built once per run.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from batchgate_tools import layerbuild
from batchgate_tools.layerbuild import LAMBDA_UNZIPPED_LIMIT, PIP_TARGET_ARGS, ROOT, RUNTIME_SDK_FLOOR
from batchgate_tools.template import load_template

pytestmark = pytest.mark.xdist_group("deploy")

TEMPLATE = ROOT / "template.yaml"
SIZES_JSON = ROOT / "build" / "layer-sizes.json"


# ----------------------------------------------------------------------------------- helpers
def run(cmd: list[str], timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    shown = " ".join(a if len(a) < 200 else a[:60] + "..." for a in map(str, cmd))  # not the whole probe
    print(f"\n$ {shown}  [{time.monotonic() - start:.1f}s, rc={proc.returncode}]")
    return proc


def sam_binary() -> str:
    """SAM CLI lives in its own virtualenv (it pins old boto3/pydantic); `make test` installs it."""
    found = shutil.which("sam") or str(ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(found).exists():
        pytest.fail("SAM CLI not found on PATH nor at .venv-sam/bin/sam: run `make install-dev`")
    return found


def python312() -> str:
    """A CPython 3.12 to import the built layers with: the runtime's minor version, not the host's."""
    candidates = [os.environ.get("BATCHGATE_PYTHON312", "")]
    for root in (os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")):
        if root:
            candidates += sorted(glob.glob(f"{root}/versions/3.12*/bin/python3.12"), reverse=True)
    candidates += ["/usr/bin/python3.12", "/usr/local/bin/python3.12"]
    for cand in filter(None, candidates):
        if Path(cand).exists():
            probe = subprocess.run(
                [cand, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "(3, 12)":
                return cand
    pytest.fail(
        "no CPython 3.12 found (looked in $BATCHGATE_PYTHON312, pyenv's versions/3.12*, /usr/bin): "
        "the layers must be proven importable by the runtime's Python, not the host's"
    )


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/common", "tools"))
    env.update(extra)
    return env


def resources(t: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


# ----------------------------------------------------------------------------------- linters
@pytest.mark.slow
def test_sam_validate_lint() -> None:
    proc = run(
        [sam_binary(), "validate", "--lint", "--template", str(TEMPLATE), "--region", "us-east-1"],
        env=subprocess_env(SAM_CLI_TELEMETRY="0"),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def test_cfn_lint_with_informational_checks() -> None:
    """Errors, warnings and the informational checks (I3011 deletion policies, I3013 retention
    periods, ...): the template answers each, or explains in a comment why not."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    cmd = [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint"]
    proc = run([*cmd, "--include-checks", "I", "--", str(TEMPLATE)], cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def checkov_binary() -> str:
    """checkov lives in its own virtualenv (it pins older boto3 and networkx); `make install-dev`
    creates it."""
    found = shutil.which("checkov") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    if not Path(found).exists():
        pytest.fail("checkov not found on PATH nor at .venv-checkov/bin/checkov: run `make install-dev`")
    return found


def test_checkov_finds_nothing_unwaived() -> None:
    """Every checkov finding is fixed, or skipped on its resource (Metadata.checkov.skip) with a
    comment that says why; a skip without a reason fails here too."""
    proc = run(
        [checkov_binary(), "--file", str(TEMPLATE), "--framework", "cloudformation", "--skip-download",
         "--output", "json", "--compact"],
        cwd=ROOT, env=subprocess_env(BC_SKIP_MAPPING="TRUE"), timeout=300,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0 and proc.returncode == 0, failed or proc.stderr[-2000:]
    assert summary["passed"] > 0 and summary["resource_count"] > 0, summary
    skipped = report["results"]["skipped_checks"]
    no_reason = [
        f"{c['check_id']} {c['resource']}"
        for c in skipped
        if len(str(c["check_result"].get("suppress_comment") or "")) < 15
    ]
    assert no_reason == [], f"waived without a reason: {no_reason}"


# ----------------------------------------------------------------------------------- security
def test_bucket_is_encrypted_private_tls_only_and_versioned(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert buckets, "the template declares no bucket"
    policies = resources(template, "AWS::S3::BucketPolicy")
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in (
            "AES256",
            "aws:kms",
            "aws:kms:dsse",
        )
        block = props["PublicAccessBlockConfiguration"]
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            assert block.get(flag) is True, f"{name}: {flag} is not true"
        assert props["VersioningConfiguration"]["Status"] == "Enabled"
        tls_deny = [
            s
            for p in policies.values()
            if p["Properties"]["Bucket"] == {"Ref": name}
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        ]
        assert tls_deny, f"{name} has no Deny on aws:SecureTransport=false"
        resources_denied = json.dumps(tls_deny[0]["Resource"])
        assert f"{name}.Arn" in resources_denied or name in resources_denied
        assert "/*" in resources_denied, "the TLS deny must cover the objects, not only the bucket"


def test_table_on_demand_with_point_in_time_recovery(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert tables
    for table in tables.values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_functions_traced_and_no_wildcard_grants(template: dict[str, Any]) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    assert functions
    global_tracing = template.get("Globals", {}).get("Function", {}).get("Tracing")
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props.get("Tracing", global_tracing) == "Active", f"{name} is not traced"
        for policy in props.get("Policies", []):
            for stmt in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                res = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
                wildcards = [a for a in actions if a == "*" or a.endswith(":*")]
                assert "*" not in actions, f"{name} allows every action"
                # Resource "*" alone can be legitimate (APIs without resource-level permissions),
                # a wildcard action on it never is.
                assert not (wildcards and "*" in res), f"{name} grants {wildcards} on *"


def test_dead_letter_queue_has_an_alarm(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    dlqs = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert dlqs, "no queue has a dead-letter queue"
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    for dlq in dlqs:
        watching = [
            a
            for a in alarms
            if any(
                d.get("Value") == {"Fn::GetAtt": [dlq, "QueueName"]}
                for d in a["Properties"].get("Dimensions", [])
            )
        ]
        assert watching, f"no alarm watches {dlq}"
        assert all(a["Properties"].get("AlarmActions") for a in watching), (
            f"the alarm on {dlq} notifies no one"
        )


def test_every_queue_is_encrypted(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert queues
    for name, q in queues.items():
        props = q["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, (
            f"{name} is not encrypted"
        )


# ----------------------------------------------------------------------------------- layers
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`python -m batchgate_tools.layerbuild --out <tmp> --report`, exactly as `make layer-size` runs it."""
    out = tmp_path_factory.mktemp("layers")
    proc = run(
        [
            sys.executable,
            "-m",
            "batchgate_tools.layerbuild",
            "--out",
            str(out),
            "--report",
            "--json",
            str(SIZES_JSON),
        ],
        env=subprocess_env(),
        cwd=ROOT,
        timeout=600,
    )
    print(proc.stdout)  # the size table: visible with -s, and in build/layer-sizes.json
    assert proc.returncode == 0, f"layerbuild failed:\n{proc.stdout}\n{proc.stderr}"
    return out, json.loads(SIZES_JSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oldest boto3/botocore we claim the runtime may have, as the runtime would hold it."""
    target = tmp_path_factory.mktemp("runtime-sdk")
    proc = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--cache-dir",
            layerbuild.pip_cache_dir(),
            *PIP_TARGET_ARGS,
            "--target",
            str(target),
            f"boto3=={RUNTIME_SDK_FLOOR}",
            f"botocore=={RUNTIME_SDK_FLOOR}",
        ],
        env=subprocess_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


@pytest.mark.slow
def test_every_function_with_its_layers_fits_lambda(built: tuple[Path, dict[str, Any]]) -> None:
    out, report = built
    assert report["ok"], report
    assert not report["import_errors"]
    functions = report["functions"]
    template_functions = resources(load_template(TEMPLATE), "AWS::Serverless::Function")
    assert set(functions) == set(template_functions), "the report must cover every function of the template"
    layers = report["layers"]
    for name, f in functions.items():
        assert f["layers"] == ["dependencies", "common"], name
        assert (
            f["total_bytes"] == f["code_bytes"] + layers["dependencies"]["bytes"] + layers["common"]["bytes"]
        )
        assert f["total_bytes"] < LAMBDA_UNZIPPED_LIMIT, f"{name}: {f['total_bytes']:,} B over Lambda's limit"
    # The report's numbers are the bytes on disk, not estimates.
    assert layers["dependencies"]["bytes"] == layerbuild.tree_bytes(out / "dependencies")
    assert layers["common"]["bytes"] == layerbuild.tree_bytes(out / "common")
    deps = layers["dependencies"]
    stripped = sum(r["bytes"] for r in deps["stripped"])
    assert deps["before_strip_bytes"] - stripped == deps["bytes"]


@pytest.mark.slow
def test_dependency_layer_content(built: tuple[Path, dict[str, Any]]) -> None:
    out, report = built
    site = out / "dependencies" / "python"
    dists = report["distributions"]
    for wanted in (
        "pyarrow",
        "pyiceberg",
        "aws_lambda_powertools",
        "pydantic",
        "pydantic_core",
        "aws_xray_sdk",
    ):
        assert wanted in dists, f"{wanted} missing from the layer"
    # The runtime's SDK is not shadowed, and laptop-only dependencies stay out.
    for unwanted in (
        "boto3",
        "botocore",
        "s3transfer",
        "urllib3",
        "moto",
        "duckdb",
        "sqlalchemy",
        "yaml",
        "thrift",
    ):
        assert not (site / unwanted).exists(), f"{unwanted} must not be in the layer"
    # Binaries are the runtime's: CPython 3.12, x86_64 Linux.
    exts = [p.name for p in site.rglob("*.cpython-*.so")]
    assert exts and all(".cpython-312-x86_64-linux-gnu.so" in n for n in exts), sorted(set(exts))[:5]
    for lib in (
        "libarrow.so",
        "libparquet.so",
        "libarrow_s3.so",
        "libarrow_compute.so",
        "libarrow_dataset.so",
    ):
        assert list((site / "pyarrow").glob(lib + ".*")), f"{lib} was stripped but pyarrow needs it"
    assert not list((site / "pyarrow").glob("libarrow_flight.so*"))
    assert layerbuild.check_needed_closure(site) == []


@pytest.mark.slow
def test_common_layer_is_the_runtime_package_as_it_is(built: tuple[Path, dict[str, Any]]) -> None:
    out, _report = built
    pkg = out / "common" / "python" / "batchgate"
    assert (pkg / "__init__.py").exists()
    assert sorted(p.name for p in (out / "common" / "python").iterdir()) == ["batchgate"]
    assert not list(pkg.rglob("__pycache__"))
    shipped = {p.relative_to(pkg) for p in pkg.rglob("*") if p.is_file()}
    source = ROOT / "layers" / "common" / "batchgate"
    expected = {
        p.relative_to(source)
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }
    assert shipped == expected
    # The laptop-only code (CLI, local stack, template reader, layer builder) lives beside it.
    assert not any(part in ("local", "cli") for p in shipped for part in p.parts)


@pytest.fixture(scope="module")
def probe_env(template: dict[str, Any]) -> dict[str, str]:
    """The functions' environment (template values, intrinsics replaced by dummies) with fake credentials."""
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    blocks = [template["Globals"]["Function"]]
    blocks += [f["Properties"] for f in resources(template, "AWS::Serverless::Function").values()]
    for block in blocks:
        for key, value in ((block.get("Environment") or {}).get("Variables") or {}).items():
            # Intrinsics (!Ref, !Sub) have no value outside CloudFormation: any string will do.
            env[key] = str(value) if isinstance(value, str | int) else f"dummy-{key.lower()}"
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_LAMBDA_FUNCTION_NAME="batchgate-deploy-test",
        POWERTOOLS_TRACE_DISABLED="true",  # no X-Ray daemon here
        POWERTOOLS_METRICS_NAMESPACE="batchgate",
    )
    return env


# Runs under CPython 3.12 with `-S` (no site-packages: only the stdlib, the layers and the runtime's
# SDK are importable, exactly as on Lambda where /opt/python is on PYTHONPATH ahead of the runtime's
# site-packages). argv: layer dir, common dir, sdk dir, JSON {"actions": [...], "functions": [...]}.
PROBE = r"""
import importlib, importlib.util, io, json, os, pathlib, sys, threading, traceback
from http.server import BaseHTTPRequestHandler, HTTPServer

deps, common, sdk = (pathlib.Path(p).resolve() for p in sys.argv[1:4])
spec = json.loads(sys.argv[4])
assert sys.version_info[:2] == (3, 12), sys.version
errors = []

import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv, pyarrow.dataset, pyarrow.fs, pyarrow.json, pyarrow.parquet as pq
table = pa.table({"id": ["a", "b", "c"], "n": [1, 2, None]})
buf = io.BytesIO(); pq.write_table(table, buf, compression="zstd"); buf.seek(0)
assert pq.read_table(buf).equals(table)
assert pc.sum(table["n"]).as_py() == 3
assert pyarrow.csv.read_csv(io.BytesIO(b"a,b\n1,x\n")).num_rows == 1
assert pyarrow.json.read_json(io.BytesIO(b'{"a": 1}\n')).num_rows == 1
pyarrow.fs.S3FileSystem(region="us-east-1", access_key="k", secret_key="s")  # loads libarrow_s3

from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.io.pyarrow import PyArrowFileIO, schema_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType
schema = Schema(NestedField(1, "id", StringType(), required=True), NestedField(2, "n", LongType()))
assert schema_to_pyarrow(schema).names == ["id", "n"]
PyArrowFileIO()

import pydantic, pydantic_core
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import BaseModel, parse
class Event(BaseModel):
    id: str
assert parse({"id": "x"}, model=Event).id == "x"
Logger(); Metrics(); Tracer()

import boto3, botocore, urllib3

# A real request through the runtime's botocore and urllib3: Glue (via pyiceberg) and DynamoDB
# against a local stub, so the layer and the oldest runtime SDK are proven to work together.
class Stub(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        body = {"AWSGlue.GetDatabases": {"DatabaseList": [{"Name": "bg_demo"}]},
                "DynamoDB_20120810.ListTables": {"TableNames": ["t"]}}.get(target, {})
        data = json.dumps(body).encode()
        self.send_response(200); self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), Stub)
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = f"http://127.0.0.1:{server.server_port}"
catalog = GlueCatalog("probe", **{"glue.region": "us-east-1", "glue.endpoint": endpoint})
assert catalog.list_namespaces() == [("bg_demo",)], catalog.list_namespaces()
assert boto3.client("dynamodb", endpoint_url=endpoint).list_tables()["TableNames"] == ["t"]
server.shutdown()

# Every API action the template grants to a function exists in the oldest SDK.
services = {"states": "stepfunctions"}
session = boto3.session.Session()
for action in spec["actions"]:
    prefix, op = action.split(":", 1)
    model = session._session.get_service_model(services.get(prefix, prefix))
    if op not in model.operation_names:
        errors.append(f"{action} is not in botocore {botocore.__version__}")
update = session._session.get_service_model("glue").operation_model("UpdateTable").input_shape.members
for member in ("VersionId", "SkipArchive"):  # what pyiceberg's GlueCatalog sends on commit
    if member not in update:
        errors.append(f"glue UpdateTable has no {member} in botocore {botocore.__version__}")

# The whole deployed package and every handler import (handlers from their own folder, as /var/task).
for path in sorted((common / "batchgate").rglob("*.py")):
    name = ".".join(path.relative_to(common).with_suffix("").parts).removesuffix(".__init__")
    if name in spec["skip"]:
        continue  # reached by no handler and imports a laptop-only library: reported by layerbuild
    try:
        importlib.import_module(name)
    except Exception:
        errors.append(f"import {name}:\n{traceback.format_exc()}")
for fdir in spec["functions"]:
    app = pathlib.Path(fdir, "app.py")
    if not app.exists():
        continue
    sys.path.insert(0, fdir)
    try:
        mod_spec = importlib.util.spec_from_file_location(f"handler_{pathlib.Path(fdir).name}", app)
        module = importlib.util.module_from_spec(mod_spec); mod_spec.loader.exec_module(module)
        if not callable(getattr(module, "handler", None)):
            errors.append(f"{app} has no handler()")
    except Exception:
        errors.append(f"import {app}:\n{traceback.format_exc()}")
    finally:
        sys.path.remove(fdir)

origin = lambda m: str(pathlib.Path(sys.modules[m].__file__).resolve())
print(json.dumps({
    "python": sys.version.split()[0],
    "origins": {m: origin(m) for m in ("pyarrow", "pyiceberg", "pydantic", "pydantic_core", "aws_lambda_powertools",
                                       "aws_xray_sdk", "boto3", "botocore", "urllib3", "batchgate")},
    "versions": {"boto3": boto3.__version__, "botocore": botocore.__version__, "urllib3": urllib3.__version__,
                 "pyarrow": pa.__version__},
    "errors": errors,
}))
"""


# IAM actions named otherwise than the API operation they allow: the operation is what the SDK
# must have (S3's IAM vocabulary predates its API's names).
IAM_ACTION_OPERATIONS = {
    "s3:GetObjectVersion": "s3:GetObject",  # GetObject with a VersionId
    "s3:ListBucket": "s3:ListObjectsV2",
    "s3:ListBucketVersions": "s3:ListObjectVersions",
    "s3:ListMultipartUploadParts": "s3:ListParts",
}
# Permissions checked when another call is made, never called themselves (PassRole: the API
# function hands the scheduler's role to scheduler:CreateSchedule).
PERMISSION_ONLY = frozenset({"iam:PassRole"})


def template_actions(template: dict[str, Any]) -> list[str]:
    actions: set[str] = set()
    for fn in resources(template, "AWS::Serverless::Function").values():
        for policy in fn["Properties"].get("Policies", []):
            for stmt in policy.get("Statement", []) if isinstance(policy, dict) else []:
                acts = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                actions.update(
                    IAM_ACTION_OPERATIONS.get(a, a) for a in acts if "*" not in a and a not in PERMISSION_ONLY
                )
    return sorted(actions)


@pytest.mark.slow
def test_layers_import_on_python312_with_the_oldest_runtime_sdk(
    built: tuple[Path, dict[str, Any]], runtime_sdk: Path, probe_env: dict[str, str], template: dict[str, Any]
) -> None:
    out, report = built
    deps, common = out / "dependencies" / "python", out / "common" / "python"
    functions = [
        str(ROOT / f["Properties"]["CodeUri"])
        for f in resources(template, "AWS::Serverless::Function").values()
    ]
    spec = json.dumps(
        {
            "actions": template_actions(template),
            "functions": functions,
            "skip": report["unimportable_on_lambda"],
        }
    )
    env = dict(probe_env, PYTHONPATH=os.pathsep.join(map(str, (deps, common, runtime_sdk))))
    # -S: no site-packages of the 3.12 install; -s: no user site. Only the stdlib, layers and SDK.
    proc = run(
        [python312(), "-S", "-s", "-c", PROBE, str(deps), str(common), str(runtime_sdk), spec],
        env=env,
        cwd=out,
    )
    assert proc.returncode == 0, f"probe failed under python3.12:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "errors"}, indent=2))
    assert not result["errors"], "\n".join(result["errors"])
    assert result["python"].startswith("3.12.")
    origins = result["origins"]
    for mod in ("pyarrow", "pyiceberg", "pydantic", "pydantic_core", "aws_lambda_powertools", "aws_xray_sdk"):
        assert origins[mod].startswith(str(deps.resolve())), f"{mod} came from {origins[mod]}, not the layer"
    assert origins["batchgate"].startswith(str(common.resolve()))
    for mod in ("boto3", "botocore", "urllib3"):
        assert origins[mod].startswith(str(runtime_sdk.resolve())), (
            f"{mod} must be the runtime's: {origins[mod]}"
        )
    assert result["versions"]["botocore"] == RUNTIME_SDK_FLOOR


@pytest.mark.slow
def test_sam_build_without_docker(built: tuple[Path, dict[str, Any]]) -> None:
    """`sam build` with every resource on BuildMethod: makefile: no Docker, no python3.12 on PATH."""
    _out, report = built
    build_dir = ROOT / "build" / "sam"
    shutil.rmtree(build_dir, ignore_errors=True)
    # A PATH without any python3.12 proves the makefile builds do not need the runtime's Python.
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not Path(p, "python3.12").exists()
    )
    proc = run(
        [
            sam_binary(),
            "build",
            "--template",
            str(TEMPLATE),
            "--build-dir",
            str(build_dir),
            "--region",
            "us-east-1",
        ],
        env=subprocess_env(SAM_CLI_TELEMETRY="0", PATH=path),
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Build Succeeded" in proc.stdout + proc.stderr
    built_deps = layerbuild.tree_bytes(build_dir / "DependenciesLayer")
    built_common = layerbuild.tree_bytes(build_dir / "CommonLayer")
    assert (build_dir / "DependenciesLayer" / "python" / "pyarrow").is_dir()
    assert (build_dir / "CommonLayer" / "python" / "batchgate" / "__init__.py").exists()
    assert not (build_dir / "CommonLayer" / "python" / "batchgate" / "local").exists()
    # Same rules, same bytes as layerbuild (the only implementation).
    assert built_deps == report["layers"]["dependencies"]["bytes"]
    assert built_common == report["layers"]["common"]["bytes"]
    for name, f in report["functions"].items():
        artifacts = build_dir / name
        assert (artifacts / "app.py").exists() or not (ROOT / f["code_uri"] / "app.py").exists(), name
        assert not (artifacts / "Makefile").exists(), f"{name}: the Makefile must not be deployed"
        total = layerbuild.tree_bytes(artifacts) + built_deps + built_common
        assert total < LAMBDA_UNZIPPED_LIMIT, f"{name}: {total:,} B"


# ----------------------------------------------------------------------------------- builder unit checks
def test_elf_needed_reads_a_real_shared_object() -> None:
    interpreter = Path(os.path.realpath(sys.executable))  # an ELF that surely links libc
    needed = layerbuild.elf_needed(interpreter)
    assert needed is not None and "libc.so.6" in needed, needed
    assert layerbuild.elf_needed(TEMPLATE) is None


def test_strip_guards_fail_when_their_reason_breaks(tmp_path: Path) -> None:
    """A kept module importing stripped code, or a missing DT_NEEDED, fails the build."""
    site = tmp_path / "python"
    (site / "pyarrow").mkdir(parents=True)
    (site / "pyarrow" / "flight.py").write_text("x = 1\n")
    (site / "user.py").write_text("import pyarrow.flight\n")
    req = tmp_path / "requirements.txt"
    req.write_text("pyarrow\n")
    with pytest.raises(layerbuild.BuildError, match=r"user\.py refers to stripped code"):
        layerbuild.strip_layer(site, req)

    (site / "user.py").unlink()
    (site / "thrift").mkdir()
    (site / "thrift" / "__init__.py").write_text("")
    (site / "hive_metastore").mkdir()
    with pytest.raises(layerbuild.BuildError, match="thrift is in the layer"):
        layerbuild.strip_layer(site, req)


def test_check_imports_follows_the_handlers(tmp_path: Path) -> None:
    pkg = tmp_path / "python" / "batchgate"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "ok.py").write_text(
        "from __future__ import annotations\nimport json\nimport boto3\nimport pyarrow\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import yaml\n"
    )
    (pkg / "bad.py").write_text(
        "import duckdb\nimport batchgate_tools.local\nfrom pyarrow import flight\n\ndef f():\n    import yaml\n"
    )
    (pkg / "laptop.py").write_text("import duckdb\n")
    (pkg / "ns").mkdir()  # a namespace package: its modules import, names "from" it do not
    (pkg / "ns" / "mod.py").write_text("X = 1\n")
    deps = tmp_path / "deps"
    (deps / "pyarrow").mkdir(parents=True)
    handler = tmp_path / "fn"
    handler.mkdir()
    (handler / "app.py").write_text(
        "from batchgate import ok, __version__\nfrom batchgate.bad import f\nimport batchgate.nope\n"
        "import batchgate.ns\nfrom batchgate.ns import mod\nfrom batchgate.ns import missing\n"
    )
    report = layerbuild.check_imports(pkg, deps, [handler])
    assert any("bad.py:1 imports duckdb" in e for e in report.errors), report
    assert any(
        "bad.py:2 imports batchgate_tools, which is in neither layer nor the runtime" in e
        for e in report.errors
    ), report
    assert any(
        "bad.py:3 imports pyarrow.flight, which the dependency layer strips" in e for e in report.errors
    )
    assert any("bad.py:6 imports yaml" in w and "code path" in w for w in report.warnings), report
    assert any("laptop.py:1 imports duckdb" in w and "no handler" in w for w in report.warnings), report
    assert any(
        "app.py:3 imports batchgate.nope, which is not a module of the package" in e for e in report.errors
    ), report
    assert any("app.py:6 imports batchgate.ns, which is not a module" in e for e in report.errors), report
    assert not any(re.search(r"app\.py:[45] ", e) for e in report.errors), report
    assert report.unimportable == ["batchgate.laptop"]
    assert not any("ok.py" in e for e in report.errors + report.warnings), report


def test_requirements_exclude_laptop_only_packages() -> None:
    text = layerbuild.REQUIREMENTS.read_text(encoding="utf-8")
    reqs = [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]
    names = {re.split(r"[\[=<>~ ]", r, maxsplit=1)[0].lower() for r in reqs}
    assert {"pyarrow", "pyiceberg", "aws-lambda-powertools", "pydantic"} <= names
    assert not names & {"moto", "duckdb", "requests", "boto3", "pyyaml", "sqlalchemy"}
    iceberg = next(r for r in reqs if r.startswith("pyiceberg"))
    assert "sql-sqlite" not in iceberg and "duckdb" not in iceberg and "pyarrow" in iceberg
    assert all("==" in r for r in reqs), "pin the layer: a deploy ships what the tests ran"
