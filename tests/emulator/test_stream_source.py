"""The local stack's DynamoDB stream → Lambda event source mapping (local/stream_source.py): it reads the stream of a
table on moto's server (in this process, on 127.0.0.1) and invokes a stand-in for a local function."""

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from local import moto_dynamodb, moto_sqs
from local.aws import aws_client
from local.lambda_runtime import InvocationError
from local.stream_source import (
    DynamoDBStreamEventSource,
    FilterPatternError,
    StreamEventSourceConfig,
    matches,
    parse_filter_patterns,
    retry_from,
)

REGION = "eu-west-1"
# A filter like the template's RelayStreamMapping's: inserts and changes of message records that carry events.
RELAY_FILTER = json.dumps(
    {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {
            "Keys": {"pk": {"S": [{"prefix": "MSG#"}]}},
            "NewImage": {"relay_version": {"N": [{"exists": True}]}},
        },
    }
)
_tables = itertools.count()

Respond = Callable[[list[dict[str, Any]], int], Any]


class FakeFunction:
    """Stands in for a LocalFunction: records each batch it is given and answers with `respond(records, call)`."""

    logical_id = "RelayFunction"
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:relay"
    timeout_seconds = 3

    def __init__(self, respond: Respond | None = None):
        self.respond = respond or (lambda records, call: {"batchItemFailures": []})
        self.batches: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            self.batches.append(event["Records"])
            call = len(self.batches)
        return self.respond(event["Records"], call)

    def batch_keys(self) -> list[list[str]]:
        with self._lock:
            return [[record["dynamodb"]["Keys"]["pk"]["S"] for record in batch] for batch in self.batches]


@pytest.fixture(scope="module")
def aws_url() -> Iterator[str]:
    moto_dynamodb.install()
    moto_sqs.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def client(aws_url: str, service: Any) -> Any:
    return aws_client(service, aws_url, REGION)


@pytest.fixture
def table(aws_url: str) -> tuple[str, str]:
    """A fresh table with a NEW_AND_OLD_IMAGES stream: its name and stream ARN."""
    name = f"messages-{next(_tables)}"
    description = client(aws_url, "dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    return name, description["LatestStreamArn"]


@pytest.fixture
def start_source(aws_url: str, table: tuple[str, str]) -> Iterator[Callable[..., DynamoDBStreamEventSource]]:
    sources: list[DynamoDBStreamEventSource] = []

    def start(function: FakeFunction, **options: Any) -> DynamoDBStreamEventSource:
        settings: dict[str, Any] = {"starting_position": "TRIM_HORIZON", "report_batch_item_failures": True}
        settings.update(options)
        config = StreamEventSourceConfig(stream_arn=table[1], region=REGION, **settings)
        source = DynamoDBStreamEventSource(function, config, lambda service: client(aws_url, service))  # type: ignore[arg-type]
        source.start()
        sources.append(source)
        return source

    yield start
    for source in sources:
        started = time.monotonic()
        source.stop()
        assert time.monotonic() - started < 1, "stopping an idle source takes no more than a poll"


def put(aws_url: str, table_name: str, key: str, **attributes: str) -> None:
    item = {"pk": {"S": key}, **{name: {"S": value} for name, value in attributes.items()}}
    client(aws_url, "dynamodb").put_item(TableName=table_name, Item=item)


def wait_until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        time.sleep(0.02)


def record_count(function: FakeFunction) -> int:
    return sum(len(batch) for batch in function.batch_keys())


# -- on moto's server ---------------------------------------------------------------------------------------------


def test_records_reach_the_function_in_write_order_as_lambda_shapes_them(aws_url, table, start_source) -> None:
    name, stream_arn = table
    function = FakeFunction()
    start_source(function)
    put(aws_url, name, "MSG#1", status="accepted")
    client(aws_url, "dynamodb").update_item(
        TableName=name,
        Key={"pk": {"S": "MSG#1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "sent"}},
    )
    put(aws_url, name, "MSG#2")
    client(aws_url, "dynamodb").batch_write_item(
        RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": "MSG#3"}}}}]}
    )

    wait_until(lambda: record_count(function) == 4)
    records = [record for batch in function.batches for record in batch]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "MSG#1"),
        ("MODIFY", "MSG#1"),
        ("INSERT", "MSG#2"),
        ("INSERT", "MSG#3"),
    ]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers)
    modify = records[1]
    assert {key: modify[key] for key in ("eventVersion", "eventSource", "awsRegion", "eventSourceARN")} == {
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
    }
    change = modify["dynamodb"]
    assert change["OldImage"]["status"] == {"S": "accepted"}
    assert change["NewImage"]["status"] == {"S": "sent"}
    assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(change["ApproximateCreationDateTime"], float)
    assert abs(change["ApproximateCreationDateTime"] - time.time()) < 60
    assert "OldImage" not in records[0]["dynamodb"]
    json.dumps(function.batches)  # what the function gets is JSON, as in Lambda


