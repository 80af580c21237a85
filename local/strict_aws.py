"""Refuse, as DynamoDB and EventBridge do, the values moto accepts: so its leniency hides nothing.

Installed on boto3's default session (which the handlers' clients come from) by the integration tests and the local
stack. Each check raises the ClientError the real service answers with:
- DynamoDB: a map with an empty key ("" is not a valid attribute name) or one of 64 KB or more, a number beyond 38
  digits of precision, more than 32 levels of nesting;
- EventBridge PutEvents: a detail that is not a JSON object, or that holds an integer outside 64 bits;
- Step Functions SendTaskSuccess / SendTaskFailure: an output that is not JSON or is over 256 KiB (`InvalidOutput`),
  an error over 256 characters or a cause over 32,768 (botocore checks only the lower bounds).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

MAX_NESTING = 32
MAX_NAME_BYTES = 64 * 1024  # an attribute name, a map's keys included, must be shorter
MAX_NUMBER_DIGITS = 38
INT64 = range(-(2**63), 2**63)
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
MAX_TASK_OUTPUT_BYTES = 262_144  # SendTaskSuccess' output, in UTF-8 bytes
MAX_TASK_ERROR = 256
MAX_TASK_CAUSE = 32_768


def install(session: boto3.session.Session | None = None) -> None:
    """Register the checks on `session` (boto3's default one when None); installing twice changes nothing."""
    events = (session or boto3._get_default_session()).events
    for operation in WRITES:
        events.register(
            f"before-parameter-build.dynamodb.{operation}", _check_dynamodb, unique_id=f"strict-aws-{operation}"
        )
    events.register("before-parameter-build.events.PutEvents", _check_put_events, unique_id="strict-aws-PutEvents")
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        events.register(
            f"before-parameter-build.sfn.{operation}", _check_task_answer, unique_id=f"strict-aws-{operation}"
        )


def _refuse(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _check_dynamodb(params: dict[str, Any], model: Any, **_: Any) -> None:
    for where, value in _attribute_values(params):
        _check_value(model.name, where, value, depth=1)


def _attribute_values(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every attribute value a write carries, with where it is."""
    found: list[tuple[str, Any]] = []

    def add(where: str, attributes: dict[str, Any] | None) -> None:
        for name, value in (attributes or {}).items():
            found.append((f"{where}.{name}", value))

    add("Item", body.get("Item"))
    add("Key", body.get("Key"))
    add("ExpressionAttributeValues", body.get("ExpressionAttributeValues"))
    for requests in (body.get("RequestItems") or {}).values():
        for request in requests:
            add("PutRequest.Item", (request.get("PutRequest") or {}).get("Item"))
            add("DeleteRequest.Key", (request.get("DeleteRequest") or {}).get("Key"))
    for item in body.get("TransactItems") or []:
        for kind, action in item.items():
            add(f"{kind}.Item", action.get("Item"))
            add(f"{kind}.Key", action.get("Key"))
            add(f"{kind}.ExpressionAttributeValues", action.get("ExpressionAttributeValues"))
    return found


def _check_value(operation: str, where: str, value: Any, *, depth: int) -> None:
    if depth > MAX_NESTING:
        raise _refuse(operation, "ValidationException", f"Nesting Levels have exceeded supported limits ({where})")
    if not isinstance(value, dict) or len(value) != 1:
        return
    ((kind, content),) = value.items()
    if kind == "M":
        if "" in content:
            raise _refuse(
                operation,
                "ValidationException",
                f"One or more parameter values are not valid. The map at {where} has an empty attribute name",
            )
        if any(len(name.encode("utf-8")) >= MAX_NAME_BYTES for name in content):
            raise _refuse(
                operation,
                "ValidationException",
                f"One or more parameter values are not valid. The map at {where} has an attribute name of 64 KB "
                "or more",
            )
        for name, child in content.items():
            _check_value(operation, f"{where}.{name}", child, depth=depth + 1)
    elif kind == "L":
        for index, child in enumerate(content):
            _check_value(operation, f"{where}[{index}]", child, depth=depth + 1)
    elif kind == "N":
        _check_number(operation, where, content)
    elif kind == "NS":
        for number in content:
            _check_number(operation, where, number)


def _check_number(operation: str, where: str, text: str) -> None:
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").lstrip("0").rstrip("0")
    if len(digits) > MAX_NUMBER_DIGITS:
        raise _refuse(
            operation,
            "ValidationException",
            f"Attempting to store more than 38 significant digits in a Number ({where})",
        )


def _check_put_events(params: dict[str, Any], **_: Any) -> None:
    for index, entry in enumerate(params.get("Entries") or []):
        if "Detail" not in entry:
            continue
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            detail = None
        if not isinstance(detail, dict) or _has_wide_integer(detail):
            raise _refuse(
                "PutEvents",
                "ValidationException",
                f"Entries[{index}].Detail is malformed: not a JSON object, or an integer beyond 64 bits",
            )


def _has_wide_integer(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and item not in INT64:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_task_answer(params: dict[str, Any], model: Any, **_: Any) -> None:
    if "output" in params:
        output = params["output"]
        try:
            json.loads(output)
        except ValueError:
            raise _refuse(model.name, "InvalidOutput", "The provided JSON output data is invalid") from None
        if len(output.encode("utf-8")) > MAX_TASK_OUTPUT_BYTES:
            raise _refuse(model.name, "InvalidOutput", "The output is larger than 262144 bytes")
    for name, limit in (("error", MAX_TASK_ERROR), ("cause", MAX_TASK_CAUSE)):
        if len(params.get(name) or "") > limit:
            raise _refuse(
                model.name, "ValidationException", f"{name}: Member must have length less than or equal to {limit}"
            )
