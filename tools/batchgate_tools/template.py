"""Read ``template.yaml`` — the single source of wiring for AWS, the local stack and the tests.

Only what the local stack needs is resolved: ``Ref``, ``Fn::Sub``, ``Fn::GetAtt``, ``Fn::If``,
``Fn::Join``, ``Fn::Split`` and ``Fn::Select`` on parameters, resources and pseudo parameters, mapped to local physical names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns short-form intrinsics (``!Ref``, ``!Sub`` …) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node for !{tag_suffix}", node.start_mark
        )
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return data


@dataclass
class LocalNames:
    """Physical names of the template's resources in the local stack."""

    region: str = "us-east-1"
    account: str = "123456789012"
    endpoint: str = "http://127.0.0.1:4566"
    overrides: dict[str, str] = field(default_factory=dict)


# Local names that the issue fixes or that read better than generated ones.
FIXED_NAMES = {"UploadBucket": "batchgate-uploads", "StateTable": "batchgate-state"}


class Resolver:
    """Resolve intrinsics against local physical resources."""

    def __init__(self, template: dict[str, Any], names: LocalNames, parameters: dict[str, str] | None = None):
        self.t = template
        self.names = names
        self.parameters = {
            k: str(v.get("Default", "")) for k, v in (template.get("Parameters") or {}).items()
        } | (parameters or {})

    # -- physical ids ---------------------------------------------------------------------
    def physical_name(self, logical: str) -> str:
        if logical in self.names.overrides:
            return self.names.overrides[logical]
        if logical in FIXED_NAMES:
            return FIXED_NAMES[logical]
        return "batchgate-" + re.sub(r"(?<!^)(?=[A-Z])", "-", logical).lower()

    def ref(self, logical: str) -> str:
        pseudo = {
            "AWS::Region": self.names.region,
            "AWS::AccountId": self.names.account,
            "AWS::Partition": "aws",
            "AWS::StackName": "batchgate",
            "AWS::StackId": f"arn:aws:cloudformation:{self.names.region}:{self.names.account}:stack/batchgate/"
            "00000000-0000-4000-8000-000000000000",
            "AWS::NoValue": "",
        }
        if logical in pseudo:
            return pseudo[logical]
        if logical in self.parameters:
            return self.parameters[logical]
        rtype = self.resource(logical)["Type"]
        name = self.physical_name(logical)
        if rtype == "AWS::SQS::Queue":
            return f"{self.names.endpoint}/{self.names.account}/{name}"
        if rtype in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return f"arn:aws:states:{self.names.region}:{self.names.account}:stateMachine:{name}"
        return name

    def get_att(self, logical: str, attr: str) -> str:
        rtype = self.resource(logical)["Type"]
        name = self.physical_name(logical)
        if attr == "Arn":
            service = {
                "AWS::SQS::Queue": f"arn:aws:sqs:{self.names.region}:{self.names.account}:{name}",
                "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
                "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.names.region}:{self.names.account}:table/{name}",
            }
            if rtype in service:
                return service[rtype]
            if rtype == "AWS::Serverless::Function":
                return f"arn:aws:lambda:{self.names.region}:{self.names.account}:function:{name}"
            if rtype == "AWS::IAM::Role":
                return f"arn:aws:iam::{self.names.account}:role/{name}"
            if rtype == "AWS::Scheduler::ScheduleGroup":
                return f"arn:aws:scheduler:{self.names.region}:{self.names.account}:schedule-group/{name}"
        if attr in ("QueueName", "Name"):
            return name
        raise KeyError(f"{logical}.{attr} has no local value")

    def resource(self, logical: str) -> dict[str, Any]:
        res: dict[str, Any] = self.t["Resources"][logical]
        return res

    # -- intrinsics -----------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(logical, attr)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self._condition(cond) else no)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def repl(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and not expr.startswith("AWS::"):
                logical, attr = expr.split(".", 1)
                return self.get_att(logical, attr)
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}!]+)\}", repl, text)

    def _condition(self, name: str) -> bool:
        cond = self.t["Conditions"][name]
        return bool(self._eval(cond))

    def _eval(self, cond: Any) -> Any:
        if isinstance(cond, dict):
            ((key, arg),) = cond.items()
            if key == "Fn::Not":
                return not self._eval(arg[0])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Condition":
                return self._condition(arg)
        return self.resolve(cond)

    # -- views the local stack uses -------------------------------------------------------
    def resources_of(self, *types: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.t["Resources"].items() if v["Type"] in types}

    def global_environment(self) -> dict[str, str]:
        """``Globals.Function.Environment.Variables``, resolved."""
        glob = (
            ((self.t.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {})
        )
        return {k: str(self.resolve(v)) for k, v in glob.items()}

    def function_environment(self, logical: str) -> dict[str, str]:
        """A function's environment: the globals, then its own variables over them."""
        own = self.resource(logical)["Properties"].get("Environment", {}).get("Variables", {})
        return {**self.global_environment(), **{k: str(self.resolve(v)) for k, v in own.items()}}

    def function_handler(self, logical: str) -> tuple[Path, str]:
        """(code directory, handler function name) of a Lambda function."""
        props = self.resource(logical)["Properties"]
        module, func = props["Handler"].rsplit(".", 1)
        return ROOT / props["CodeUri"] / f"{module}.py", func

    def state_machine_definition(self, logical: str) -> str:
        props = self.resource(logical)["Properties"]
        text = (ROOT / props["DefinitionUri"]).read_text(encoding="utf-8")
        subs = {k: str(self.resolve(v)) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
        return re.sub(r"\$\{(\w+)\}", lambda m: subs.get(m.group(1), m.group(0)), text)
