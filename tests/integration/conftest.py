"""moto-backed AWS for handler tests: the table comes from template.yaml, so tests and infrastructure cannot drift."""

import contextlib
import io
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatch
from functools import cache
from typing import Any

import boto3
import pytest
import responses
from moto import mock_aws
from wab import aws as wab_aws

from local import moto_dynamodb, moto_sqs, strict_aws
from local.event_source import records_to_delete, sqs_record
from tests.helpers import (
    AFTER_INVOCATION,
    CALLBACK_PASSWORD,
    CALLBACK_USER,
    ROOT,
    LambdaContext,
    answer_json,
    basic,
    http_event,
    load_handler,
    running,
)

TAP_QUEUE = "event-tap"
BUSINESS = "1234567890"  # the business number the `sender` fixture configures
MESSAGE_ID = "b95fc11e-37f0-4770-a082-6ea22d4c4d12"  # the provider's id of the send most tests make
CUSTOMER = "+64211234567"


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
        **(
            {"StreamSpecification": {"StreamEnabled": True, **stream}}
            if (stream := properties.get("StreamSpecification"))
            else {}
        ),
    )
    ttl = properties["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


@dataclass
class TableStream:
    """The table's stream feeding the relay function as its event source mapping does (template.yaml,
    RelayStreamMapping): message records' inserts and changes only, in order, a batch retried from the record the
    function reports. Read from moto's backend, whose API serialises a deep item's images slowly (one shard here)."""

    table_name: str
    arn: str
    handled: int = 0  # stream records handled so far
    batch_size: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)  # one batch at a time, as on one shard
    behind: bool = False  # the stream fell behind: nothing is relayed until `caught_up`

    def after(self, function: str) -> None:
        if function != "relay":
            self.relay()

    def relay(self) -> None:
        with self.lock:
            if not self.behind:
                self._relay()

    @contextlib.contextmanager
    def falling_behind(self) -> Iterator[None]:
        """The relay runs late (an EventBridge outage, a backlog): what is written meanwhile waits on the stream."""
        self.behind = True
        try:
            yield
        finally:
            self.behind = False

    def _relay(self) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].get_table(self.table_name)
        records = [_lambda_record(record.to_json()) for record in table.stream_shard.items[self.handled :]]
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            wanted = [{**record, "eventSourceARN": self.arn} for record in batch if _relayed(record)]
            if wanted:
                answer = load_handler("relay").lambda_handler({"Records": wanted}, LambdaContext())
                if failures := answer["batchItemFailures"]:
                    numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
                    self.handled += start + numbers.index(failures[0]["itemIdentifier"])
                    return  # the rest waits for the next call, as Lambda retries from the failed record
            self.handled += len(batch)


def _lambda_record(record: dict[str, Any]) -> dict[str, Any]:
    """moto's stream record as Lambda hands it over: the write's time in epoch seconds."""
    import calendar

    change = dict(record["dynamodb"])
    change["ApproximateCreationDateTime"] = calendar.timegm(change["ApproximateCreationDateTime"].utctimetuple())
    return {**record, "dynamodb": change}


def _relayed(record: dict[str, Any]) -> bool:
    """The mapping's filter (template.yaml), as the local stack applies it."""
    from local.stream_source import matches

    return any(matches(pattern, record) for pattern in relay_filters())


@cache
def relay_filters() -> tuple[Any, ...]:
    from local.stream_source import parse_filter_patterns

    filters = template_resources()["RelayStreamMapping"]["Properties"]["FilterCriteria"]["Filters"]
    return parse_filter_patterns([each["Pattern"] for each in filters])


@dataclass
class Aws:
    table_name: str
    bus_name: str
    tap_queue_url: str
    callback_secret_arn: str
    provider_secret_arn: str
    stream: TableStream

    def published(self) -> list[dict[str, Any]]:
        """Every event published since the last call (the table's stream relayed first), as EventBridge envelopes."""
        self.stream.relay()
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


