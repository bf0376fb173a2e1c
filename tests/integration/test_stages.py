"""Two stages in one account and region: the template, expanded by SAM's own transform for each of
samconfig.toml's environments, names nothing that the other stage also names.

Nothing is deployed. SAM's translator (from SAM CLI's virtualenv: it pins its own dependencies)
expands template.yaml as `sam deploy` would; the pseudo parameters and the intrinsics are then
evaluated for two stacks, and every name a resource is given (a bucket, a log group, a layer, a
schedule, ...) is compared, as are the names the functions create at run time (Glue databases,
the metrics namespace).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"

# Properties that give a resource a name CloudFormation does not generate, by type. A name that is
# left out is generated from the stack's name and a random suffix, which cannot collide.
NAME_PROPERTIES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Glue::Database": "DatabaseInput.Name",
}
# Resources of which an account and region hold exactly one, whatever their stack: both stages
# may set it; each keeps it when deleted (DeletionPolicy Retain), so removing one stage never
# breaks the other's API logging.
ACCOUNT_SINGLETONS = {"AWS::ApiGateway::Account"}


def sam_python() -> str:
    """The interpreter of SAM CLI's virtualenv, which holds SAM's translator."""
    sam = shutil.which("sam") or str(ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(sam).exists():
        pytest.fail("SAM CLI not found on PATH nor at .venv-sam/bin/sam: run `make install-dev`")
    python = Path(sam).resolve().parent / "python"
    if not python.exists():
        pytest.fail(f"no python beside {sam}: SAM CLI must be installed in a virtualenv")
    return str(python)


TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:  # the template names no managed policy by name
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():  # as `sam package` leaves them: S3 locations
    props = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(props.get(key), str):
            props[key] = "s3://packaged/" + props[key].strip("/")
json.dump(transform(template, json.loads(sys.argv[2]), NoManagedPolicies()), sys.stdout)
"""


