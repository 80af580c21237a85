"""moto-backed AWS for handler tests: the table comes from template.yaml, so tests and infrastructure cannot drift."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.helpers import CALLBACK_PASSWORD, CALLBACK_USER, ROOT

TAP_QUEUE = "event-tap"


@cache
def template_resources() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems, problems
    return template["Resources"]


def create_table(dynamodb: Any, name: str, properties: dict[str, Any]) -> None:
    indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in properties.get("GlobalSecondaryIndexes", [])
    ]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    ttl = properties["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@dataclass
class Aws:
    table_name: str
    bus_name: str
    tap_queue_url: str
    callback_secret_arn: str
    provider_secret_arn: str

    def published(self) -> list[dict[str, Any]]:
        """Every event published since the last call, as EventBridge envelopes."""
        sqs = boto3.client("sqs")
        events = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return events
            for message in batch:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def item(self, key: str) -> dict[str, Any] | None:
        table = boto3.resource("dynamodb").Table(self.table_name)
        return table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")

    def items(self) -> list[dict[str, Any]]:
        return boto3.resource("dynamodb").Table(self.table_name).scan()["Items"]


def reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters
    from wab import aws, settings

    aws.reset_clients()
    settings.load.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        reset_caches()
        resources = template_resources()
        create_table(boto3.client("dynamodb"), "messages", resources["MessagesTable"]["Properties"])
        events = boto3.client("events")
        sqs = boto3.client("sqs")
        bus = "gateway-bus"
        events.create_event_bus(Name=bus)
        tap_url = sqs.create_queue(QueueName=TAP_QUEUE)["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["wab.gateway"]}))
        events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": tap_arn}])
        secrets = boto3.client("secretsmanager")
        callback_secret = secrets.create_secret(
            Name="callback-credentials",
            SecretString=json.dumps({"username": CALLBACK_USER, "password": CALLBACK_PASSWORD}),
        )["ARN"]
        provider_secret = secrets.create_secret(
            Name="provider",
            SecretString=json.dumps(
                {"base_url": "https://provider.test/rest/wab/v1", "username": "api", "password": "api-secret"}
            ),
        )["ARN"]
        for name, value in {
            "TABLE_NAME": "messages",
            "EVENT_BUS_NAME": bus,
            "CALLBACK_SECRET_ARN": callback_secret,
            "PROVIDER_SECRET_ARN": provider_secret,
            "RETENTION_DAYS": "30",
        }.items():
            monkeypatch.setenv(name, value)
        yield Aws("messages", bus, tap_url, callback_secret, provider_secret)
        reset_caches()
