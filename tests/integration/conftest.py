"""moto-backed AWS for handler tests: the table comes from template.yaml, so tests and infrastructure cannot drift."""

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
import pytest
import responses
from moto import mock_aws
from wab import aws as wab_aws

from local.event_source import records_to_delete, sqs_record
from tests.helpers import CALLBACK_PASSWORD, CALLBACK_USER, ROOT, LambdaContext, load_handler

TAP_QUEUE = "event-tap"
BUSINESS = "1234567890"  # the business number the `sender` fixture configures
MESSAGE_ID = "b95fc11e-37f0-4770-a082-6ea22d4c4d12"  # the provider's id of the send most tests make


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


# --- the sender function on a real (moto) send queue, and the provider it calls ---------------------------------------


@dataclass
class Harness:
    aws: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    module: Any
    monkeypatch: pytest.MonkeyPatch
    visibility_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sqs(self) -> Any:
        return wab_aws.client("sqs")

    def configure(self, **variables: str) -> None:
        """Change the sender's settings (a new container, as after a deploy)."""
        from wab import settings

        for name, value in variables.items():
            self.monkeypatch.setenv(name, value)
        settings.load.cache_clear()
        self.module.sender.cache_clear()

    def put(self, *bodies: Any) -> None:
        for body in bodies:
            self.sqs.send_message(
                QueueUrl=self.queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body)
            )

    def run(self, context: LambdaContext | None = None) -> dict[str, Any]:
        """One invocation on up to ten visible messages; settles what the answer says succeeded."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        assert messages, "no visible message on the send queue"
        records = [sqs_record(message, self.queue_arn, "eu-west-1") for message in messages]
        result = self.module.lambda_handler({"Records": records}, context or LambdaContext())
        settled = records_to_delete(records, result, report_batch_item_failures=True)
        for record in settled:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
        self.last_records = records
        return result

    def run_until_empty(self, limit: int = 10) -> None:
        for _ in range(limit):
            if not self.visible():
                return
            self.run()
        raise AssertionError("the send queue did not drain")

    def visible(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def in_flight(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])

    def time_passes(self) -> None:
        """Every postponed message becomes visible again."""
        for record in self.last_records:
            with contextlib.suppress(self.sqs.exceptions.ClientError):  # already deleted
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )

    def queued_bodies(self) -> list[dict[str, Any]]:
        """The bodies of the visible messages, left on the queue."""
        bodies = []
        for message in self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return bodies

    def record(self, message_id: str = MESSAGE_ID) -> dict[str, Any] | None:
        return self.item(f"MSG#{message_id}")

    # The same views as the `aws` fixture's, through the clients already made (creating one costs more than a call).
    def item(self, key: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(TableName=self.aws.table_name, Key={"pk": {"S": key}}, ConsistentRead=True)
        return _plain(found["Item"]) if "Item" in found else None

    def items(self) -> list[dict[str, Any]]:
        return [_plain(item) for item in self.dynamodb.scan(TableName=self.aws.table_name)["Items"]]

    def published(self) -> list[dict[str, Any]]:
        events = []
        while batch := self.sqs.receive_message(QueueUrl=self.aws.tap_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.aws.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return events

    @property
    def dynamodb(self) -> Any:
        return wab_aws.client("dynamodb")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in item.items()}


@pytest.fixture
def sender(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The send queue (with its DLQ, settings from template.yaml) and the sender function configured for it.

    Every client is the one the sender itself uses (`wab.aws.client`): creating clients is most of a test's cost.
    """
    queue = template_resources()["SendQueue"]["Properties"]
    sqs = wab_aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName="send-dlq")["QueueUrl"]
    redrive = {
        "deadLetterTargetArn": queue_arn(dlq_url),
        "maxReceiveCount": str(queue["RedrivePolicy"]["maxReceiveCount"]),
    }
    queue_url = sqs.create_queue(
        QueueName="send",
        Attributes={"VisibilityTimeout": str(queue["VisibilityTimeout"]), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    module = load_handler("sender")
    harness = Harness(aws, queue_url, queue_arn(queue_url), dlq_url, module, monkeypatch)
    harness.configure(
        SEND_QUEUE_URL=queue_url,
        BUSINESS_NUMBER=BUSINESS,
        WINDOW_POLICY="off",
        BROADCAST_CHUNK_SIZE="100",
    )

    def postponed(params: dict[str, Any], **_: Any) -> None:
        if params["VisibilityTimeout"] > 0:  # the harness itself only ever makes messages visible again (0)
            harness.visibility_changes.append(params)

    sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", postponed)
    yield harness
    module.sender.cache_clear()


def queue_arn(queue_url: str) -> str:
    return wab_aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


@pytest.fixture
def provider() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
