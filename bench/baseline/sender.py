"""Hand-written sender (the send lanes' consumer) for one send command in a lane message, done once:
PutItem idempotency record (in progress) · GetItem contact window (free-form messages only) · PutItem the business
number's rate budget (conditional on the version this container last saw; on a refusal, again with the stored state)
· GetSecretValue (once per container, cached) · provider POST /messages · UpdateItem idempotency record (completed) ·
PutItem MT record with its `Accepted` left for the table's stream (the relay publishes it and counts it). The provider
is called with urllib3, which ships
with botocore. Pacing: one transactional unit per send from the same `RATE#<number>` item and rule as wab.pacing
(GCRA, a burst of 500 ms), at NUMBER_RATE_PER_SECOND (NUMBER_RATES is not read: one business number)."""

import base64
import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta

import boto3
import urllib3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

TABLE = os.environ["TABLE_NAME"]
BUS = os.environ["EVENT_BUS_NAME"]
SECRET_ARN = os.environ["PROVIDER_SECRET_ARN"]
BUSINESS_NUMBER = os.environ["BUSINESS_NUMBER"]
RETENTION_SECONDS = int(os.environ.get("RETENTION_DAYS", "180")) * 86400
IDEMPOTENCY_SECONDS = int(os.environ.get("IDEMPOTENCY_DAYS", "7")) * 86400
SECRET_MAX_AGE = int(os.environ.get("SECRET_MAX_AGE_SECONDS", "300"))
INTERVAL_MS = 1000 / float(os.environ.get("NUMBER_RATE_PER_SECOND", "80"))
BURST_MS = 500.0
MAX_WAIT_MS = 10_000
_clients: dict = {}
_secret: dict = {"value": None, "at": 0.0}
_budget: dict = {"tat": 0.0, "version": 0}  # the rate budget as this container last saw it
_http = urllib3.PoolManager(maxsize=4, retries=False, timeout=urllib3.Timeout(connect=3.05, read=10))
_serialize = TypeSerializer().serialize


def client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def provider():
    if _secret["value"] is None or time.monotonic() - _secret["at"] > SECRET_MAX_AGE:
        _secret["value"] = json.loads(client("secretsmanager").get_secret_value(SecretId=SECRET_ARN)["SecretString"])
        _secret["at"] = time.monotonic()
    return _secret["value"]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            send(json.loads(record["body"]), context)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def take_unit(number):
    """One unit from the number's budget: where the next unit may leave moves on by one interval; wait until ours
    may (up to half a second's worth runs ahead)."""
    for _ in range(32):
        now = time.time() * 1000
        start = max(_budget["tat"], now)
        departure = max(now, start - BURST_MS)
        if departure - now > MAX_WAIT_MS:
            raise RuntimeError("the rate budget has no room soon enough")  # the real sender puts it back; left out
        state = {"tat": start + INTERVAL_MS, "version": _budget["version"] + 1}
        condition: dict = {"ConditionExpression": "attribute_not_exists(pk)"}
        if _budget["version"]:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(_budget["version"])}},
            }
        try:
            client("dynamodb").put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": f"RATE#{number}"},
                    "tat": {"N": repr(state["tat"])},
                    "version": {"N": str(state["version"])},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stored: dict = exc.response.get("Item") or {}  # type: ignore[assignment]
            _budget["tat"] = float(stored["tat"]["N"]) if "tat" in stored else 0.0
            _budget["version"] = int(stored["version"]["N"]) if "version" in stored else 0
            continue
        _budget.update(state)
        pause = departure / 1000 - time.time()
        if pause > 0:
            time.sleep(pause)
        return
    raise RuntimeError("the rate budget is contended")


def send(body, context):
    command = body["command"]
    destination = command["destination"]
    destination = destination if destination.startswith("+") else "+" + destination
    kind = command["type"]
    source = command.get("source") or BUSINESS_NUMBER
    reference = command.get("reference")
    key = command.get("idempotency_key") or body["delivery_id"]
    dynamodb = client("dynamodb")
    now = datetime.now(UTC)
    idempotency_key = {"pk": {"S": "IDEMPOTENCY#sender#" + hashlib.md5(key.encode()).hexdigest()}}
    in_progress_until = int(time.time() * 1000) + context.get_remaining_time_in_millis()
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item={
                **idempotency_key,
                "expires_at": {"N": str(int(now.timestamp()) + IDEMPOTENCY_SECONDS)},
                "status": {"S": "INPROGRESS"},
                "in_progress_expiration": {"N": str(in_progress_until)},
                "validation": {"S": hashlib.md5(json.dumps(command, sort_keys=True).encode()).hexdigest()},
            },
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR "
            "(#status = :inprogress AND in_progress_expiration < :now_ms)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":now": {"N": str(int(now.timestamp()))},
                ":now_ms": {"N": str(int(time.time() * 1000))},
                ":inprogress": {"S": "INPROGRESS"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return  # done before (the real sender completes a stored outcome; left out here)
        raise
    if kind != "template":  # free-form: only inside the customer's 24-hour window
        contact = dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"CONTACT#{destination}"}}, ConsistentRead=True
        ).get("Item")
        if not contact or contact["last_inbound_at"]["S"] <= iso(now - timedelta(hours=24)):
            raise RuntimeError("outside the 24-hour window")  # the real sender publishes Failed; left out here
    take_unit(source)
    secret = provider()
    wire = {"destination": destination, "type": kind, kind: command[kind], "source": source}
    if reference:
        wire["reference"] = reference
    response = _http.request(
        "POST",
        secret["base_url"].rstrip("/") + "/messages",
        body=json.dumps(wire).encode(),
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            "authorization": "Basic "
            + base64.b64encode(f"{secret['username']}:{secret['password']}".encode()).decode(),
        },
    )
    if response.status >= 300:
        raise RuntimeError(f"provider answered {response.status}")
    accepted = json.loads(response.data)
    message_id = (accepted[0] if isinstance(accepted, list) else accepted)["id"]
    at = iso(datetime.now(UTC))
    dynamodb.update_item(
        TableName=TABLE,
        Key=idempotency_key,
        UpdateExpression="SET #data = :data, expires_at = :expiry, #status = :status",
        ExpressionAttributeNames={"#data": "data", "#status": "status"},
        ExpressionAttributeValues={
            ":data": {
                "S": json.dumps({"at": at, "accepted": [{"message_id": message_id, "destination": destination}]})
            },
            ":expiry": {"N": str(int(now.timestamp()) + IDEMPOTENCY_SECONDS)},
            ":status": {"S": "COMPLETED"},
        },
    )
    detail = {"message_id": message_id, "destination": destination, "source": source, "type": kind}
    if reference:
        detail["reference"] = reference
    item = {
        "pk": f"MSG#{message_id}",
        "id": message_id,
        "direction": "MT",
        "source": source,
        "destination": destination,
        "type": kind,
        "status": "accepted",
        "content": {"type": kind, kind: command[kind]},
        "status_history": [{"status": "accepted", "at": at}],
        "created_at": at,
        "updated_at": at,
        "contact": destination,
        "contact_key": destination,
        "version": 1,
        "expires_at": int(now.timestamp()) + RETENTION_SECONDS,
        "relay": {"accepted": {"detail_type": "WhatsApp Message Accepted", "detail": detail}},
    }
    if reference:
        item["reference"] = item["reference_key"] = reference
    dynamodb.put_item(
        TableName=TABLE,
        Item={name: _serialize(value) for name, value in item.items()},
        ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
