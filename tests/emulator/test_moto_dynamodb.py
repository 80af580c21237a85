"""moto's DynamoDB, as the local stack and the integration tests run it, applies each request at one instant
(local/moto_dynamodb.py)."""

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from local import moto_dynamodb
from local.aws import aws_client

WRITES = 100


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Threads take turns often, so an unguarded race shows at once."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_reads_and_writes_of_one_item_on_several_threads_all_succeed(frequent_thread_switches):
    moto_dynamodb.install()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="items",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        key = {"pk": {"S": "item"}}
        dynamodb.put_item(TableName="items", Item=key)
        errors: list[Exception] = []
        writing = threading.Event()

        def write() -> None:
            for number in range(WRITES):  # each adds an attribute: the item's attributes change size
                dynamodb.update_item(
                    TableName="items",
                    Key=key,
                    UpdateExpression="SET #name = :value",
                    ExpressionAttributeNames={"#name": f"a{number}"},
                    ExpressionAttributeValues={":value": {"S": "x" * 100}},
                )
            writing.set()

        def read() -> None:
            while not writing.is_set():
                try:
                    dynamodb.get_item(TableName="items", Key=key)
                except Exception as error:  # moto's own failure escapes as it is, not as a ClientError
                    errors.append(error)

        threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        item = dynamodb.get_item(TableName="items", Key=key)["Item"]
        assert len(item) == WRITES + 1


# -- the table's stream ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_url() -> Iterator[str]:
    """moto's server in this process, on 127.0.0.1 (in `mock_aws`, DynamoDB Streams calls reach DynamoDB's handler,
    which answers them "Not yet implemented")."""
    moto_dynamodb.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def streamed_table(aws_url: str) -> tuple[Any, Any, str]:
    """A fresh table "items" with a NEW_AND_OLD_IMAGES stream: DynamoDB and DynamoDB Streams clients, the stream's
    ARN."""
    dynamodb, streams = (aws_client(service, aws_url, "us-east-1") for service in ("dynamodb", "dynamodbstreams"))
    if "items" in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName="items")
    arn = dynamodb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    return dynamodb, streams, arn


def iterator(streams: Any, arn: str) -> str:
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    return streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]


def changes(streams: Any, at: str) -> list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]]:
    """What the stream holds from iterator `at`: (event, key, old image, new image) each."""
    return [
        (
            record["eventName"],
            record["dynamodb"]["Keys"]["pk"]["S"],
            record["dynamodb"].get("OldImage"),
            record["dynamodb"].get("NewImage"),
        )
        for record in streams.get_records(ShardIterator=at)["Records"]
    ]


def set_status(dynamodb: Any, key: str, status: str, **condition: Any) -> None:
    dynamodb.update_item(
        TableName="items",
        Key={"pk": {"S": key}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
        **condition,
    )


def test_every_write_that_changes_an_item_leaves_one_stream_record(streamed_table) -> None:
    dynamodb, streams, arn = streamed_table
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "a"}, "status": {"S": "new"}})
    set_status(dynamodb, "a", "sent")
    set_status(dynamodb, "b", "new")  # creates its item
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        set_status(dynamodb, "a", "read", ConditionExpression="attribute_not_exists(pk)")
    dynamodb.batch_write_item(RequestItems={"items": [{"PutRequest": {"Item": {"pk": {"S": "c"}}}}]})
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "items",
                    "Key": {"pk": {"S": "c"}},
                    "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                }
            }
        ]
    )
    dynamodb.delete_item(TableName="items", Key={"pk": {"S": "b"}})

    assert changes(streams, iterator(streams, arn)) == [
        ("INSERT", "a", None, {"pk": {"S": "a"}, "status": {"S": "new"}}),
        ("MODIFY", "a", {"pk": {"S": "a"}, "status": {"S": "new"}}, {"pk": {"S": "a"}, "status": {"S": "sent"}}),
        ("INSERT", "b", None, {"pk": {"S": "b"}, "status": {"S": "new"}}),  # one INSERT, not moto's empty one first
        ("INSERT", "c", None, {"pk": {"S": "c"}}),
        ("MODIFY", "c", {"pk": {"S": "c"}}, {"pk": {"S": "c"}, "n": {"N": "1"}}),
        ("REMOVE", "b", {"pk": {"S": "b"}, "status": {"S": "new"}}, None),
    ]


def test_a_write_that_changes_nothing_leaves_no_stream_record(streamed_table) -> None:
    dynamodb, streams, arn = streamed_table
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "a"}, "status": {"S": "sent"}})
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "a"}, "status": {"S": "sent"}})
    set_status(dynamodb, "a", "sent")

    assert [change[0] for change in changes(streams, iterator(streams, arn))] == ["INSERT"]


def test_a_cancelled_transaction_leaves_the_stream_readers_hold(streamed_table) -> None:
    dynamodb, streams, arn = streamed_table
    held = iterator(streams, arn)  # a poller's, taken before
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "a"}})
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "items", "Item": {"pk": {"S": "undone"}}}},
                {
                    "Put": {
                        "TableName": "items",
                        "Item": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "b"}})

    assert [change[1] for change in changes(streams, held)] == ["a", "b"]
    assert [change[1] for change in changes(streams, iterator(streams, arn))] == ["a", "b"]


def test_a_shard_iterator_expires(streamed_table, monkeypatch: pytest.MonkeyPatch) -> None:
    _, streams, arn = streamed_table
    at = iterator(streams, arn)
    assert streams.get_records(ShardIterator=at)["Records"] == []  # an empty read, with an iterator to go on with
    monkeypatch.setattr(moto_dynamodb, "ITERATOR_LIFETIME_SECONDS", 0)
    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=at)
