"""Hand-written MO callback (POST /callbacks/mo), for a new inbound message:
GetSecretValue (once per container, cached) · PutItem record + outbox · PutItem WhatsApp-id pointer · UpdateItem
contact window · PutEvents · UpdateItem clear outbox."""

import json
import os
import time
from datetime import UTC, datetime
from decimal import Decimal

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from bench.baseline.callback_common import answer, authorized, client, number

TABLE = os.environ["TABLE_NAME"]
BUS = os.environ["EVENT_BUS_NAME"]
RETENTION_SECONDS = int(os.environ.get("RETENTION_DAYS", "180")) * 86400
_serialize = TypeSerializer().serialize


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lambda_handler(event, context):
    if not authorized((event.get("headers") or {}).get("authorization")):
        return answer(401, {"error": "unauthorized"}, {"www-authenticate": 'Basic realm="callbacks"'})
    try:
        payload = json.loads(event.get("body") or "", parse_float=Decimal)
        content = payload["content"]
        for _ in range(2):
            if isinstance(content, str):
                content = json.loads(content, parse_float=Decimal)
        message_id, source = payload["id"], payload["source"]
        destination = payload.get("destination") or payload.get("Destination") or payload.get("to")
        kind = content["type"]
    except (ValueError, KeyError, TypeError):
        return answer(422, {"error": "invalid_payload"})

    now = datetime.now(UTC)
    stamp = iso(now)
    seconds = content.get("timestamp")
    received_at = iso(datetime.fromtimestamp(int(seconds), UTC)) if str(seconds).isdigit() else stamp
    contact = source if source.startswith("+") else "+" + source
    text = (content.get(kind) or {}).get("body") if kind == "text" else None
    expires_at = int(now.timestamp()) + RETENTION_SECONDS
    detail = {
        "message_id": message_id,
        "whatsapp_message_id": content.get("id"),
        "source": source,
        "destination": destination,
        "type": kind,
        "text": text,
        "content": content,
        "received_at": received_at,
    }
    detail = {key: value for key, value in detail.items() if value is not None}
    lease_until = int(time.time() * 1000) + context.get_remaining_time_in_millis() + 1000
    item = {
        "pk": f"MSG#{message_id}",
        "id": message_id,
        "direction": "MO",
        "source": source,
        "destination": destination,
        "type": kind,
        "status": "received",
        "content": content,
        "status_history": [{"status": "received", "at": received_at}],
        "created_at": stamp,
        "updated_at": stamp,
        "contact": contact,
        "contact_key": contact,
        "version": 1,
        "expires_at": expires_at,
        "outbox": {
            "received": {"detail_type": "WhatsApp Message Received", "detail": detail, "lease_until": lease_until}
        },
    }
    if payload.get("reference"):
        item["reference"] = item["reference_key"] = payload["reference"]
    dynamodb = client("dynamodb")
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item={key: _serialize(value) for key, value in item.items()},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            return answer(503, {"error": "dependency_failed"})
        return answer(200, {"status": "ok"})  # a duplicate (the outbox recovery of the real handler is left out)
    if content.get("id"):
        try:  # edits and deletions find the message by its WhatsApp id (those that came first are left out here)
            dynamodb.put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": f"WAMID#{content['id']}"},
                    "whatsapp_message_id": {"S": content["id"]},
                    "record_id": {"S": message_id},
                    "pending": {"L": []},
                    "version": {"N": "1"},
                    "expires_at": {"N": str(expires_at)},
                },
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                return answer(503, {"error": "dependency_failed"})
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"CONTACT#{contact}"}},
            UpdateExpression="SET last_inbound_at = :at, expires_at = :expires",
            ConditionExpression="attribute_not_exists(last_inbound_at) OR last_inbound_at < :at",
            ExpressionAttributeValues={":at": {"S": received_at}, ":expires": {"N": str(expires_at)}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            return answer(503, {"error": "dependency_failed"})
    published = client("events").put_events(
        Entries=[
            {
                "Source": "wab.gateway",
                "DetailType": "WhatsApp Message Received",
                "Detail": json.dumps(detail, default=number),
                "EventBusName": BUS,
            }
        ]
    )
    if published.get("FailedEntryCount"):
        return answer(503, {"error": "dependency_failed"})
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"MSG#{message_id}"}},
        UpdateExpression="REMOVE #outbox.#k0 SET #version = #version + :one",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#outbox": "outbox", "#k0": "received", "#version": "version"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    return answer(200, {"status": "ok"})