def test_records_the_filter_does_not_let_through_are_passed_over(aws_url, table, start_source) -> None:
    name, _ = table
    function = FakeFunction()
    start_source(function, filters=parse_filter_patterns([RELAY_FILTER]))
    dynamodb = client(aws_url, "dynamodb")

    def put_with_events(key: str) -> None:
        dynamodb.put_item(TableName=name, Item={"pk": {"S": key}, "relay_version": {"N": "1"}})

    put_with_events("CONTACT#1")
    put_with_events("MSG#1")
    dynamodb.delete_item(TableName=name, Key={"pk": {"S": "MSG#1"}})  # a REMOVE
    put(aws_url, name, "MSG#3")  # no events to relay
    put_with_events("MSG#2")
    put_with_events("CONTACT#2")  # filtered out last: the checkpoint still moves past it

    wait_until(lambda: record_count(function) == 2)
    time.sleep(0.4)  # a poll or more later, nothing else came
    assert [key for batch in function.batch_keys() for key in batch] == ["MSG#1", "MSG#2"]


def test_a_partial_failure_resumes_at_the_reported_record(aws_url, table, start_source) -> None:
    name, _ = table
    for number in range(5):
        put(aws_url, name, f"MSG#{number}")

    def respond(records: list[dict[str, Any]], call: int) -> Any:
        if call == 1:
            return {"batchItemFailures": [{"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]}]}
        if call == 2:  # two failures: the lowest sequence number is the checkpoint
            numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
            return {"batchItemFailures": [{"itemIdentifier": numbers[1]}, {"itemIdentifier": numbers[0]}]}
        return None

    function = FakeFunction(respond)
    start_source(function)

    wait_until(lambda: len(function.batches) == 3)
    time.sleep(0.4)
    assert function.batch_keys() == [
        ["MSG#0", "MSG#1", "MSG#2", "MSG#3", "MSG#4"],
        ["MSG#3", "MSG#4"],
        ["MSG#3", "MSG#4"],
    ]


def test_an_invocation_error_retries_the_whole_batch_after_a_pause(aws_url, table, start_source) -> None:
    name, _ = table
    for number in range(3):
        put(aws_url, name, f"MSG#{number}")
    called: list[float] = []

    def respond(records: list[dict[str, Any]], call: int) -> Any:
        called.append(time.monotonic())
        if call == 1:
            put(aws_url, name, "MSG#3")  # written while the batch fails: it comes after the batch, once
        if call < 3:
            raise InvocationError("RuntimeError", "the bus is down")
        return {"batchItemFailures": []}

    function = FakeFunction(respond)
    start_source(function)

    wait_until(lambda: len(function.batches) == 4)
    first = ["MSG#0", "MSG#1", "MSG#2"]
    assert function.batch_keys() == [first, first, first, ["MSG#3"]]
    assert called[1] - called[0] >= 0.18 and called[2] - called[1] >= 0.38  # 0.2 s, then 0.4 s


def test_batches_hold_at_most_batch_size_records(aws_url, table, start_source) -> None:
    name, _ = table
    for number in range(7):
        put(aws_url, name, f"MSG#{number}")
    function = FakeFunction()
    start_source(function, batch_size=3)

    wait_until(lambda: record_count(function) == 7)
    assert function.batch_keys() == [["MSG#0", "MSG#1", "MSG#2"], ["MSG#3", "MSG#4", "MSG#5"], ["MSG#6"]]


def test_the_batching_window_gathers_records_written_after_the_first(aws_url, table, start_source) -> None:
    name, _ = table
    function = FakeFunction()
    start_source(function, batching_window_seconds=1.0)
    put(aws_url, name, "MSG#1")
    time.sleep(0.1)
    put(aws_url, name, "MSG#2")

    wait_until(lambda: record_count(function) == 2)
    assert function.batch_keys() == [["MSG#1", "MSG#2"]]


def test_spent_retries_describe_the_batch_to_the_on_failure_queue_and_move_on(aws_url, table, start_source) -> None:
    name, stream_arn = table
    sqs = client(aws_url, "sqs")
    queue_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for number in range(2):
        put(aws_url, name, f"MSG#{number}")

    def respond(records: list[dict[str, Any]], call: int) -> Any:
        failing = [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == "MSG#1"]  # it never goes through
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failing]}

    function = FakeFunction(respond)
    start_source(function, maximum_retry_attempts=1, on_failure_arn=queue_arn)
    wait_until(lambda: len(function.batches) == 2)
    put(aws_url, name, "MSG#2")  # after the batch given up on, the stream goes on

    wait_until(lambda: ["MSG#2"] in function.batch_keys())
    assert function.batch_keys() == [["MSG#0", "MSG#1"], ["MSG#1"], ["MSG#2"]]
    (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    document = json.loads(message["Body"])
    info = document["DDBStreamBatchInfo"]
    failed = function.batches[1][0]["dynamodb"]["SequenceNumber"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (failed, failed, 1)
    assert info["streamArn"] == stream_arn and info["shardId"].startswith("shardId-")
    assert document["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert document["requestContext"]["approximateInvokeCount"] == 2
    assert "functionError" not in document["responseContext"]  # it answered; it did not crash


def test_a_paused_source_takes_nothing_until_resumed(aws_url, table, start_source) -> None:
    name, _ = table
    function = FakeFunction()
    source = start_source(function)
    source.pause()
    put(aws_url, name, "MSG#1")
    time.sleep(0.4)
    assert function.batches == []
    source.resume()
    wait_until(lambda: record_count(function) == 1)


# -- the parts on their own ---------------------------------------------------------------------------------------


def stream_record(event_name: str, key: str, **image: Any) -> dict[str, Any]:
    return {"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": key}}, "NewImage": image}}


def test_the_relay_filter_takes_inserts_and_changes_of_message_records_with_events() -> None:
    (pattern,) = parse_filter_patterns([RELAY_FILTER])
    version = {"relay_version": {"N": "3"}}
    assert matches(pattern, stream_record("INSERT", "MSG#1", **version))
    assert matches(pattern, stream_record("MODIFY", "MSG#1", **version))
    assert not matches(pattern, stream_record("MODIFY", "MSG#1"))  # no events left by the write
    assert not matches(pattern, stream_record("MODIFY", "MSG#1", relay_version={"S": "3"}))
    assert not matches(pattern, stream_record("REMOVE", "MSG#1", **version))
    assert not matches(pattern, stream_record("INSERT", "CONTACT#1", **version))
    assert not matches(pattern, {"eventName": "INSERT", "dynamodb": {"Keys": {"sk": {"S": "MSG#1"}}}})
    assert not matches(pattern, {"eventName": "INSERT"})


def test_filter_rules_beyond_the_relays() -> None:
    record = stream_record("MODIFY", "MSG#1", status={"S": "sent"}, tags={"L": [{"S": "a"}]})
    image = {"dynamodb": {"NewImage": {}}}
    rules: list[tuple[dict[str, Any], bool]] = [
        ({"status": {"S": [{"suffix": "nt"}]}}, True),
        ({"status": {"S": [{"equals-ignore-case": "SENT"}]}}, True),
        ({"status": {"S": [{"anything-but": ["sent", "read"]}]}}, False),
        ({"status": {"S": [{"anything-but": {"prefix": "fail"}}]}}, True),
        ({"status": [{"exists": True}]}, False),  # an object, not a value
        ({"status": {"S": [{"exists": True}]}}, True),
        ({"erased_at": [{"exists": False}]}, True),
        ({"status": {"S": ["read", "sent"]}}, True),
        ({"status": {"S": ["read"]}}, False),
    ]
    for rule, expected in rules:
        pattern = {"dynamodb": {"NewImage": rule}}
        assert matches(pattern, record) is expected, rule
    assert not matches({"dynamodb": {"NewImage": {"status": {"S": ["sent"]}}}}, image)
    assert matches({"eventName": [{"prefix": "MOD"}, "INSERT"]}, record)
    assert not matches({"eventName": [1]}, {"eventName": "1"})  # a number matches numbers only


def test_filter_patterns_the_local_filter_cannot_apply_are_refused() -> None:
    with pytest.raises(FilterPatternError, match="numeric"):
        parse_filter_patterns(['{"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 0]}]}}}}'])
    with pytest.raises(FilterPatternError, match="not JSON"):
        parse_filter_patterns(["{eventName"])
    with pytest.raises(FilterPatternError, match="non-empty list"):
        parse_filter_patterns(['{"eventName": "INSERT"}'])


def numbered(*numbers: str) -> list[dict[str, Any]]:
    return [{"dynamodb": {"SequenceNumber": number}} for number in numbers]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, None),
        ({}, None),
        ({"batchItemFailures": []}, None),
        ({"batchItemFailures": None}, None),
        ({"batchItemFailures": [{"itemIdentifier": "12"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "12"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": "99"}]}, 0),  # not in the batch: all of it again
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0),
        ({"batchItemFailures": [{"id": "12"}]}, 0),
        ({"batchItemFailures": "12"}, 0),
        ("done", 0),
    ],
)
def test_where_a_batch_is_retried_from(result: Any, expected: int | None) -> None:
    assert retry_from(numbered("11", "12", "13"), result, report_batch_item_failures=True) == expected


def test_without_report_batch_item_failures_the_answer_is_not_read() -> None:
    answer = {"batchItemFailures": [{"itemIdentifier": "12"}]}
    assert retry_from(numbered("11", "12"), answer, report_batch_item_failures=False) is None
