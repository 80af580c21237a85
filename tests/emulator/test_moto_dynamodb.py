"""moto's DynamoDB, as the local stack and the integration tests run it, applies each request at one instant
(local/moto_dynamodb.py)."""

import sys
import threading
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from local import moto_dynamodb

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
