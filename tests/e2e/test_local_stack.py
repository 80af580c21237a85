"""The local stack as a whole: it starts, creates the template's resources in moto and behaves like AWS at its edges."""

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
import requests

from local.client import Gateway
from local.event_source import SqsEventSource, SqsEventSourceConfig
from local.stack import LocalStack, PortInUseError
from tests.e2e.conftest import E2E_PARAMETERS

pytestmark = pytest.mark.e2e

STACK_JSON_KEYS = {
    "api_url",
    "aws_endpoint_url",
    "region",
    "simulator_url",
    "callback_username",
    "callback_password",
    "table_name",
    "event_bus_name",
    "send_queue_url",
    "dlq_url",
    "event_tap_queue_url",
    "media_bucket",
    "wait_queue_url",
    "provider_username",
    "provider_password",
}


def require_handler(stack: LocalStack, function_id: str) -> None:
    function = stack.functions[function_id]
    if not function.ready:
        pytest.skip(f"{function_id} has no handler yet: {function.unavailable_reason}")


def test_stack_json_holds_every_key(local_stack: LocalStack) -> None:
    written = json.loads(local_stack.stack_json.read_text())
    assert set(written) >= STACK_JSON_KEYS
    assert written == local_stack.info
    assert written["api_url"].startswith("http://127.0.0.1:")
    assert written["parameters"] == E2E_PARAMETERS  # what the stack was started with, so a run can be told apart