# --- every AWS call a function makes is one its role allows -------------------------------------------------------
# moto checks no IAM: a call the role lacks would pass every test here and fail in an account. Each call made while a
# handler runs is recorded under its function, and at the end each is checked against the function's role in
# template.yaml (its actions; the resources are checked by tests/unit/test_template_security.py).
IAM_PREFIXES = {"dynamodb": "dynamodb", "events": "events", "s3": "s3", "secretsmanager": "secretsmanager"}
IAM_PREFIXES |= {"sqs": "sqs", "stepfunctions": "states"}
# Calls that IAM authorises as another action.
IAM_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "s3:HeadObject": "s3:GetObject",
}
ROLES = {
    "callbacks": "CallbacksFunction",
    "messages": "MessagesFunction",
    "intake": "IntakeFunction",
    "sender": "SenderFunction",
    "parking": "ParkingFunction",
    "waits": "WaitsFunction",
    "relay": "RelayFunction",
}
CALLS_MADE: dict[str, set[str]] = {}


def _record_call(model: Any, **_: Any) -> None:
    if (function := running()) is not None:
        action = f"{IAM_PREFIXES[model.service_model.service_name]}:{model.name}"
        CALLS_MADE.setdefault(function, set()).add(IAM_ACTIONS.get(action, action))


def allowed_actions(function: str) -> set[str]:
    from tests.unit.test_template_security import allow_statements, as_list, deployed, translated

    resources = deployed(translated(), {})
    owner = ROLES[function]
    return {
        action
        for where, statement in allow_statements(resources)
        if where.startswith((f"{owner}Role/", f"{owner}LogsPolicy"))
        for action in as_list(statement["Action"])
    }


@pytest.fixture(scope="session", autouse=True)
def calls_allowed_by_each_role() -> Iterator[None]:
    yield
    denied = {
        function: sorted(
            call for call in calls if not any(fnmatch(call, action) for action in allowed_actions(function))
        )
        for function, calls in CALLS_MADE.items()
    }
    denied = {function: calls for function, calls in denied.items() if calls}
    assert not denied, f"AWS calls the functions' roles do not allow (template.yaml): {denied}"


def reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters
    from wab import aws, settings

    aws.reset_clients()
    settings.load.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        strict_aws.install()
        moto_sqs.install()
        moto_dynamodb.install()
        reset_caches()
        # moto gives each mock a default session of its own: the functions' clients are made from this one
        boto3._get_default_session().events.register("provide-client-params", _record_call)
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
        stream_arn = boto3.client("dynamodb").describe_table(TableName="messages")["Table"]["LatestStreamArn"]
        stream = TableStream("messages", stream_arn)
        AFTER_INVOCATION.append(stream.after)
        try:
            yield Aws("messages", bus, tap_url, callback_secret, provider_secret, stream)
        finally:
            AFTER_INVOCATION.remove(stream.after)
        reset_caches()


@pytest.fixture
def callbacks(aws: Aws) -> Any:
    module = load_handler("callbacks")
    module.dependencies.cache_clear()
    return module


@pytest.fixture
def post(callbacks: Any) -> Any:
    def post(
        route: str,
        body: Any = None,
        *,
        auth: str | None = basic(),
        raw: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        all_headers = {"authorization": auth} if auth else {}
        all_headers.update(headers or {})
        event = http_event("POST", f"/callbacks/{route}", body=body, raw_body=raw, headers=all_headers)
        response = callbacks.lambda_handler(event, LambdaContext())
        return response["statusCode"], answer_json(response), response.get("headers", {})

    return post


@pytest.fixture
def sent_entries(aws: Aws) -> list[dict[str, Any]]:
    """The PutEvents entries exactly as the gateway sent them (moto re-encodes numbers when it delivers)."""
    from wab import aws as wab_aws

    entries: list[dict[str, Any]] = []
    wab_aws.client("events").meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: entries.extend(params["Entries"])
    )
    return entries


