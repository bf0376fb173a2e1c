"""The AWS resources template.yaml declares, created on the embedded AWS: DynamoDB tables, SQS
queues (dead-letter queues first), S3 buckets with their encryption, public-access block,
versioning and notifications, the state machines from their ASL files, and the schedule group
(which the local scheduler reads, since moto never fires a schedule).

What the local stack deliberately leaves out: the bucket's TLS-only policy (the local endpoint is
plain HTTP) and IAM (moto does not enforce it).
"""

from __future__ import annotations

import json
from typing import Any

from batchgate.aws.clients import client
from batchgate_tools.template import Resolver

DUMMY_ROLE = "arn:aws:iam::123456789012:role/batchgate-local"

# Resource types the local stack creates on moto (the methods below), and the ones it leaves out
# with the reason (docs/local-persistence.md, "What the local stack does not create"). A type the
# template gains must be added to one of the two: tests/unit/test_template.py checks it.
PROVISIONED = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::Serverless::StateMachine",
        "AWS::Scheduler::ScheduleGroup",
    }
)
NOT_PROVISIONED = {
    "AWS::Serverless::Function": "run in-process from their handler files (local/functions.py)",
    "AWS::Serverless::LayerVersion": "the packages are imported from the source tree",
    "AWS::Serverless::Api": "served by the local gateway (local/http_api.py)",
    "AWS::S3::BucketPolicy": "TLS-only access: the local endpoint is plain HTTP",
    "AWS::SQS::QueuePolicy": "moto does not enforce who may send",
    "AWS::IAM::Role": "moto does not enforce IAM",
    "AWS::ApiGateway::Account": "no API Gateway locally",
    "AWS::Logs::LogGroup": "handler logs go to the terminal (--verbose) or `batchgate invoke`'s stderr",
    "AWS::CloudWatch::Alarm": "nothing emits CloudWatch metrics locally (metrics are off), so none could fire",
    "AWS::CloudWatch::Dashboard": "no metrics to show; moto would only store its JSON",
    "AWS::SNS::Topic": "only the alarms publish to it",
}


class Provisioner:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def tables(self) -> None:
        ddb = client("dynamodb")
        for logical, res in self.resolver.resources_of("AWS::DynamoDB::Table").items():
            props = self.resolver.resolve(res["Properties"])
            kwargs: dict[str, Any] = {
                "TableName": self.resolver.physical_name(logical),
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            ddb.create_table(**kwargs)

    def schedule_groups(self) -> None:
        """moto stores schedules but never fires them: the local scheduler reads them
        (local/scheduler.py)."""
        scheduler = client("scheduler")
        for logical in self.resolver.resources_of("AWS::Scheduler::ScheduleGroup"):
            scheduler.create_schedule_group(Name=self.resolver.physical_name(logical))

    def queues(self) -> None:
        sqs = client("sqs")
        queues = self.resolver.resources_of("AWS::SQS::Queue")
        # Dead-letter queues first: redrive policies point at them.
        ordered = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))
        for logical in ordered:
            props = self.resolver.resolve(queues[logical].get("Properties") or {})
            attrs = {}
            if "VisibilityTimeout" in props:
                attrs["VisibilityTimeout"] = str(props["VisibilityTimeout"])
            if "RedrivePolicy" in props:
                attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            sqs.create_queue(QueueName=self.resolver.physical_name(logical), Attributes=attrs)

    def buckets(self) -> None:
        """The buckets and their settings, without notifications (see :meth:`notifications`)."""
        s3 = client("s3")
        for logical, res in self.resolver.resources_of("AWS::S3::Bucket").items():
            props = self.resolver.resolve(res["Properties"])
            name = self.resolver.physical_name(logical)
            s3.create_bucket(Bucket=name)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if "BucketEncryption" in props:
                s3.put_bucket_encryption(
                    Bucket=name,
                    ServerSideEncryptionConfiguration={
                        # CloudFormation's property name differs from the S3 API's.
                        "Rules": [
                            {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                        ]
                    },
                )
            if "PublicAccessBlockConfiguration" in props:
                s3.put_public_access_block(
                    Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
                )

    def notifications(self) -> None:
        """The buckets' object-created notifications to their queues. A separate step, so restored
        objects can be loaded first without each one raising an event."""
        s3 = client("s3")
        for logical, res in self.resolver.resources_of("AWS::S3::Bucket").items():
            props = self.resolver.resolve(res["Properties"])
            queue_configs = []
            for qc in props.get("NotificationConfiguration", {}).get("QueueConfigurations", []):
                rules = qc.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                queue_configs.append(
                    {
                        "QueueArn": qc["Queue"],
                        "Events": [qc["Event"]],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}
                        },
                    }
                )
            if queue_configs:
                s3.put_bucket_notification_configuration(
                    Bucket=self.resolver.physical_name(logical),
                    NotificationConfiguration={"QueueConfigurations": queue_configs},
                )

    def state_machines(self) -> dict[str, str]:
        """Each state machine from its ASL file with the template's substitutions; logical id → ARN."""
        sfn = client("stepfunctions")
        machines: dict[str, str] = {}
        for logical in self.resolver.resources_of("AWS::Serverless::StateMachine"):
            definition = self.resolver.state_machine_definition(logical)
            json.loads(definition)  # a substitution that broke the JSON fails here, loudly
            machines[logical] = sfn.create_state_machine(
                name=self.resolver.physical_name(logical), definition=definition, roleArn=DUMMY_ROLE
            )["stateMachineArn"]
        return machines

    def queue_routes(self) -> list[tuple[str, str, str, str]]:
        """(bucket, prefix, suffix, queue logical id) of every notification rule."""
        routes = []
        for logical, res in self.resolver.resources_of("AWS::S3::Bucket").items():
            props = self.resolver.resolve(res["Properties"])
            for qc in props.get("NotificationConfiguration", {}).get("QueueConfigurations", []):
                rules = {
                    r["Name"]: r["Value"] for r in qc.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                }
                queue = self._queue_logical(qc["Queue"].rsplit(":", 1)[1])
                routes.append(
                    (
                        self.resolver.physical_name(logical),
                        rules.get("prefix", ""),
                        rules.get("suffix", ""),
                        queue,
                    )
                )
        return routes

    def _queue_logical(self, physical: str) -> str:
        for logical in self.resolver.resources_of("AWS::SQS::Queue"):
            if self.resolver.physical_name(logical) == physical:
                return logical
        raise KeyError(physical)
