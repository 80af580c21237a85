"""Hand-written record API (GET /messages/{id}) for a stored message: GetItem (consistent)."""

import json
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

TABLE = os.environ["TABLE_NAME"]
PUBLIC = (
    "id",
    "direction",
    "source",
    "destination",
    "type",
    "status",
    "reference",
    "content",
    "status_history",
    "created_at",
    "updated_at",
)
_clients: dict = {}
_deserialize = TypeDeserializer().deserialize


def client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def lambda_handler(event, context):
    message_id = (event.get("pathParameters") or {}).get("id", "")
    stored = (
        client("dynamodb")
        .get_item(TableName=TABLE, Key={"pk": {"S": f"MSG#{message_id}"}}, ConsistentRead=True)
        .get("Item")
    )
    if not stored:
        return {
            "statusCode": 404,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"error": "not_found"}),
        }
    record = {name: _deserialize(stored[name]) if name in stored else None for name in PUBLIC}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(record, default=number),
    }