@pytest.fixture
def sent(aws: Aws) -> Any:
    """`sent(message_id, reference)` stores an MT record and publishes its `Accepted` as the sender does (the event is
    taken off the tap): what DLRs report on."""
    from wab import clock
    from wab.acceptance import record_accepted
    from wab.models.commands import validate_command
    from wab.outcomes import Accepted
    from wab.publisher import EventPublisher
    from wab.store import MessageStore

    def send(message_id: str = MESSAGE_ID, reference: str = "order-7") -> None:
        command = validate_command(
            {
                "destination": CUSTOMER,
                "type": "text",
                "text": {"body": "Your order has shipped"},
                "reference": reference,
            }
        )
        record_accepted(
            MessageStore(aws.table_name),
            EventPublisher(aws.bus_name),
            command,  # type: ignore[arg-type]
            [Accepted(message_id=message_id, destination=CUSTOMER)],
            source=BUSINESS,
            at=clock.iso(clock.now()),
            retention_days=30,
            lease_until=2**62,
        )
        aws.published()

    return send


# --- the sender function on a real (moto) send queue, and the provider it calls ---------------------------------------


LANES = ("priority", "bulk")


@dataclass
class Harness:
    """The send path against moto: the send queue, the intake, the two lanes and the sender, each queue a real (moto)
    FIFO queue, each function invoked the way Lambda's poller invokes it (a batch received, the answer settled), so
    redeliveries, receive counts, message groups and visibility changes are real."""

    aws: Any
    urls: dict[str, str]  # send, priority, bulk, dlq
    arns: dict[str, str]
    intake: Any  # the intake handler module
    module: Any  # the sender handler module
    monkeypatch: pytest.MonkeyPatch
    visibility_changes: list[dict[str, Any]] = field(default_factory=list)
    last_records: list[dict[str, Any]] = field(default_factory=list)
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def sqs(self) -> Any:
        return wab_aws.client("sqs")

    @property
    def queue_url(self) -> str:
        return self.urls["send"]

    @property
    def queue_arn(self) -> str:
        return self.arns["send"]

    @property
    def dlq_url(self) -> str:
        return self.urls["dlq"]

    def configure(self, **variables: str) -> None:
        """Change the functions' settings (new containers, as after a deploy)."""
        from wab import settings

        for name, value in variables.items():
            self.monkeypatch.setenv(name, value)
        settings.load.cache_clear()
        self.module.sender.cache_clear()
        self.intake.intake.cache_clear()

    def put(self, *bodies: Any, group: str = "requests") -> None:
        """Send commands straight to the send queue, each a request of its own."""
        for body in bodies:
            self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body if isinstance(body, str) else json.dumps(body),
                MessageGroupId=group,
                MessageDeduplicationId=uuid.uuid4().hex,
            )

    def route(self) -> list[dict[str, Any]]:
        """Invoke the intake until the send queue has nothing visible; its answers."""
        answers = []
        while records := self._receive("send"):
            answer = self.intake.lambda_handler({"Records": records}, LambdaContext())
            self._settle("send", records, answer)
            answers.append(answer)
        return answers

    def run(self, context: LambdaContext | None = None, *, lane: str | None = None) -> dict[str, Any]:
        """Route what waits on the send queue, then one sender invocation on up to ten visible messages of a lane
        (the transactional lane first); settles what the answer says succeeded."""
        self.route()
        for name in (lane,) if lane else LANES:
            if records := self._receive(name):
                self.last_records = records
                answer = self.module.lambda_handler({"Records": records}, context or LambdaContext())
                self._settle(name, records, answer)
                return answer
        raise AssertionError("no visible message on the send lanes")

    def run_until_empty(self, limit: int = 20) -> None:
        for _ in range(limit):
            self.route()
            if not self.visible():
                return
            self.run()
        raise AssertionError("the send path did not drain")

    def _receive(self, name: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.urls[name], MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        records = [sqs_record(message, self.arns[name], "eu-west-1") for message in messages]
        self.received.setdefault(name, []).extend(records)
        return records

    def _settle(self, name: str, records: list[dict[str, Any]], answer: dict[str, Any]) -> None:
        for record in records_to_delete(records, answer, report_batch_item_failures=True):
            self.sqs.delete_message(QueueUrl=self.urls[name], ReceiptHandle=record["receiptHandle"])

    def visible(self) -> int:
        return sum(self._count(name, "ApproximateNumberOfMessages") for name in ("send", *LANES))

    def in_flight(self) -> int:
        return sum(self._count(name, "ApproximateNumberOfMessagesNotVisible") for name in ("send", *LANES))

    def _count(self, name: str, attribute: str) -> int:
        answer = self.sqs.get_queue_attributes(QueueUrl=self.urls[name], AttributeNames=[attribute])
        return int(answer["Attributes"][attribute])

    def time_passes(self) -> None:
        """Every postponed message becomes visible again."""
        for name, records in self.received.items():
            for record in records:
                with contextlib.suppress(self.sqs.exceptions.ClientError):  # already deleted
                    self.sqs.change_message_visibility(
                        QueueUrl=self.urls[name], ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                    )
        self.received.clear()

    def lane_messages(self, lane: str) -> list[dict[str, Any]]:
        """The bodies of the visible messages of a lane (routing first), left on it."""
        self.route()
        bodies = []
        for message in self.sqs.receive_message(QueueUrl=self.urls[lane], MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            self.sqs.change_message_visibility(
                QueueUrl=self.urls[lane], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return bodies

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])

    def record(self, message_id: str = MESSAGE_ID) -> dict[str, Any] | None:
        return self.item(f"MSG#{message_id}")

    # The same views as the `aws` fixture's, through the clients already made (creating one costs more than a call).
    def item(self, key: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(TableName=self.aws.table_name, Key={"pk": {"S": key}}, ConsistentRead=True)
        return _plain(found["Item"]) if "Item" in found else None

    def items(self) -> list[dict[str, Any]]:
        return [_plain(item) for item in self.dynamodb.scan(TableName=self.aws.table_name)["Items"]]

    def published(self) -> list[dict[str, Any]]:
        self.aws.stream.relay()
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


QUEUES = {"send": "SendQueue", "priority": "PriorityLaneQueue", "bulk": "BulkLaneQueue", "dlq": "SendDeadLetterQueue"}


@pytest.fixture
def sender(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The send path's queues (attributes from template.yaml) and the intake and sender functions configured for them.

    Every client is the one the functions themselves use (`wab.aws.client`): creating clients is most of a test's cost.
    """
    resources = template_resources()
    sqs = wab_aws.client("sqs")
    urls: dict[str, str] = {}
    for name in ("dlq", "send", "priority", "bulk"):
        properties = resources[QUEUES[name]]["Properties"]
        attributes = {
            key: str(properties[key]).lower() if isinstance(properties[key], bool) else str(properties[key])
            for key in (
                "FifoQueue",
                "ContentBasedDeduplication",
                "DeduplicationScope",
                "FifoThroughputLimit",
                "VisibilityTimeout",
            )
            if key in properties
        }
        if "RedrivePolicy" in properties:
            redrive = {"deadLetterTargetArn": queue_arn(urls["dlq"]), "maxReceiveCount": "1000"}
            attributes["RedrivePolicy"] = json.dumps(redrive)
        urls[name] = sqs.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"]
    urls["parking"] = sqs.create_queue(QueueName="parking")["QueueUrl"]
    urls["waits"] = wait_queue(sqs)
    harness = Harness(
        aws,
        urls,
        {name: queue_arn(url) for name, url in urls.items()},
        load_handler("intake"),
        load_handler("sender"),
        monkeypatch,
    )
    harness.configure(
        SEND_QUEUE_URL=urls["send"],
        PRIORITY_LANE_URL=urls["priority"],
        BULK_LANE_URL=urls["bulk"],
        DEAD_LETTER_QUEUE_URL=urls["dlq"],
        BUSINESS_NUMBER=BUSINESS,
        WINDOW_POLICY="off",
        BROADCAST_CHUNK_SIZE="100",
        NUMBER_RATE_PER_SECOND="1000",
        MEDIA_BUCKETS="wab-media-test,whatsapp-gateway-mediabucket-example",
        PARKING_QUEUE_URL=urls["parking"],
        WAIT_QUEUE_URL=urls["waits"],
    )

    def postponed(params: dict[str, Any], **_: Any) -> None:
        if params["VisibilityTimeout"] > 0:  # the harness and a held-back record only make messages visible (0)
            harness.visibility_changes.append(params)

    sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", postponed)
    yield harness
    harness.module.sender.cache_clear()
    harness.intake.intake.cache_clear()


def wait_queue(sqs: Any) -> str:
    """The waits' timer queue, with the template's attributes (a standard queue: delays per message)."""
    properties = template_resources()["WaitQueue"]["Properties"]
    attributes = {"VisibilityTimeout": str(properties["VisibilityTimeout"])}
    return sqs.create_queue(QueueName="waits", Attributes=attributes)["QueueUrl"]


def queue_arn(queue_url: str) -> str:
    return wab_aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


@pytest.fixture
def provider() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- Step Functions, as the gateway meets it -------------------------------------------------------------------------


@dataclass
class StepFunctionsFake:
    """Step Functions behind `SendTaskSuccess` / `SendTaskFailure`, as the service behaves: a token is open until its
    first answer, and every later answer to it is refused with `TaskTimedOut`; a token it never issued is
    `InvalidToken`. Faults: the next calls throttled (`ThrottlingException`) or failing (`ServiceUnavailable`).

    `calls` is every call the gateway made (action, token, and output or error and cause); `answers` what each open
    token took, in order."""

    open: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # error codes the next calls answer with, one each
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self) -> str:
        """A new task waiting: its token (long, as Step Functions' are)."""
        token = "AQB4AAAA" + uuid.uuid4().hex * 12
        self.open.add(token)
        return token

    def fail_next(self, *codes: str) -> None:
        self.faults.extend(codes)

    def answer_of(self, token: str) -> dict[str, Any] | None:
        return self.answers.get(token)

    def calls_for(self, token: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["token"] == token]

    def handle(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            call = {"action": operation, "token": body["taskToken"]}
            call.update({key: body[key] for key in ("output", "error", "cause") if key in body})
            self.calls.append(call)
            if self.faults:
                code = self.faults.pop(0)
                return 400 if code != "ServiceUnavailable" else 503, {"Error": {"Code": code, "Message": code}}
            token = body["taskToken"]
            if token in self.answers:
                return 400, {"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}
            if token not in self.open:
                return 400, {"Error": {"Code": "InvalidToken", "Message": "Invalid token"}}
            answer = {"action": operation}
            if "output" in body:
                answer["output"] = json.loads(body["output"])
            answer.update({key: body[key] for key in ("error", "cause") if key in body})
            self.answers[token] = answer
            return 200, {}


@pytest.fixture
def step_functions(aws: Aws) -> StepFunctionsFake:
    """Every SendTask* call the gateway makes goes to the fake instead of the network."""
    from botocore.awsrequest import AWSResponse

    fake = StepFunctionsFake()

    def respond(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        status, parsed = fake.handle(model.name, json.loads(params["body"]))
        return AWSResponse("https://states.test", status, {}, None), parsed

    client = wab_aws.client("stepfunctions")
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        client.meta.events.register(f"before-call.sfn.{operation}", respond)
    return fake


@dataclass
class WaitsHarness:
    """The waits function on its (moto) timer queue. Timers are sent without their delay (each asked delay is kept in
    `delays`, and when the timer is due in a message attribute); `run(at=…)` invokes the function, as if that moment
    had come, on the timers due by then."""

    module: Any
    url: str
    arn: str
    monkeypatch: pytest.MonkeyPatch
    delays: list[int] = field(default_factory=list)

    @property
    def sqs(self) -> Any:
        return wab_aws.client("sqs")

    def timers(self) -> list[dict[str, Any]]:
        """The timers waiting on the queue (left there)."""
        found = []
        for message in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            found.append(json.loads(message["Body"]))
            self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return found

    def run(self, *, at: Any = None) -> list[dict[str, Any]]:
        """One invocation per batch until the queue is empty (what is scheduled meanwhile waits for the next run);
        the answers."""
        answers = []
        with contextlib.ExitStack() as stack:
            if at is not None:
                stack.enter_context(_frozen_clock(self.monkeypatch, at))
            from wab import clock

            now, batches, later = clock.now(), [], []
            while messages := self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            ).get("Messages", []):
                due = [m for m in messages if clock.from_iso(m["MessageAttributes"]["due"]["StringValue"]) <= now]
                later.extend(m for m in messages if m not in due)
                if due:
                    batches.append(due)
            for message in later:  # not due yet: left on the queue
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            for messages in batches:
                records = [sqs_record(message, self.arn, "eu-west-1") for message in messages]
                answer = self.module.lambda_handler({"Records": records}, LambdaContext())
                for record in records_to_delete(records, answer, report_batch_item_failures=True):
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])
                answers.append(answer)
        return answers


@contextlib.contextmanager
def _frozen_clock(monkeypatch: pytest.MonkeyPatch, at: Any) -> Iterator[None]:
    from wab import clock

    with monkeypatch.context() as patch:
        patch.setattr(clock, "now", lambda: at)
        yield


@pytest.fixture
def waits(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[WaitsHarness]:
    """The waits function and its timer queue; the callbacks and sender functions schedule on the same queue."""
    from wab import settings

    sqs = wab_aws.client("sqs")
    url = os.environ.get("WAIT_QUEUE_URL") or wait_queue(sqs)
    monkeypatch.setenv("WAIT_QUEUE_URL", url)
    monkeypatch.setenv("SEND_RETRY_WINDOW_MINUTES", "360")
    settings.load.cache_clear()
    module = load_handler("waits")
    module.waits.cache_clear()
    harness = WaitsHarness(module, url, queue_arn(url), monkeypatch)

    def undelayed(params: dict[str, Any], **_: Any) -> None:
        from wab import clock

        if params.get("QueueUrl") == url:
            delay = params.pop("DelaySeconds", 0)
            harness.delays.append(delay)
            due = clock.iso(clock.now() + timedelta(seconds=delay))
            params["MessageAttributes"] = {"due": {"DataType": "String", "StringValue": due}}

    sqs.meta.events.register("provide-client-params.sqs.SendMessage", undelayed)
    yield harness
    module.waits.cache_clear()


# --- what operators see: EMF metrics, log lines ----------------------------------------------------------------------

NAMESPACE = "WhatsAppGateway"
SERVICE = ("service", "whatsapp-gateway")

Metric = tuple[str, tuple[tuple[str, str], ...]]  # (name, sorted dimensions)


def parse_emf(output: str) -> Counter[Metric]:
    """Every metric in the EMF lines of `output`, summed by name and dimensions; other lines are ignored."""
    totals: Counter[Metric] = Counter()
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        [dimension_names] = directive["Dimensions"]
        dimensions = tuple(sorted((name, document[name]) for name in dimension_names))
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            totals[(metric["Name"], dimensions)] += int(sum(document[metric["Name"]]))
    return totals


def metric(name: str, **dimensions: str) -> Metric:
    return name, tuple(sorted([SERVICE, *dimensions.items()]))


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], Counter[Metric]]]:
    """Metrics on, from a clean metric set; call it for what was emitted since the last call."""
    from wab.observability import metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()  # with metrics off, earlier tests' metrics were never flushed
    capsys.readouterr()
    yield lambda: parse_emf(capsys.readouterr().out)
    metrics.clear_metrics()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The gateway's JSON log lines at INFO and above, as dicts."""
    from wab.observability import logger

    stream = io.StringIO()
    previous_stream = logger.registered_handler.setStream(stream)
    previous_level = logger.log_level
    logger.setLevel("INFO")
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.setLevel(previous_level)
    logger.registered_handler.setStream(previous_stream)