def test_template_resources_exist_in_moto(local_stack: LocalStack) -> None:
    info = local_stack.info
    table = local_stack.client("dynamodb").describe_table(TableName=info["table_name"])["Table"]
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"by-reference", "by-contact"}
    ttl = local_stack.client("dynamodb").describe_time_to_live(TableName=info["table_name"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"

    events = local_stack.client("events")
    assert events.describe_event_bus(Name=info["event_bus_name"])["Name"] == info["event_bus_name"]
    rules = {rule["Name"] for rule in events.list_rules(EventBusName=info["event_bus_name"])["Rules"]}
    assert {
        "wab-local-SendRequestedRule",
        "wab-local-BroadcastRequestedRule",
        "wab-local-MediaUploadRequestedRule",
        "wab-local-event-tap",
    } <= rules

    sqs = local_stack.client("sqs")
    send = sqs.get_queue_attributes(QueueUrl=info["send_queue_url"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=info["dlq_url"], AttributeNames=["QueueArn"])["Attributes"]
    assert json.loads(send["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 1000}
    assert (send["VisibilityTimeout"], send["FifoQueue"], send["ContentBasedDeduplication"]) == ("180", "true", "true")
    for lane in ("priority_lane_url", "bulk_lane_url"):
        attributes = sqs.get_queue_attributes(QueueUrl=info[lane], AttributeNames=["All"])["Attributes"]
        assert (attributes["FifoQueue"], attributes["DeduplicationScope"]) == ("true", "messageGroup")

    secrets = local_stack.client("secretsmanager")
    callback_secret = json.loads(
        secrets.get_secret_value(SecretId="wab-local-CallbackCredentialsSecret")["SecretString"]
    )
    assert callback_secret == {"username": info["callback_username"], "password": info["callback_password"]}
    provider_secret = json.loads(secrets.get_secret_value(SecretId="wab-local-ProviderSecret")["SecretString"])
    assert provider_secret == {
        "base_url": info["simulator_url"] + "/rest/wab/v1",
        "username": info["provider_username"],
        "password": info["provider_password"],
    }
    local_stack.client("s3").head_bucket(Bucket=info["media_bucket"])


def test_unauthenticated_callback_is_401(local_stack: LocalStack) -> None:
    require_handler(local_stack, "CallbacksFunction")
    response = requests.post(local_stack.info["api_url"] + "/callbacks/mo", json={"id": "x"}, timeout=30)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_the_callbacks_function_url_authenticates_every_request(
    local_stack: LocalStack, callback_auth: tuple[str, str]
) -> None:
    require_handler(local_stack, "CallbacksFunction")
    url = local_stack.info["function_urls"]["CallbacksFunctionUrl"]
    refused = requests.post(url + "/callbacks/mo", json={"id": "x"}, timeout=30)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.post(url + "/elsewhere", json={}, auth=callback_auth, timeout=30).status_code == 404


def test_the_provider_calls_back_through_the_callbacks_function_url(local_stack: LocalStack, gateway: Gateway) -> None:
    require_handler(local_stack, "CallbacksFunction")
    port = local_stack.info["function_urls"]["CallbacksFunctionUrl"].rsplit(":", 1)[1]
    access_log = Path(local_stack.info["log_dir"]) / "http-api.log"
    through_the_url = f' {port} "POST /callbacks/mo '
    before = access_log.read_text().count(through_the_url)

    answer = gateway.simulate("/_sim/mo", {"type": "text", "from": "+642100000077", "text": "through the URL"})

    assert answer["callback_status"] == 200
    assert access_log.read_text().count(through_the_url) == before + 1


def test_unsigned_record_request_is_403(local_stack: LocalStack) -> None:
    response = requests.get(local_stack.info["api_url"] + "/messages/x", timeout=30)
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_the_access_log_names_routes_not_the_numbers_or_ids_in_paths(local_stack: LocalStack) -> None:
    access_log = Path(local_stack.info["log_dir"]) / "http-api.log"
    requests.get(local_stack.info["api_url"] + "/contacts/%2B64219870001/messages?limit=5", timeout=30)
    requests.get(local_stack.info["api_url"] + "/messages/b95fc11e-0000-4000-8000-000000000001", timeout=30)

    logged = access_log.read_text()
    assert '"GET /contacts/…/messages HTTP/1.1" 403' in logged and '"GET /messages/… HTTP/1.1" 403' in logged
    assert "64219870001" not in logged and "b95fc11e-0000" not in logged and "limit=" not in logged


def test_unknown_route_is_404(local_stack: LocalStack) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/callbacks/mo"), ("GET", "/callbacks/mo")):
        response = requests.request(method, local_stack.info["api_url"] + path, timeout=30)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


def test_callback_is_stored_published_and_readable_through_the_signed_record_api(
    local_stack: LocalStack,
    callback_auth: tuple[str, str],
    signed_get: Callable[..., requests.Response],
    wait_for_event: Callable[..., dict[str, Any]],
) -> None:
    require_handler(local_stack, "CallbacksFunction")
    require_handler(local_stack, "MessagesFunction")
    message_id = f"e2e-{uuid.uuid4().hex[:12]}"
    callback = {
        "id": message_id,
        "source": "491701234567",
        "destination": "1234567890",
        "content": {"type": "text", "text": {"body": "hello from e2e"}},
    }
    response = requests.post(
        local_stack.info["api_url"] + "/callbacks/mo", json=callback, auth=callback_auth, timeout=30
    )
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    event = wait_for_event(lambda e: e["detail"].get("message_id") == message_id)
    assert (event["source"], event["detail-type"]) == ("wab.gateway", "WhatsApp Message Received")
    record = signed_get(f"/messages/{message_id}")
    assert record.status_code == 200
    assert record.json()["id"] == message_id


def put_event(local_stack: LocalStack, source: str, detail_type: str, detail: dict[str, Any]) -> None:
    answer = local_stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": local_stack.info["event_bus_name"],
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def drain(local_stack: LocalStack, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete everything on a queue (moto's PutEvents delivers before it answers)."""
    sqs = local_stack.client("sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            bodies.append(json.loads(message["Body"]))
    return bodies


def test_send_requests_from_other_sources_reach_the_send_queue_but_the_gateways_own_do_not(
    local_stack: LocalStack,
) -> None:
    marker = uuid.uuid4().hex
    with local_stack.paused_event_sources():  # so a running sender cannot take the message first
        put_event(local_stack, "wab.gateway", "WhatsApp Send Requested", {"marker": marker, "from": "gateway"})
        put_event(local_stack, "test.client", "WhatsApp Send Requested", {"marker": marker, "from": "client"})
        delivered = [
            body
            for body in drain(local_stack, local_stack.info["send_queue_url"])
            if body.get("detail", {}).get("marker") == marker
        ]
    assert [(body["source"], body["detail-type"]) for body in delivered] == [("test.client", "WhatsApp Send Requested")]


def test_event_tap_receives_what_the_gateway_publishes(
    local_stack: LocalStack, wait_for_event: Callable[..., dict[str, Any]]
) -> None:
    marker = uuid.uuid4().hex
    put_event(local_stack, "someone.else", "WhatsApp Message Received", {"marker": "not-for-the-tap"})
    put_event(local_stack, "wab.gateway", "WhatsApp Message Received", {"marker": marker})
    event = wait_for_event(lambda e: e["detail"].get("marker") in (marker, "not-for-the-tap"))
    assert event["detail"]["marker"] == marker
    assert event["source"] == "wab.gateway"


class ScriptedFunction:
    """Stands in for a handler: fails the records whose body is in `failing`, records what it was given."""

    logical_id = "ScriptedFunction"
    timeout_seconds = 5

    def __init__(self, failing: set[str]):
        self.failing = failing
        self.records: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.records.extend(event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": record["messageId"]} for record in event["Records"] if record["body"] in self.failing
            ]
        }


def test_event_source_deletes_successes_and_moto_redrives_repeated_failures(local_stack: LocalStack) -> None:
    sqs = local_stack.client("sqs")
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for body in ("ok-1", "ok-2", "poison"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    function = ScriptedFunction(failing={"poison"})
    config = SqsEventSourceConfig(
        queue_url=queue_url,
        queue_arn=queue_arn,
        region=local_stack.region,
        batch_size=10,
        report_batch_item_failures=True,
        maximum_concurrency=2,
    )
    source = SqsEventSource(function, config, lambda: local_stack.client("sqs"))  # type: ignore[arg-type]
    source.start()
    try:
        dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=10).get("Messages", [])
    finally:
        source.stop()

    assert [message["Body"] for message in dead] == ["poison"]
    assert sorted(record["body"] for record in function.records) == ["ok-1", "ok-2", "poison", "poison"]
    poison_counts = [
        record["attributes"]["ApproximateReceiveCount"] for record in function.records if record["body"] == "poison"
    ]
    assert poison_counts == ["1", "2"]
    assert {record["eventSourceARN"] for record in function.records} == {queue_arn}
    left = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    assert set(left["Attributes"].values()) == {"0"}


def test_connections_are_kept_alive(local_stack: LocalStack) -> None:
    port = int(local_stack.info["api_url"].rsplit(":", 1)[1])
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sockets = []
        for _ in range(3):
            connection.request("GET", "/nowhere")
            response = connection.getresponse()
            response.read()
            assert response.status == 404
            assert response.getheader("connection") != "close"
            sockets.append(connection.sock)
        assert sockets[0] is sockets[1] is sockets[2]
    finally:
        connection.close()


def test_a_body_over_10_mb_is_413(local_stack: LocalStack) -> None:
    port = int(local_stack.info["api_url"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"POST /callbacks/mo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485761\r\n\r\n"
        )
        received = b""
        while chunk := connection.recv(4096):  # the stack closes the connection after a 413
            received += chunk
    answer = received.decode()
    assert answer.startswith("HTTP/1.1 413")
    assert answer.endswith('{"message":"Request Entity Too Large"}')


def test_a_busy_port_stops_a_second_stack_before_it_starts_anything(local_stack: LocalStack, tmp_path) -> None:
    busy = int(local_stack.info["aws_endpoint_url"].rsplit(":", 1)[1])
    started = time.monotonic()
    with pytest.raises(PortInUseError) as caught:
        LocalStack(api_port=0, aws_port=busy, simulator_port=0, state_dir=tmp_path).start()
    assert str(busy) in str(caught.value) and "--aws-port" in str(caught.value)
    assert time.monotonic() - started < 1
    assert not (tmp_path / "stack.json").exists() and not (tmp_path / "logs").exists()


class GroupWatcher:
    """Stands in for a handler: records how many records of each message group it holds at once."""

    logical_id = "GroupWatcher"
    timeout_seconds = 5

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holding: dict[str, int] = {}
        self.most_held_at_once = 0
        self.bodies: list[str] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        groups = [record["attributes"]["MessageGroupId"] for record in event["Records"]]
        with self.lock:
            for group in set(groups):
                self.holding[group] = self.holding.get(group, 0) + 1
                self.most_held_at_once = max(self.most_held_at_once, self.holding[group])
        time.sleep(0.3)
        with self.lock:
            for group in set(groups):
                self.holding[group] -= 1
            self.bodies.extend(record["body"] for record in event["Records"])
        return {"batchItemFailures": []}


def test_a_fifo_groups_messages_are_never_held_by_two_pollers_at_once(local_stack: LocalStack) -> None:
    """SQS hands out a message group's messages only to one consumer at a time; the local pollers must too."""
    sqs = local_stack.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"e2e-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = GroupWatcher()
    config = SqsEventSourceConfig(
        queue_url=queue_url,
        queue_arn=queue_arn,
        region=local_stack.region,
        batch_size=10,
        report_batch_item_failures=True,
        maximum_concurrency=2,
    )
    source = SqsEventSource(function, config, lambda: local_stack.client("sqs"))  # type: ignore[arg-type]
    source.start()
    try:
        for number in range(8):  # one by one, while the pollers wait: the case a long poll gets wrong
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=str(number),
                MessageGroupId="contact",
                MessageDeduplicationId=str(number),
            )
            time.sleep(0.1)
        deadline = time.monotonic() + 15
        while len(function.bodies) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        source.stop()

    assert function.bodies == [str(number) for number in range(8)]
    assert function.most_held_at_once == 1
