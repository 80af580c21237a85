"""The local stack and the integration tests refuse what DynamoDB and EventBridge refuse, though moto takes it."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import strict_aws

REGION = "eu-west-1"


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        strict_aws.install(session)
        dynamodb = session.client("dynamodb")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb, session.client("events")


@pytest.mark.parametrize(
    "value, refusal",
    [
        ({"M": {"": {"S": "x"}}}, "empty attribute name"),
        ({"L": [{"M": {"ok": {"M": {"": {"N": "1"}}}}}]}, "empty attribute name"),
        ({"M": {"k" * 65536: {"S": "x"}}}, "attribute name of 64 KB or more"),
        ({"N": "1" * 39}, "38 significant digits"),
        ({"NS": ["1", "2" * 40]}, "38 significant digits"),
    ],
)
def test_dynamodb_writes_moto_would_take_are_refused(clients, value, refusal) -> None:
    dynamodb, _ = clients
    with pytest.raises(ClientError, match=refusal):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": value})
    with pytest.raises(ClientError, match=refusal):
        dynamodb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": value},
        )
    assert "Item" not in dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})


def test_dynamodb_refuses_nesting_deeper_than_32_levels(clients) -> None:
    dynamodb, _ = clients
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(33):
        value = {"L": [value]}
    with pytest.raises(ClientError, match="Nesting"):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": value})


def test_what_dynamodb_takes_is_still_taken(clients) -> None:
    dynamodb, _ = clients
    item = {"pk": {"S": "a"}, "m": {"M": {"x": {"N": "-1.5e10"}, "y": {"L": [{"N": "9" * 38}]}}}}
    dynamodb.put_item(TableName="t", Item=item)
    assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["m"]["M"]["x"] == {"N": "-1.5e10"}


@pytest.mark.parametrize("detail", ['{"n": %d}' % 2**63, '{"n": [%d]}' % -(2**63 + 1), "[1]", "not json"])  # noqa: UP031
def test_eventbridge_refuses_integers_beyond_64_bits_and_details_that_are_not_objects(clients, detail) -> None:
    _, events = clients
    with pytest.raises(ClientError, match="malformed"):
        events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": detail}])


def test_eventbridge_takes_64_bit_integers(clients) -> None:
    _, events = clients
    detail = '{"n": %d, "m": %d, "ok": true}' % (2**63 - 1, -(2**63))  # noqa: UP031
    assert events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": detail}])["FailedEntryCount"] == 0


@pytest.mark.parametrize(
    "call, refusal",
    [
        (lambda sfn: sfn.send_task_success(taskToken="t", output="not json"), "InvalidOutput"),
        (lambda sfn: sfn.send_task_success(taskToken="t", output='"' + "x" * 262_143 + '"'), "InvalidOutput"),
        (lambda sfn: sfn.send_task_failure(taskToken="t", error="e" * 257), "ValidationException"),
        (lambda sfn: sfn.send_task_failure(taskToken="t", error="e", cause="c" * 32_769), "ValidationException"),
    ],
)
def test_step_functions_answers_moto_would_take_are_refused(call, refusal) -> None:
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        strict_aws.install(session)
        sfn = session.client("stepfunctions")
        with pytest.raises(ClientError) as refused:
            call(sfn)
        assert refused.value.response["Error"]["Code"] == refusal
        sfn.send_task_success(taskToken="t", output='"' + "x" * 262_142 + '"')  # exactly 256 KiB is taken
        sfn.send_task_failure(taskToken="t", error="e" * 256, cause="c" * 32_768)
