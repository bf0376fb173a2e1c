"""template.yaml is the single source of wiring: the local stack reads what AWS deploys."""

from __future__ import annotations

import json
from pathlib import Path

from batchgate_tools.template import LocalNames, Resolver, load_template


def resolver() -> Resolver:
    return Resolver(load_template(), LocalNames(endpoint="http://127.0.0.1:4566"), {"PollSeconds": "1"})


def test_short_form_intrinsics_are_parsed() -> None:
    t = load_template()
    env = t["Globals"]["Function"]["Environment"]["Variables"]
    assert env["BATCHGATE_TABLE"] == {"Ref": "StateTable"}
    assert env["BATCHGATE_WAREHOUSE"] == {"Fn::Sub": "s3://${UploadBucket}/warehouse"}


def test_local_names_and_intrinsics() -> None:
    r = resolver()
    assert r.ref("UploadBucket") == "batchgate-uploads"
    assert r.ref("TaskQueue") == "http://127.0.0.1:4566/123456789012/batchgate-task-queue"
    assert r.get_att("TaskQueue", "Arn") == "arn:aws:sqs:us-east-1:123456789012:batchgate-task-queue"
    assert r.ref("CompleteStateMachine").endswith(":stateMachine:batchgate-complete-state-machine")
    env = r.function_environment("ApiFunction")
    assert env["BATCHGATE_WAREHOUSE"] == "s3://batchgate-uploads/warehouse"
    assert env["BATCHGATE_COMPLETE_SM"] == r.ref("CompleteStateMachine")


def test_state_machine_definitions_substitute_to_valid_json() -> None:
    r = resolver()
    for logical in r.resources_of("AWS::Serverless::StateMachine"):
        definition = json.loads(r.state_machine_definition(logical))
        text = json.dumps(definition)
        assert "${" not in text, f"{logical} has an unsubstituted variable"
        assert r.ref("TaskQueue") in text
    complete = r.state_machine_definition("CompleteStateMachine")
    assert "States.StringToJson('1')" in complete  # the parameter override reached the ASL


def test_every_function_handler_file_exists() -> None:
    r = resolver()
    for logical in r.resources_of("AWS::Serverless::Function"):
        path, func = r.function_handler(logical)
        assert path.exists(), f"{logical}: {path} is missing"
        assert f"def {func}(" in path.read_text()


def test_each_state_machine_has_one_workflow_module_with_exactly_its_tasks() -> None:
    import re

    from batchgate.workflow import (
        abort,
        bundle_export,
        bundle_import,
        complete,
        feed_sync,
        gc,
        job_run,
        revert,
        validate_large,
    )
    from batchgate.workflow.tasks import TASKS

    modules = {
        "CompleteStateMachine": complete,
        "AbortStateMachine": abort,
        "RevertStateMachine": revert,
        "GcStateMachine": gc,
        "ValidateLargeStateMachine": validate_large,
        "JobRunStateMachine": job_run,
        "FeedSyncStateMachine": feed_sync,
        "BundleExportStateMachine": bundle_export,
        "BundleImportStateMachine": bundle_import,
    }
    r = resolver()
    machines = r.resources_of("AWS::Serverless::StateMachine")
    assert set(machines) == set(modules), "a state machine without its workflow module, or the reverse"
    for logical, module in modules.items():
        sent = set(re.findall(r'"task": "(\w+)"', r.state_machine_definition(logical)))
        assert sent == set(module.TASKS), (
            f"{logical} sends {sorted(sent)}, {module.__name__} has {sorted(module.TASKS)}"
        )
        path = Path(r.resource(logical)["Properties"]["DefinitionUri"])
        assert module.__name__.rsplit(".", 1)[1] == path.name.removesuffix(".asl.json")
    assert len(TASKS) == sum(len(m.TASKS) for m in modules.values()), "a task name used by two machines"


def test_every_resource_type_is_created_locally_or_left_out_for_a_stated_reason() -> None:
    from batchgate_tools.local.provision import NOT_PROVISIONED, PROVISIONED

    types = {r["Type"] for r in load_template()["Resources"].values()}
    assert PROVISIONED.isdisjoint(NOT_PROVISIONED)
    unaccounted = types - PROVISIONED - set(NOT_PROVISIONED)
    assert unaccounted == set(), f"decide whether `batchgate up` creates these: {sorted(unaccounted)}"
    stale = (PROVISIONED | set(NOT_PROVISIONED)) - types
    assert stale == set(), f"no longer in template.yaml: {sorted(stale)}"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "local-persistence.md").read_text()
    assert all(t in doc for t in NOT_PROVISIONED), "docs/local-persistence.md lists what is left out"


def test_functions_that_start_a_state_machine_are_given_its_arn() -> None:
    """The local stack runs every function in one environment, the union of all of theirs, so a
    variable missing from one function's environment would go unnoticed there and fail in AWS."""
    r = resolver()
    for name in ("ValidateCsvFunction", "ValidateJsonFunction", "ValidateParquetFunction"):
        env = r.function_environment(name)
        assert "BATCHGATE_COMPLETE_SM" in env, (
            f"{name} completes bucket drops: it needs BATCHGATE_COMPLETE_SM"
        )
    assert "BATCHGATE_BUNDLE_IMPORT_SM" in r.function_environment("ValidateParquetFunction")
    for name in ("BATCHGATE_BUNDLE_EXPORT_SM", "BATCHGATE_BUNDLE_IMPORT_SM"):
        assert name in r.function_environment("ApiFunction")


VALIDATORS = ("ValidateCsvFunction", "ValidateJsonFunction", "ValidateParquetFunction")


def test_the_validators_memory_is_one_parameter_that_the_local_context_reports() -> None:
    """The three validators are sized together (docs/performance.md, Lambda sizing), and the local
    stack's context object reports the value the template resolves to, as Lambda's does."""
    from batchgate_tools.local.functions import LocalFunctions

    template = load_template()
    param = template["Parameters"]["ValidatorMemorySize"]
    assert param["MinValue"] <= param["Default"] <= param["MaxValue"] <= 10240
    for name in VALIDATORS:
        assert template["Resources"][name]["Properties"]["MemorySize"] == {"Ref": "ValidatorMemorySize"}
    for value in ("1769", str(param["Default"])):
        r = Resolver(template, LocalNames(endpoint="http://127.0.0.1:4566"), {"ValidatorMemorySize": value})
        for name in VALIDATORS:
            assert LocalFunctions(r).context(name).memory_limit_in_mb == int(value)
