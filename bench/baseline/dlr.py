"""Hand-written DLR callback (POST /callbacks/dlr) for a status that moves a stored MT record forward:
GetSecretValue (once per container, cached) · GetItem record · PutItem record (versioned) with its `Status Changed`
left for the table's stream, in place of the previous write's (the relay publishes it and counts it)."""

import json
import os
from datetime import UTC, datetime
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from bench.baseline.callback_common import answer, authorized, client

TABLE = os.environ["TABLE_NAME"]
BUS = os.environ["EVENT_BUS_NAME"]
PROVISIONAL_SECONDS = 86400  # a record a DLR creates lives a day unless the send completes it
RANK = {"accepted": 0, "sent": 1, "received": 2, "rejected": 2, "expired": 2, "read": 3}
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


def lambda_handler(event, context):
    if not authorized((event.get("headers") or {}).get("authorization")):
        return answer(401, {"error": "unauthorized"}, {"www-authenticate": 'Basic realm="callbacks"'})
    try:
        payload = json.loads(event.get("body") or "", parse_float=Decimal)
        message_id = payload.get("id") or payload["message_id"]
        status = payload["status"]
    except (ValueError, KeyError, TypeError):
        return answer(422, {"error": "invalid_payload"})
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    key = {"pk": {"S": f"MSG#{message_id}"}}
    dynamodb = client("dynamodb")
    stored = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
    record = (
        {name: _deserialize(value) for name, value in stored.items()}
        if stored
        else {
            "pk": f"MSG#{message_id}",
            "id": message_id,
            "direction": "MT",
            "status_history": [],
            "created_at": stamp,
            "version": 0,
            "expires_at": int(now.timestamp()) + PROVISIONAL_SECONDS,
        }
    )
    if record["direction"] != "MT":
        return answer(409, {"error": "not_outbound"})
    if any(entry["status"] == status for entry in record["status_history"]):
        return answer(200, {"status": "ok"})
    version = int(record["version"])
    entry = {"status": status, "at": stamp}
    if payload.get("detail"):
        entry["detail"] = payload["detail"]
    record["status_history"].append(entry)
    record["updated_at"] = stamp
    previous = record.get("status")
    moves = (
        status in RANK
        and status != (previous or "accepted")
        and (previous not in RANK or RANK[status] > RANK[previous])
    )
    relay_key = f"status:{status}"
    detail = None
    if moves:
        detail = {
            "message_id": message_id,
            "status": status,
            "previous_status": previous or "accepted",
            "reference": record.get("reference"),
            "destination": record.get("destination"),
            "detail": payload.get("detail"),
            "occurred_at": stamp,
        }
        detail = {name: value for name, value in detail.items() if value is not None}
        record["status"] = status
    # The events of this write only: those of the write before went out with its own stream record.
    record["relay"] = (
        {relay_key: {"detail_type": "WhatsApp Message Status Changed", "detail": detail}} if detail is not None else {}
    )
    record["version"] = version + 1
    condition = (
        {
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":expected": {"N": str(version)}},
        }
        if stored
        else {"ConditionExpression": "attribute_not_exists(pk)"}
    )
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item={name: _serialize(value) for name, value in record.items()},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **condition,
        )
    except ClientError:
        return answer(503, {"error": "in_progress"})  # the real handler re-reads and retries; left out here
    return answer(200, {"status": "ok"})