def samconfig_parameters(env: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config[env]["deploy"]["parameters"]
    params = dict(item.split("=", 1) for item in deploy["parameter_overrides"].split())
    return {"StackName": deploy["stack_name"], **params}


def expand(parameters: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sam_python(), "-c", TRANSFORM, str(ROOT / "template.yaml"), json.dumps(parameters)],
        capture_output=True, text=True, timeout=120, env={"AWS_DEFAULT_REGION": REGION, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    expanded: dict[str, Any] = json.loads(proc.stdout)
    return expanded


class Stack:
    """template.yaml as CloudFormation would evaluate it in one stack: pseudo parameters, the
    parameters, and what a resource's Ref / GetAtt return (its own name when it has one)."""

    def __init__(self, template: dict[str, Any], stack_name: str, stack_uuid: str, params: dict[str, str]):
        self.t = template
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{stack_uuid}",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        defaults = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        self.params = defaults | params

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        own = self.name_of(name)
        return own if own is not None else f"{self.pseudo['AWS::StackName']}-{name}-GENERATED"

    def name_of(self, logical: str) -> str | None:
        resource = self.t["Resources"][logical]
        prop = NAME_PROPERTIES.get(resource["Type"])
        value: Any = resource.get("Properties", {})
        for part in (prop or "").split("."):
            value = value.get(part) if isinstance(value, dict) and prop else None
        return None if value is None else str(self.resolve(value))

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.t["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return f"arn:aws:{logical}:{self.ref(logical)}:{attr}"
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            for var, v in variables.items():
                text = text.replace("${" + var + "}", str(self.resolve(v)))
            for token in set(__import__("re").findall(r"\$\{([^}!]+)\}", text)):
                if "." in token and not token.startswith("AWS::"):
                    got = self.resolve({"Fn::GetAtt": token.split(".", 1)})
                else:
                    got = self.ref(token)
                text = text.replace("${" + token + "}", str(got))
            return text
        if key == "Fn::Join":
            return arg[0].join(str(self.resolve(p)) for p in arg[1])
        if key == "Fn::Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if key == "Fn::Select":
            return self.resolve(arg[1])[int(arg[0])]
        if key == "Fn::If":
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        if key == "Fn::Equals":
            return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Condition":
            return self.condition(arg)
        return {key: self.resolve(arg)}

    def present(self) -> dict[str, dict[str, Any]]:
        return {
            k: r
            for k, r in self.t["Resources"].items()
            if "Condition" not in r or self.condition(r["Condition"])
        }

    def names(self) -> dict[tuple[str, str], str]:
        """(type, physical name) → logical id of every resource given a name."""
        found: dict[tuple[str, str], str] = {}
        for logical, resource in self.present().items():
            name = self.name_of(logical)
            if name is not None:
                key = (resource["Type"], name)
                assert key not in found, f"{found[key]} and {logical} share the name {name} in one stack"
                found[key] = logical
        return found

    def function_environment(self) -> dict[str, set[str]]:
        env: dict[str, set[str]] = {}
        for resource in self.present().values():
            if resource["Type"] == "AWS::Lambda::Function":
                variables = resource["Properties"].get("Environment", {}).get("Variables", {})
                for k, v in variables.items():
                    env.setdefault(k, set()).add(str(self.resolve(v)))
        return env

    def granted(self, service: str) -> set[str]:
        """Every resource pattern an inline policy of a function's role grants for ``service``."""
        out: set[str] = set()
        for resource in self.present().values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                for stmt in policy["PolicyDocument"]["Statement"]:
                    actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                    if any(a.startswith(f"{service}:") for a in actions):
                        res = self.resolve(stmt["Resource"])
                        out |= set(res if isinstance(res, list) else [res])
        return out


@pytest.fixture(scope="module")
def stacks() -> tuple[Stack, Stack]:
    rendered = []
    for env, uuid in (
        ("dev", "1c2fa620-982a-11e3-aff7-50e2416294e0"),
        ("prod", "7d3e1b40-982a-11e3-aff7-50e2416294e1"),
    ):
        params = samconfig_parameters(env)
        stack_name = params.pop("StackName")
        rendered.append(Stack(expand(params), stack_name, uuid, params))
    return rendered[0], rendered[1]


def test_samconfig_has_dev_and_prod_on_their_own_stacks_and_stages() -> None:
    dev, prod = samconfig_parameters("dev"), samconfig_parameters("prod")
    assert dev["StackName"] != prod["StackName"]
    assert (dev["Stage"], prod["Stage"]) == ("dev", "prod")


def test_no_physical_name_collides_between_two_stages(stacks: tuple[Stack, Stack]) -> None:
    dev, prod = stacks
    dev_names, prod_names = dev.names(), prod.names()
    # The checks below are only as good as what they see: the template does name these.
    named_types = {t for t, _ in dev_names}
    assert {
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
        "AWS::Lambda::LayerVersion",
        "AWS::Scheduler::Schedule",
    } <= named_types
    shared = {key: (dev_names[key], prod_names[key]) for key in dev_names.keys() & prod_names.keys()}
    assert shared == {}, f"both stages would create these: {shared}"
    singletons = {
        r["Type"]
        for s in (dev, prod)
        for r in s.present().values()
        if r["Type"] in ACCOUNT_SINGLETONS and r.get("DeletionPolicy") != "Retain"
    }
    assert singletons == set(), (
        f"an account-wide resource that one stage's deletion would remove: {singletons}"
    )


def test_the_bucket_name_is_valid_and_unique_per_stack(stacks: tuple[Stack, Stack]) -> None:
    import re

    names = [n for s in stacks for (t, n) in s.names() if t == "AWS::S3::Bucket"]
    assert len(names) == 2 and names[0] != names[1]
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name), name
    # The longest region name still fits S3's 63 characters.
    assert len(names[0].replace(REGION, "ap-southeast-2")) <= 63


def test_names_created_at_run_time_differ_too(stacks: tuple[Stack, Stack]) -> None:
    dev, prod = (s.function_environment() for s in stacks)
    for variable in (
        "BATCHGATE_GLUE_DATABASE_PREFIX",
        "POWERTOOLS_METRICS_NAMESPACE",
        "BATCHGATE_BUCKET",
        "BATCHGATE_TABLE",
    ):
        assert len(dev[variable]) == 1 and len(prod[variable]) == 1, variable
        assert dev[variable] != prod[variable], f"{variable} is the same in both stages"
    # Each stage's functions may touch only its own Glue databases: neither grant matches the
    # other stage's databases.
    (dev_prefix,), (prod_prefix,) = (
        dev["BATCHGATE_GLUE_DATABASE_PREFIX"],
        prod["BATCHGATE_GLUE_DATABASE_PREFIX"],
    )
    dev_glue, prod_glue = (s.granted("glue") for s in stacks)
    assert dev_glue and prod_glue
    for grants, other in ((dev_glue, prod_prefix), (prod_glue, dev_prefix)):
        database = f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{other}_acme_prod"
        assert not any(fnmatch.fnmatchcase(database, g) for g in grants), (grants, database)
