"""The sender function against moto and a recorded provider: what is sent, stored, published, retried and dropped.

Commands go through a real (moto) send queue: the harness receives a batch the way Lambda's poller does, invokes the
handler, and deletes what the answer settles, so redeliveries, receive counts and visibility changes are real.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
import responses
from wab import aws as wab_aws

from tests.helpers import LambdaContext, basic, http_event, load_handler
from tests.integration.conftest import BUSINESS, MESSAGE_ID, template_resources

BASE_URL = "https://provider.test/rest/wab/v1"
CUSTOMER = "+64211234567"
BUCKET = "wab-media-test"
REQUEST_RULES = ("SendRequestedRule", "BroadcastRequestedRule", "MediaUploadRequestedRule")


def text_command(**overrides: Any) -> dict[str, Any]:
    command = {
        "destination": CUSTOMER,
        "type": "text",
        "text": {"body": "Your order has shipped"},
        "reference": "order-7",
    }
    command.update(overrides)
    return command


def accepted(message_id: str = MESSAGE_ID, reference: str = "order-7") -> tuple[int, dict, str]:
    return 202, {}, json.dumps([{"id": message_id, "status": "accepted", "reference": reference}])


def failures(result: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def details(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [event["detail"] for event in events if event["detail-type"] == detail_type]


def request_json(call: Any) -> Any:
    return json.loads(call.request.body)


def route_requests_to_the_queue(bus_name: str, target_arn: str) -> None:
    """The template's rules that put command events from other services on the send queue."""
    resources = template_resources()
    for name in REQUEST_RULES:
        pattern = json.dumps(resources[name]["Properties"]["EventPattern"])
        wab_aws.client("events").put_rule(Name=name, EventBusName=bus_name, EventPattern=pattern)
        [target] = resources[name]["Properties"]["Targets"]
        wab_aws.client("events").put_targets(
            Rule=name,
            EventBusName=bus_name,
            Targets=[{"Id": "SendQueue", "Arn": target_arn, "SqsParameters": target["SqsParameters"]}],
        )


def s3() -> Any:
    return wab_aws.client("s3")


def create_bucket(name: str = BUCKET) -> None:
    s3().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def basic_credentials(call: Any) -> tuple[str, str]:
    _scheme, token = call.request.headers["Authorization"].split(" ")
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


# --- sending -------------------------------------------------------------------------------------------------------


def test_a_send_calls_the_provider_stores_the_record_and_publishes_accepted(sender, provider):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=202,
        json=[{"id": MESSAGE_ID, "status": "accepted", "reference": "order-7"}],
    )
    sender.put(text_command())

    result = sender.run()

    assert result == {"batchItemFailures": []}
    [call] = provider.calls
    assert request_json(call) == {
        "destination": CUSTOMER,
        "type": "text",
        "text": {"body": "Your order has shipped"},
        "source": BUSINESS,
        "reference": "order-7",
    }
    assert call.request.headers["content-type"] == "application/json"
    assert basic_credentials(call) == ("api", "api-secret")
    record = sender.record()
    assert {
        key: record[key] for key in ("direction", "source", "destination", "type", "status", "reference", "contact_key")
    } == {
        "direction": "MT",
        "source": BUSINESS,
        "destination": CUSTOMER,
        "type": "text",
        "status": "accepted",
        "reference": "order-7",
        "contact_key": CUSTOMER,
    }
    assert record["content"] == {"type": "text", "text": {"body": "Your order has shipped"}}
    assert [entry["status"] for entry in record["status_history"]] == ["accepted"]
    assert record["outbox"] == {}
    [event] = sender.published()
    assert (event["source"], event["detail-type"]) == ("wab.gateway", "WhatsApp Message Accepted")
    assert event["detail"] == {
        "message_id": MESSAGE_ID,
        "reference": "order-7",
        "destination": CUSTOMER,
        "source": BUSINESS,
        "type": "text",
    }
    assert sender.visible() == sender.in_flight() == 0


def test_a_send_requested_on_the_bus_reaches_the_queue_and_is_sent_with_every_field(sender, provider):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=202,
        json=[{"id": MESSAGE_ID, "status": "accepted", "reference": ""}],
    )
    detail = {
        "to": "64211234567",
        "type": "document",
        "source": "+15550001111",
        "document": {
            "link": "https://files.example.com/invoice.pdf",
            "caption": "Invoice 42",
            "filename": "invoice-42.pdf",
        },
        "context": {"message_id": "wamid.HBgLNjQyMTEyMzQ1Njc"},
    }
    route_requests_to_the_queue(sender.aws.bus_name, sender.queue_arn)
    wab_aws.client("events").put_events(
        Entries=[
            {
                "Source": "shop.orders",
                "DetailType": "WhatsApp Send Requested",
                "Detail": json.dumps(detail),
                "EventBusName": sender.aws.bus_name,
            },
            {
                "Source": "wab.gateway",
                "DetailType": "WhatsApp Send Requested",
                "Detail": json.dumps(detail),
                "EventBusName": sender.aws.bus_name,
            },
        ]
    )
    sender.published()  # the gateway-sourced copy also reached the tap; only the other one may reach the send queue

    assert sender.run() == {"batchItemFailures": []}

    [call] = provider.calls
    assert request_json(call) == {
        "destination": CUSTOMER,
        "type": "document",
        "document": {
            "link": "https://files.example.com/invoice.pdf",
            "caption": "Invoice 42",
            "filename": "invoice-42.pdf",
        },
        "source": "+15550001111",
        "context": {"message_id": "wamid.HBgLNjQyMTEyMzQ1Njc"},
    }
    assert sender.visible() == 0
    [accepted_event] = details(sender.published(), "WhatsApp Message Accepted")
    assert accepted_event == {
        "message_id": MESSAGE_ID,
        "destination": CUSTOMER,
        "source": "+15550001111",
        "type": "document",
    }


def test_location_numbers_keep_their_digits_on_the_way_to_the_provider(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(
        '{"destination": "+64211234567", "type": "location", '
        '"location": {"latitude": -36.848461, "longitude": 174.763336, "name": "Sky Tower"}}'
    )

    sender.run()

    assert provider.calls[0].request.body == (
        b'{"destination":"+64211234567","type":"location","location":{"latitude":-36.848461,'
        b'"longitude":174.763336,"name":"Sky Tower"},"source":"1234567890"}'
    )
    assert sender.record()["content"]["location"]["latitude"] == Decimal("-36.848461")


# --- exactly once --------------------------------------------------------------------------------------------------


def test_a_redelivered_or_replayed_command_is_sent_once(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    command = text_command(idempotency_key="shipment-7-notice")
    envelope = {"detail-type": "WhatsApp Send Requested", "source": "shop.orders", "detail": command}

    sender.put(command)
    assert sender.run() == {"batchItemFailures": []}
    sender.put(command, envelope)  # the same command asked for again, on the queue and on the bus
    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 1
    # Each repeat is told the original's outcome, marked as a repeat: a suppressed duplicate is never silent.
    accepted = details(sender.published(), "WhatsApp Message Accepted")
    assert [event.get("repeat") for event in accepted] == [None, True, True]
    assert {(event["message_id"], event["idempotency_key"]) for event in accepted} == {
        (MESSAGE_ID, "shipment-7-notice")
    }
    assert sender.visible() == sender.in_flight() == 0
    idempotency = [item for item in sender.items() if item["pk"].startswith("IDEMPOTENCY#sender#")]
    assert len(idempotency) == 1
    assert idempotency[0]["status"] == "COMPLETED"
    lifetime = idempotency[0]["expires_at"] - int(time.time())
    assert 7 * 86400 - 60 <= lifetime <= 7 * 86400  # IDEMPOTENCY_DAYS' default, as the table's TTL attribute


class ProviderInFlight:
    """A provider whose first `together` sends each wait until all of them are in flight (so a sender that made them
    one after the other fails them: the wait times out), recording when every send started and ended."""

    def __init__(self, together: int):
        self.barrier = threading.Barrier(together, timeout=10)
        self.together = together
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        with self.lock:
            self.log.append(("start", body["text"]["body"]))
            waits = sum(1 for what, _ in self.log if what == "start") <= self.together
        if waits:
            self.barrier.wait()
        with self.lock:
            self.log.append(("end", body["text"]["body"]))
        return (
            202,
            {},
            json.dumps([{"id": str(uuid.uuid4()), "status": "accepted", "reference": body.get("reference")}]),
        )


def test_a_batchs_sends_to_different_contacts_run_side_by_side(sender, provider):
    in_flight = ProviderInFlight(together=3)
    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=in_flight)
    sender.put(
        *(text_command(destination=f"+6421000000{n}", reference=f"r{n}", text={"body": f"m{n}"}) for n in range(3))
    )

    assert sender.run() == {"batchItemFailures": []}

    assert [what for what, _ in in_flight.log[:3]] == ["start"] * 3
    assert len(details(sender.published(), "WhatsApp Message Accepted")) == 3


def test_a_batchs_sends_to_different_contacts_take_their_rate_units_in_one_write(sender, provider, aws):
    provider.add_callback(
        responses.POST,
        f"{BASE_URL}/messages",
        callback=lambda request: (202, {}, json.dumps([{"id": str(uuid.uuid4()), "status": "accepted"}])),
    )
    budget_writes = []
    wab_aws.client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.PutItem",
        lambda params, **_: budget_writes.append(params) if params["Item"]["pk"]["S"].startswith("RATE#") else None,
    )
    sender.put(
        *(text_command(destination=f"+6421000001{n}", reference=f"u{n}", text={"body": f"m{n}"}) for n in range(4))
    )

    assert sender.run() == {"batchItemFailures": []}

    assert len(details(sender.published(), "WhatsApp Message Accepted")) == 4
    assert len(budget_writes) == 1  # four units, one conditional write
    assert len(provider.calls) == 4


def test_one_contacts_sends_go_out_in_the_order_they_came(sender, provider):
    in_flight = ProviderInFlight(together=2)
    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=in_flight)
    sender.put(
        text_command(reference="a1", text={"body": "first for A"}),
        text_command(destination="+64210000009", reference="b1", text={"body": "only for B"}),
        text_command(destination=CUSTOMER.lstrip("+"), reference="a2", text={"body": "second for A"}),
    )

    assert sender.run() == {"batchItemFailures": []}

    log = in_flight.log
    assert log.index(("end", "first for A")) < log.index(("start", "second for A"))
    assert log.index(("start", "only for B")) < log.index(("end", "first for A"))  # B did not wait for A


def test_a_duplicate_in_the_same_batch_waits_for_its_original_and_sends_nothing(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    command = text_command(idempotency_key="shipment-7-notice")
    sender.put(command, {"detail-type": "WhatsApp Send Requested", "source": "shop.orders", "detail": command}, command)

    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 1
    accepted = details(sender.published(), "WhatsApp Message Accepted")
    # The original's event goes out from the table's stream, after the repeats this batch told directly.
    assert sorted(str(event.get("repeat")) for event in accepted) == ["None", "True", "True"]


def test_without_an_idempotency_key_each_request_is_a_new_send_and_a_redelivery_is_not(sender, provider):
    for number in range(3):
        provider.add(
            responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": f"id-{number}", "status": "accepted"}]
        )
    command = text_command()  # the same reference: a correlation id, shared by many commands
    envelope = {"id": "event-1", "detail-type": "WhatsApp Send Requested", "source": "shop.orders", "detail": command}

    sender.put(command, command)  # two requests alike: an order's "shipped" told twice is two messages
    sender.put(envelope, envelope)  # the bus delivering one event twice: one request
    sender.run_until_empty()

    assert len(provider.calls) == 3
    accepted = details(sender.published(), "WhatsApp Message Accepted")
    assert sorted(event["message_id"] for event in accepted) == ["id-0", "id-1", "id-2"]


def test_an_idempotency_key_reused_for_a_different_command_is_reported_not_sent(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(idempotency_key="k-1"))
    sender.run()
    sender.published()

    sender.put(text_command(idempotency_key="k-1", text={"body": "something else"}))
    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 1
    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert failed["error"]["code"] == "idempotency_key_reused"
    assert (failed["reference"], failed["destination"], failed["command"]) == ("order-7", CUSTOMER, "send")


# --- failures and retries ------------------------------------------------------------------------------------------


def test_one_failing_record_is_the_only_batch_item_failure(sender, provider):
    def answer(request: Any) -> tuple[int, dict, str]:
        destination = json.loads(request.body)["destination"]
        if destination == "+64210000002":
            return 503, {}, "upstream unavailable"
        return 202, {}, json.dumps([{"id": f"id-{destination[-1]}", "status": "accepted"}])

    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=answer)
    sender.put(*(text_command(destination=f"+6421000000{n}", reference=f"r{n}") for n in (1, 2, 3)))

    result = sender.run()

    [bad] = [record for record in sender.last_records if "+64210000002" in record["body"]]
    assert failures(result) == [bad["messageId"]]
    assert [change["ReceiptHandle"] for change in sender.visibility_changes] == [bad["receiptHandle"]]
    assert sorted(detail["message_id"] for detail in details(sender.published(), "WhatsApp Message Accepted")) == [
        "id-1",
        "id-3",
    ]
    assert (sender.visible(), sender.in_flight()) == (0, 1)


@pytest.mark.parametrize(
    "status, body",
    [
        (429, {"error": "Too Many Requests", "message": "rate limited", "statusCode": 429}),
        (400, {"error": "(#130429) Rate limit hit", "message": "WhatsApp Cloud API error", "statusCode": 400}),
        (400, {"error": "(#131056) Pair rate limit hit", "message": "WhatsApp Cloud API error", "statusCode": 400}),
    ],
)
def test_throttling_postpones_the_record_and_the_next_delivery_sends_it(sender, provider, status, body):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=status, json=body)
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command())

    first = sender.run()

    assert failures(first) == [sender.last_records[0]["messageId"]]
    [change] = sender.visibility_changes
    assert change["QueueUrl"] == sender.urls["priority"]
    assert 1 <= change["VisibilityTimeout"] <= 2  # first receipt: up to 2^1 s, jittered
    assert sender.visible() == 0 and sender.record() is None and sender.published() == []
    assert not [item for item in sender.items() if item["pk"].startswith("IDEMPOTENCY#")]  # the attempt is forgotten

    sender.time_passes()
    second = sender.run()

    assert second == {"batchItemFailures": []}
    assert len(provider.calls) == 2
    assert sender.record()["status"] == "accepted"
    assert len(details(sender.published(), "WhatsApp Message Accepted")) == 1


def test_the_backoff_grows_with_each_receipt_and_respects_retry_after(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=503, body="busy")
    sender.put(text_command())
    for _ in range(3):
        sender.run()
        sender.time_passes()
    provider.replace(
        responses.POST, f"{BASE_URL}/messages", status=429, headers={"Retry-After": "120"}, json={"error": "slow down"}
    )
    sender.run()

    timeouts = [change["VisibilityTimeout"] for change in sender.visibility_changes]
    assert 1 <= timeouts[0] <= 2 and 2 <= timeouts[1] <= 4 and 4 <= timeouts[2] <= 8
    assert timeouts[3] == 120


def test_a_timeout_is_retried(sender, provider):
    import requests

    provider.add(responses.POST, f"{BASE_URL}/messages", body=requests.ReadTimeout("read timed out"))
    sender.put(text_command())

    assert len(failures(sender.run())) == 1
    assert len(sender.visibility_changes) == 1


def test_a_permanent_error_is_reported_and_not_retried(sender, provider):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": "(#131026) Message undeliverable", "message": "WhatsApp Cloud API error", "statusCode": 400},
    )
    sender.put(text_command())

    assert sender.run() == {"batchItemFailures": []}

    assert sender.visibility_changes == [] and sender.visible() == sender.in_flight() == 0
    assert sender.record() is None
    [event] = sender.published()
    assert (event["detail-type"], event["detail"]) == (
        "WhatsApp Message Failed",
        {
            "reference": "order-7",
            "destination": CUSTOMER,
            "command": "send",
            "error": {"code": "131026", "message": "(#131026) Message undeliverable"},
        },
    )
    sender.put(text_command(idempotency_key="k-1"))
    sender.run()
    sender.put(text_command(idempotency_key="k-1"))  # the same command again: the outcome stands, told again
    sender.run()
    assert len(provider.calls) == 2
    [first, repeated] = details(sender.published(), "WhatsApp Message Failed")
    assert repeated == {**first, "repeat": True}


@pytest.mark.parametrize(
    "answer",
    [
        [{"id": "A" * 3000, "status": "accepted"}],  # no DynamoDB key can be that long
        [{"id": "id with spaces", "status": "accepted"}],
        [{"status": "accepted"}],
        "accepted",
    ],
)
def test_an_acceptance_without_a_usable_message_id_is_reported_once_not_sent_again(sender, provider, answer):
    """The provider said yes, so the message may be on its way: no retry (it could be sent twice) and no record under
    an id that cannot key one; the requester is told."""
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=answer)
    sender.put(text_command(reference="odd-answer"))

    for _ in range(3):
        if sender.visible():
            sender.run()
        sender.time_passes()

    assert len(provider.calls) == 1
    assert sender.record() is None and sender.dead_letters() == []
    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert (failed["reference"], failed["destination"], failed["error"]["code"]) == (
        "odd-answer",
        CUSTOMER,
        "unreadable_provider_answer",
    )


def test_an_invalid_command_is_reported_without_calling_the_provider_and_is_not_retried(sender, provider):
    sender.put(text_command(destination="12345", text={"body": "x" * 4097}, idempotency_key="notice-7"))

    assert sender.route() == [{"batchItemFailures": []}]

    assert len(provider.calls) == 0
    assert sender.visible() == sender.in_flight() == 0
    [event] = sender.published()
    assert event["detail-type"] == "WhatsApp Message Failed"
    assert event["detail"]["reference"] == "order-7"
    assert event["detail"]["idempotency_key"] == "notice-7"  # the requester can tell which request it was
    assert event["detail"]["destination"] == "12345"
    assert event["detail"]["error"]["code"] == "invalid_command"
    assert event["detail"]["error"]["message"] == (
        "text.body: String should have at most 4096 characters; "
        "destination: must be an E.164 phone number such as +64211234567"
    )


def test_a_request_that_crashes_the_intake_holds_up_only_itself_and_is_dead_lettered_reported(
    sender, provider, monkeypatch
):
    """The bus puts every request in one message group: a request the intake crashes on must neither take the
    requests before it down with it nor hold up those behind it for longer than its crashes allow."""
    from wab import intake

    def parse(body: str) -> Any:
        if "poison" in body:
            raise TypeError("a bug met on this request")
        return real_parse(body)

    real_parse = intake.parse_delivery
    monkeypatch.setattr(intake, "parse_delivery", parse)
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(destination="12345"), text_command(reference="poison"), text_command(reference="after"))

    [answer] = sender.route()
    assert len(answer["batchItemFailures"]) == 2  # the crashing request and the one behind it
    [invalid] = details(sender.published(), "WhatsApp Message Failed")
    assert invalid["error"]["code"] == "invalid_command"  # reported at once, not retried with the crash

    for _ in range(4):  # the first receive's crash is not counted; three more are the limit
        sender.time_passes()
        sender.route()
    sender.time_passes()
    sender.run_until_empty()

    [unprocessable] = details(sender.published(), "WhatsApp Message Failed")
    assert unprocessable == {"error": {"code": "unprocessable", "message": unprocessable["error"]["message"]}}
    [dead] = sender.dead_letters()
    assert json.loads(dead["Body"])["reference"] == "poison"
    assert [request_json(call)["reference"] for call in provider.calls] == ["after"]


def test_a_command_the_sender_always_fails_on_is_dead_lettered_and_reported_not_retried_for_hours(
    sender, provider, monkeypatch, caplog
):
    """A bug met on one command holds up its contact only until the crash limit, and its log line names the error's
    type and place, never its text (which may hold the message)."""
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    real_handle = sender.module.sender().handle_body

    def handle(body: str, **kwargs: Any) -> None:
        if "poison" in body:
            raise KeyError(f"{CUSTOMER}: the secret text")
        real_handle(body, **kwargs)

    monkeypatch.setattr(sender.module.sender(), "handle_body", handle)
    sender.put(text_command(reference="poison", text={"body": "the secret text"}))
    for _ in range(6):  # the first receive's crash is not counted; three more are the limit
        if sender.visible():
            sender.run()
        sender.time_passes()

    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert (failed["reference"], failed["destination"], failed["error"]["code"]) == (
        "poison",
        CUSTOMER,
        "unprocessable",
    )
    assert len(sender.dead_letters()) == 1
    crashes = [record for record in caplog.records if "crashed the sender" in record.getMessage()]
    assert crashes
    assert all(CUSTOMER not in str(record.__dict__) and "secret" not in str(record.__dict__) for record in crashes)


def accepted_but_unrecorded(sender, provider, reference: str) -> None:
    """A send the provider accepts whose record write DynamoDB refuses as it stands (a ValidationException), run until
    it is dead-lettered: the first receive's crash is not counted; three more are the limit."""
    from botocore.awsrequest import AWSResponse

    def refuse_the_record(params: dict[str, Any], **_: Any) -> Any:
        if b'"MSG#' in params["body"]:  # the request as it would go: the message record's write
            error = {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}
            return AWSResponse("https://dynamodb.test", 400, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    dynamodb = wab_aws.client("dynamodb")
    dynamodb.meta.events.register("before-call.dynamodb.PutItem", refuse_the_record)
    try:
        sender.put(text_command(reference=reference))
        for _ in range(6):
            if sender.visible():
                sender.run()
            sender.time_passes()
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.PutItem", refuse_the_record)


def redrive(sender) -> None:
    """The dead letter put back on its lane as `./wab dlq redrive` does: the same request."""
    [dead] = sender.dead_letters()
    sender.sqs.send_message(
        QueueUrl=sender.urls["priority"],
        MessageBody=dead["Body"],
        MessageGroupId="redrive",
        MessageDeduplicationId=uuid.uuid4().hex,
    )
    sender.run_until_empty()


def test_a_request_aws_refuses_as_it_stands_is_dead_lettered_and_reported_not_retried_for_hours(sender, provider):
    """A write DynamoDB refuses (a ValidationException: too large, a key too long) is refused again however often it
    is retried: it is a gap in the gateway's checks, counted as a crash, not a dependency failing for the window."""
    accepted_but_unrecorded(sender, provider, "refused")

    # The provider took it before the record write was refused: the requester is told so, by the message's id, and a
    # redrive of the dead letter (the same request) completes it without sending it again.
    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert (failed["reference"], failed["destination"], failed["error"]["code"]) == (
        "refused",
        CUSTOMER,
        "accepted_unrecorded",
    )
    assert MESSAGE_ID in failed["error"]["message"]
    redrive(sender)
    assert len(provider.calls) == 1
    assert sender.record()["status"] == "accepted"
    [accepted] = details(sender.published(), "WhatsApp Message Accepted")
    assert accepted["message_id"] == MESSAGE_ID


def test_a_command_from_a_number_not_configured_is_invalid_and_names_whom_it_was_for(sender, provider):
    """Its campaign counts each recipient of a broadcast as failed, as for any invalid broadcast."""
    sender.configure(NUMBER_RATES="+15550001111=20")
    recipients = ["+64211110001", "+64211110002", "+64211110003"]
    sender.put(text_command(source="+19999999"), text_command(source="+19999999", destination=recipients))

    sender.route()

    assert len(provider.calls) == 0
    single, broadcast = details(sender.published(), "WhatsApp Message Failed")
    assert single["error"]["message"] == "source: not one of the business numbers this gateway sends from"
    assert (single["destination"], single.get("recipients")) == (CUSTOMER, None)
    assert (broadcast.get("destination"), broadcast["recipients"]) == (None, 3)


def test_a_body_that_is_not_json_is_reported_too(sender, provider):
    sender.put("this is not a command")

    assert sender.route() == [{"batchItemFailures": []}]

    [event] = sender.published()
    assert event["detail"]["error"] == {
        "code": "invalid_command",
        "message": "message body is not valid JSON: Expecting value at line 1 column 1",
    }


def test_when_eventbridge_fails_after_the_send_the_event_still_goes_out_once_and_nothing_is_sent_again(
    sender, provider
):
    from botocore.awsrequest import AWSResponse
    from wab import relay

    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    outage = {"left": relay.ATTEMPTS}  # every attempt of the relay's first invocation

    def eventbridge_outage(**_: Any) -> Any:
        if outage["left"]:
            outage["left"] -= 1
            failed = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}
            return AWSResponse("https://events.test", 200, {}, None), failed
        return None

    wab_aws.client("events").meta.events.register("before-call.events.PutEvents", eventbridge_outage)
    sender.put(text_command())

    assert sender.run() == {"batchItemFailures": []}  # recorded: the stream publishes it, not the sender
    assert outage["left"] == 0 and sender.record()["status"] == "accepted"

    assert [detail["message_id"] for detail in details(sender.published(), "WhatsApp Message Accepted")] == [MESSAGE_ID]
    assert len(provider.calls) == 1
    assert sender.record()["outbox"] == {}
    assert details(sender.published(), "WhatsApp Message Accepted") == []


def test_a_record_reached_with_too_little_time_left_waits_for_the_next_invocation(sender, provider):
    sender.put(text_command())

    result = sender.run(LambdaContext(remaining_ms=1500))

    assert len(failures(result)) == 1
    assert len(provider.calls) == 0 and len(sender.visibility_changes) == 1


# --- credentials ---------------------------------------------------------------------------------------------------


def test_refused_credentials_are_read_again_once_and_the_send_goes_through(sender, provider):
    def answer(request: Any) -> tuple[int, dict, str]:
        _user, _, password = base64.b64decode(request.headers["Authorization"].split(" ")[1]).decode().partition(":")
        return accepted() if password == "rotated-secret" else (401, {}, '{"error": "Unauthorized"}')

    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=answer)
    sender.put(text_command())
    sender.run()  # warms the cached secret with the old password (401 twice: retried later)
    secret = {"base_url": BASE_URL, "username": "api", "password": "rotated-secret"}
    wab_aws.client("secretsmanager").put_secret_value(
        SecretId=sender.aws.provider_secret_arn, SecretString=json.dumps(secret)
    )
    sender.time_passes()

    assert sender.run() == {"batchItemFailures": []}

    passwords = [basic_credentials(call)[1] for call in provider.calls]
    assert passwords == ["api-secret", "api-secret", "api-secret", "rotated-secret"]
    assert sender.record()["status"] == "accepted"


def test_credentials_refused_after_a_refresh_fail_the_record_for_a_retry_not_for_good(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=403, json={"error": "Forbidden"})
    sender.put(text_command())

    result = sender.run()

    assert len(failures(result)) == 1
    assert len(provider.calls) == 2  # the call, then once more with the secret read again
    assert sender.published() == []


# --- the 24-hour window --------------------------------------------------------------------------------------------


def inbound_at(seconds_ago: int) -> None:
    from wab import clock
    from wab.store import MessageStore

    moment = clock.now().timestamp() - seconds_ago
    from datetime import datetime

    MessageStore("messages").record_inbound(CUSTOMER, clock.iso(datetime.fromtimestamp(moment, UTC)), 2**31)


def test_enforce_refuses_free_form_outside_the_window_without_calling_the_provider(sender, provider):
    sender.configure(WINDOW_POLICY="enforce")
    inbound_at(25 * 3600)
    sender.put(text_command())

    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 0
    [event] = sender.published()
    assert event["detail-type"] == "WhatsApp Message Failed"
    assert event["detail"]["error"]["code"] == "outside_24h_window"
    assert event["detail"]["destination"] == CUSTOMER


def test_enforce_sends_inside_the_window_and_templates_at_any_time(sender, provider):
    sender.configure(WINDOW_POLICY="enforce")
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": "in-window", "status": "accepted"}])
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": "template", "status": "accepted"}])
    inbound_at(23 * 3600)
    sender.put(text_command())
    sender.run()
    template = {
        "destination": "+64219999999",
        "type": "template",
        "reference": "t-1",
        "template": {"name": "order_shipped", "language": {"code": "en_US"}},
    }
    sender.put(template)
    sender.run()

    assert [request_json(call)["type"] for call in provider.calls] == ["text", "template"]
    assert [detail["message_id"] for detail in details(sender.published(), "WhatsApp Message Accepted")] == [
        "in-window",
        "template",
    ]


@pytest.mark.parametrize("policy", ["warn", "off"])
def test_warn_and_off_send_outside_the_window(sender, provider, policy):
    sender.configure(WINDOW_POLICY=policy)
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command())  # this customer never wrote

    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 1
    assert [event["detail-type"] for event in sender.published()] == ["WhatsApp Message Accepted"]


# --- DLR first -----------------------------------------------------------------------------------------------------


def deliver_dlr(message_id: str, status: str) -> None:
    """The provider's DLR through the callbacks function, as it arrives in production."""
    callbacks = load_handler("callbacks")
    callbacks.dependencies.cache_clear()
    event = http_event(
        "POST",
        "/callbacks/dlr",
        body={"id": message_id, "status": status, "reference": ""},
        headers={"authorization": basic()},
    )
    assert callbacks.lambda_handler(event, LambdaContext())["statusCode"] == 200


def test_a_dlr_that_came_first_keeps_its_status_and_the_send_completes_the_record(sender, provider):
    deliver_dlr(MESSAGE_ID, "sent")
    sender.published()
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command())

    assert sender.run() == {"batchItemFailures": []}

    record = sender.record()
    assert record["status"] == "sent"
    assert [entry["status"] for entry in record["status_history"]] == ["accepted", "sent"]
    assert (record["source"], record["destination"], record["type"], record["reference"]) == (
        BUSINESS,
        CUSTOMER,
        "text",
        "order-7",
    )
    assert record["created_at"] == min(entry["at"] for entry in record["status_history"])
    assert record["outbox"] == {}
    assert [event["detail-type"] for event in sender.published()] == ["WhatsApp Message Accepted"]


def test_a_record_a_dlr_created_lives_a_day_until_the_send_completes_it(sender, provider):
    import time

    deliver_dlr(MESSAGE_ID, "accepted")  # no status change, but a provisional record
    assert sender.record()["expires_at"] <= time.time() + 86400 + 60
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command())

    assert sender.run() == {"batchItemFailures": []}

    record = sender.record()
    assert record["expires_at"] >= time.time() + 29 * 86400  # the retention the tests configure (30 days)
    assert [entry["status"] for entry in record["status_history"]] == ["accepted"]
    assert (record["status"], record["reference"], record["destination"]) == ("accepted", "order-7", CUSTOMER)
    assert [event["detail-type"] for event in sender.published()] == ["WhatsApp Message Accepted"]


# --- broadcast -----------------------------------------------------------------------------------------------------


def recipients(count: int) -> list[str]:
    return [f"+6421{n:07d}" for n in range(1, count + 1)]


def broadcast_answer(request: Any) -> tuple[int, dict, str]:
    destinations = json.loads(request.body)["destination"]
    return (
        202,
        {},
        json.dumps([{"destination": number, "id": f"id{number[1:]}", "status": "accepted"} for number in destinations]),
    )


def broadcast_refused_whole_when(
    sender, provider, numbers: list[str], refused: Callable[[list[str]], tuple[int, str] | None]
) -> tuple[list[dict[str, Any]], list[str]]:
    """A broadcast to `numbers` through a provider that refuses a call as a whole with `refused(its recipients)`'s
    (status, error), when it gives one: the Failed events, and each recipient sent to, as often as it was."""

    def answer(request: Any) -> tuple[int, dict, str]:
        refusal = refused(json.loads(request.body)["destination"])
        if refusal is None:
            return broadcast_answer(request)
        status, error = refusal
        return status, {}, json.dumps({"error": error, "message": "x", "statusCode": status})

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=answer)
    template = {"name": "spring_sale", "language": {"code": "en"}}
    sender.put({"destination": numbers, "type": "template", "template": template, "reference": "spring"})

    sender.run_until_empty()

    published = sender.published()
    accepted = sorted(event["destination"] for event in details(published, "WhatsApp Message Accepted"))
    calls = [call for call in provider.calls if call.response.status_code == 202]
    assert sorted(number for call in calls for number in request_json(call)["destination"]) == accepted  # each once
    return details(published, "WhatsApp Message Failed"), accepted


def test_a_broadcast_call_refused_for_one_recipient_reaches_every_other_one(sender, provider):
    """The provider may refuse a whole call for one bad recipient without saying whose: the call is split until that
    recipient alone is refused, and every other recipient gets its message, once."""
    numbers = recipients(7)
    bad = numbers[4]

    failed, accepted = broadcast_refused_whole_when(
        sender, provider, numbers, lambda to: (400, "(#131026) Message undeliverable") if bad in to else None
    )

    assert accepted == sorted(set(numbers) - {bad})
    [failure] = failed
    assert (failure["destination"], failure["error"]["code"], failure["reference"]) == (bad, "131026", "spring")


@pytest.mark.parametrize("chunk_size", [None, 2], ids=["one-call", "chunked"])
def test_a_repeated_broadcast_whose_call_was_split_tells_every_recipient_s_outcome_again(sender, provider, chunk_size):
    """Its halves did the sending (of the whole call, or of one chunk): a repeat puts them again, each a repeat of its
    own that tells its outcome, nothing is sent again, and every event names the caller's key, not the parts'."""
    if chunk_size:
        sender.configure(BROADCAST_CHUNK_SIZE=str(chunk_size))
    numbers = recipients(5)
    bad = numbers[3]

    def answer(request: Any) -> tuple[int, dict, str]:
        if bad in json.loads(request.body)["destination"]:
            return 400, {}, json.dumps({"error": "(#131026) Message undeliverable", "message": "x", "statusCode": 400})
        return broadcast_answer(request)

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=answer)
    template = {"name": "spring_sale", "language": {"code": "en"}}
    command = {"destination": numbers, "type": "template", "template": template, "idempotency_key": "spring-1"}
    sender.put(command)
    sender.run_until_empty()
    first = sender.published()
    calls = len(provider.calls)

    sender.put(command)
    sender.run_until_empty()

    again = sender.published()
    assert len(provider.calls) == calls
    assert all(event["detail"]["repeat"] for event in again)
    accepted = sorted(event["destination"] for event in details(again, "WhatsApp Message Accepted"))
    assert accepted == sorted(set(numbers) - {bad})
    assert [event["destination"] for event in details(again, "WhatsApp Message Failed")] == [bad]
    assert {event["detail"]["idempotency_key"] for event in first + again} == {"spring-1"}


def test_a_broadcast_call_throttled_as_a_whole_is_split_until_its_calls_pass(sender, provider):
    """A provider whose rate takes fewer recipients a call than a chunk holds throttles the whole call every time:
    retried whole it would never pass. It is split on the bulk lane until each call is small enough, each recipient
    sent once."""
    numbers = recipients(7)

    failed, accepted = broadcast_refused_whole_when(
        sender, provider, numbers, lambda to: (429, "(#130429) Rate limit hit") if len(to) > 2 else None
    )

    assert accepted == sorted(numbers)
    assert failed == []


def test_a_broadcast_within_one_chunk_is_one_call_with_a_record_and_an_event_per_recipient(sender, provider):
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    numbers = recipients(12)
    sender.put(
        {
            "destination": [*numbers, numbers[0][1:]],
            "type": "template",
            "reference": "promo-1",
            "template": {"name": "spring_sale", "language": {"code": "en"}},
        }
    )

    assert sender.run() == {"batchItemFailures": []}

    [call] = provider.calls
    assert request_json(call) == {
        "destination": numbers,
        "type": "template",
        "source": BUSINESS,
        "reference": "promo-1",
        "template": {"name": "spring_sale", "language": {"code": "en"}},
    }
    for number in numbers:
        record = sender.record(f"id{number[1:]}")
        assert (record["destination"], record["status"], record["reference"], record["outbox"]) == (
            number,
            "accepted",
            "promo-1",
            {},
        )
    accepted_events = details(sender.published(), "WhatsApp Message Accepted")
    assert sorted(event["destination"] for event in accepted_events) == numbers
    assert {event["reference"] for event in accepted_events} == {"promo-1"}


def test_a_large_broadcast_is_split_into_chunks_that_each_send_once(sender, provider):
    sender.configure(BROADCAST_CHUNK_SIZE="2")
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    numbers = recipients(5)
    parent = {
        "destination": numbers,
        "type": "template",
        "reference": "promo-2",
        "idempotency_key": "launch-2",
        "template": {"name": "spring_sale", "language": {"code": "en"}},
    }
    sender.put(parent)

    chunks = [message["command"] for message in sender.lane_messages("bulk")]
    assert len(provider.calls) == 0
    assert sorted((chunk["part"], chunk["destination"]) for chunk in chunks) == [
        ("#chunk-1-of-3", numbers[0:2]),
        ("#chunk-2-of-3", numbers[2:4]),
        ("#chunk-3-of-3", numbers[4:5]),
    ]
    assert {chunk["idempotency_key"] for chunk in chunks} == {"launch-2"}  # the caller's, in every chunk's events
    assert all(chunk["command"] == "broadcast" and chunk["reference"] == "promo-2" for chunk in chunks)
    sender.run_until_empty()

    sender.put(parent)  # the same broadcast asked for again: the same chunks...
    sender.run_until_empty()

    assert sorted(tuple(request_json(call)["destination"]) for call in provider.calls) == [
        tuple(numbers[0:2]),
        tuple(numbers[2:4]),
        tuple(numbers[4:5]),
    ]  # ...and still every recipient got one copy, the second request told the outcome as a repeat
    accepted = details(sender.published(), "WhatsApp Message Accepted")
    assert sorted(event["destination"] for event in accepted if not event.get("repeat")) == numbers
    assert sorted(event["destination"] for event in accepted if event.get("repeat")) == numbers
    assert {event["idempotency_key"] for event in accepted} == {"launch-2"}


def test_a_number_has_one_rate_budget_however_commands_spell_it(sender, provider, aws):
    provider.add_callback(
        responses.POST,
        f"{BASE_URL}/messages",
        callback=lambda request: (202, {}, json.dumps([{"id": str(uuid.uuid4()), "status": "accepted"}])),
    )
    sender.put(
        *(
            text_command(destination=f"+6421000001{n}", source=("+" if n % 2 else "") + BUSINESS, reference=f"u{n}")
            for n in range(4)
        )
    )

    sender.run_until_empty()

    assert len(provider.calls) == 4
    assert [item["pk"] for item in aws.items() if item["pk"].startswith("RATE#")] == [f"RATE#{BUSINESS}"]


def test_a_broadcast_is_chunked_no_larger_than_its_numbers_rate_allows_at_once(sender, provider):
    sender.configure(BROADCAST_CHUNK_SIZE="100", NUMBER_RATE_PER_SECOND="20")
    sender.put(
        {
            "destination": recipients(25),
            "type": "template",
            "template": {"name": "spring_sale", "language": {"code": "en"}},
        }
    )

    sizes = sorted(len(message["command"]["destination"]) for message in sender.lane_messages("bulk"))

    assert sizes == [7, 9, 9]  # 20 a second, a burst of 0.4 s: 9 at once


def test_a_failed_chunk_retries_alone(sender, provider):
    sender.configure(BROADCAST_CHUNK_SIZE="2")
    failed_once: list[str] = []

    def flaky(request: Any) -> tuple[int, dict, str]:
        if "+64210000003" in json.loads(request.body)["destination"] and not failed_once:
            failed_once.append("second chunk")
            return 500, {}, "oops"
        return broadcast_answer(request)

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=flaky)
    numbers = recipients(4)
    sender.put(
        {
            "destination": numbers,
            "type": "template",
            "reference": "promo-3",
            "template": {"name": "spring_sale", "language": {"code": "en"}},
        }
    )

    result = sender.run()  # both chunks, side by side

    assert len(failures(result)) == 1
    sender.time_passes()
    assert sender.run() == {"batchItemFailures": []}
    sent = [tuple(request_json(call)["destination"]) for call in provider.calls]
    assert sent.count(tuple(numbers[0:2])) == 1 and sent.count(tuple(numbers[2:4])) == 2
    assert sorted(event["destination"] for event in details(sender.published(), "WhatsApp Message Accepted")) == numbers


def test_a_broadcast_recipient_whose_dlr_came_first_is_merged(sender, provider):
    numbers = recipients(3)
    deliver_dlr(f"id{numbers[1][1:]}", "received")
    sender.published()
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    sender.put({"destination": numbers, "type": "text", "text": {"body": "Doors open at 9"}, "reference": "event-1"})

    assert sender.run() == {"batchItemFailures": []}

    merged = sender.record(f"id{numbers[1][1:]}")
    assert merged["status"] == "received"
    assert [entry["status"] for entry in merged["status_history"]] == ["accepted", "received"]
    assert (merged["destination"], merged["reference"], merged["content"]["text"]["body"]) == (
        numbers[1],
        "event-1",
        "Doors open at 9",
    )
    assert sorted(event["destination"] for event in details(sender.published(), "WhatsApp Message Accepted")) == numbers


def test_enforce_leaves_out_broadcast_recipients_outside_the_window(sender, provider):
    sender.configure(WINDOW_POLICY="enforce")
    inbound_at(60)
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    sender.put({"destination": [CUSTOMER, "+64219999999"], "type": "text", "text": {"body": "hi"}, "reference": "b-1"})

    sender.run()

    assert request_json(provider.calls[0])["destination"] == [CUSTOMER]
    events = sender.published()
    assert [detail["destination"] for detail in details(events, "WhatsApp Message Accepted")] == [CUSTOMER]
    [failed] = details(events, "WhatsApp Message Failed")
    assert (failed["destination"], failed["error"]["code"], failed["command"]) == (
        "+64219999999",
        "outside_24h_window",
        "broadcast",
    )


# --- media ---------------------------------------------------------------------------------------------------------


def put_object(key: str, data: bytes, content_type: str | None = None) -> None:
    if not s3().list_buckets()["Buckets"]:
        create_bucket()
    extra = {"ContentType": content_type} if content_type else {}
    s3().put_object(Bucket=BUCKET, Key=key, Body=data, **extra)


def multipart_parts(call: Any) -> tuple[str, bytes]:
    body = b"".join(call.request.body) if not isinstance(call.request.body, bytes) else call.request.body
    return call.request.headers["Content-Type"], body


@pytest.mark.parametrize("stored_type", [None, "IMAGE/PNG; name=banner"], ids=["by-name", "as-stored"])
def test_media_is_streamed_from_s3_to_the_provider_and_announced(sender, provider, stored_type):
    """Its type as WhatsApp lists it: the object's own, lower case without parameters, or else its name's."""
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    put_object("campaigns/2026/banner.png", image, stored_type)
    seen: dict[str, Any] = {}

    def upload(request: Any) -> tuple[int, dict, str]:
        seen["content_type"] = request.headers["Content-Type"]
        seen["length"] = request.headers["Content-Length"]
        seen["body"] = b"".join(request.body)
        return 200, {}, json.dumps([{"id": "media-123"}])

    provider.add_callback(responses.POST, f"{BASE_URL}/media", callback=upload)
    sender.put({"bucket": BUCKET, "key": "campaigns/2026/banner.png", "reference": "banner"})

    assert sender.run() == {"batchItemFailures": []}

    [call] = provider.calls
    assert call.request.url == f"{BASE_URL}/media?source={BUSINESS}"
    boundary = seen["content_type"].split("boundary=")[1]
    assert seen["body"] == (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="banner.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    assert int(seen["length"]) == len(seen["body"])
    [event] = sender.published()
    assert (event["detail-type"], event["detail"]) == (
        "WhatsApp Media Uploaded",
        {
            "media_id": "media-123",
            "source": BUSINESS,
            "bucket": BUCKET,
            "key": "campaigns/2026/banner.png",
            "reference": "banner",
        },
    )


def test_media_the_provider_refuses_is_reported_with_its_errors(sender, provider):
    put_object("docs/contract.pdf", b"%PDF-1.7 tiny", "application/pdf")
    provider.add(
        responses.POST,
        f"{BASE_URL}/media",
        status=422,
        json={"errors": [{"field": "file", "code": "invalid_media", "description": "Unprocessable Entity"}]},
    )
    sender.put(
        {
            "detail-type": "WhatsApp Media Upload Requested",
            "source": "crm",
            "detail": {"bucket": BUCKET, "key": "docs/contract.pdf"},
        }
    )

    assert sender.run() == {"batchItemFailures": []}

    [event] = sender.published()
    assert (event["detail-type"], event["detail"]) == (
        "WhatsApp Message Failed",
        {
            "command": "media_upload",
            "bucket": BUCKET,
            "key": "docs/contract.pdf",
            "error": {"code": "invalid_media", "message": "file: Unprocessable Entity"},
        },
    )


def test_media_over_whatsapps_limit_or_missing_is_refused_before_uploading(sender, provider):
    put_object("stickers/big.webp", b"\0" * (500 * 1024 + 1))
    sender.put({"bucket": BUCKET, "key": "stickers/big.webp"}, {"bucket": BUCKET, "key": "nowhere.png"})

    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 0
    errors = sorted(
        (detail["key"], detail["error"]["code"]) for detail in details(sender.published(), "WhatsApp Message Failed")
    )
    assert errors == [("nowhere.png", "media_not_found"), ("stickers/big.webp", "media_too_large")]


def test_media_whatsapp_would_not_take_is_refused_before_uploading(sender, provider):
    put_object("empty.pdf", b"", "application/pdf")
    put_object("setup.exe", b"MZ", "application/x-msdownload")
    put_object("invoice.pdf", b"%PDF-1.7", "application/pdf")
    sender.put(
        {"bucket": BUCKET, "key": "empty.pdf"},
        {"bucket": BUCKET, "key": "setup.exe"},
        {"bucket": BUCKET, "key": "invoice.pdf", "kind": "image"},  # a PDF is no image, whatever the command says
    )

    assert sender.run() == {"batchItemFailures": []}

    assert len(provider.calls) == 0
    errors = {
        detail["key"]: (detail["error"]["code"], detail["error"]["message"])
        for detail in details(sender.published(), "WhatsApp Message Failed")
    }
    assert errors["empty.pdf"] == ("media_empty", "the object is empty")
    assert errors["setup.exe"][0] == "media_unsupported_type"
    assert errors["invoice.pdf"] == (
        "media_unsupported_type",
        "WhatsApp takes an image as image/jpeg, image/png; the object is application/pdf",
    )


def test_media_from_a_bucket_the_gateway_does_not_upload_from_is_refused_without_reading_it(sender, provider):
    create_bucket("someone-elses-bucket")
    s3().put_object(Bucket="someone-elses-bucket", Key="payroll.pdf", Body=b"%PDF")
    reads: list[str] = []
    s3().meta.events.register("before-call.s3.*", lambda model, **_: reads.append(model.name))
    sender.put({"bucket": "someone-elses-bucket", "key": "payroll.pdf", "reference": "doc-1"})

    assert sender.run() == {"batchItemFailures": []}

    assert reads == [] and len(provider.calls) == 0 and sender.visibility_changes == []
    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert (failed["error"]["code"], failed["bucket"], failed["key"]) == (
        "media_forbidden",
        "someone-elses-bucket",
        "payroll.pdf",
    )


# --- the sample events for `sam local invoke` ----------------------------------------------------------------------


def test_the_sample_events_are_commands_the_sender_carries_out(sender, provider):
    from tests.helpers import ROOT

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": "sample-1", "status": "accepted"}])
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": "sample-2", "status": "accepted"}])
    provider.add(responses.POST, f"{BASE_URL}/media", status=200, json=[{"id": "media-sample"}])
    create_bucket("whatsapp-gateway-mediabucket-example")
    s3().put_object(Bucket="whatsapp-gateway-mediabucket-example", Key="campaigns/spring-sale/banner.png", Body=b"png")

    for name in ("send", "broadcast", "media-upload"):
        requests = json.loads((ROOT / "events" / f"intake-{name}-event.json").read_text())
        assert sender.intake.lambda_handler(requests, LambdaContext()) == {"batchItemFailures": []}, name
        lane_messages = json.loads((ROOT / "events" / f"sender-{name}-event.json").read_text())
        assert sender.module.lambda_handler(lane_messages, LambdaContext()) == {"batchItemFailures": []}, name
    # The intake put on the lanes what the sender's samples hold.
    routed = sorted(message["delivery_id"] for lane in ("priority", "bulk") for message in sender.lane_messages(lane))
    samples = sorted(
        json.loads(record["body"])["delivery_id"]
        for name in ("send", "broadcast", "media-upload")
        for record in json.loads((ROOT / "events" / f"sender-{name}-event.json").read_text())["Records"]
    )
    assert routed == samples

    assert [call.request.url.removeprefix(BASE_URL) for call in provider.calls] == [
        "/messages",
        "/messages",
        "/messages/broadcast",
        f"/media?source={BUSINESS}",
    ]
    published = [event["detail-type"] for event in sender.published()]
    assert published.count("WhatsApp Message Accepted") == 5 and published.count("WhatsApp Media Uploaded") == 1


def test_a_batch_whose_rate_units_cannot_be_taken_at_once_still_sends_each_message(sender, provider, monkeypatch):
    provider.add_callback(
        responses.POST,
        f"{BASE_URL}/messages",
        callback=lambda request: (202, {}, json.dumps([{"id": str(uuid.uuid4()), "status": "accepted"}])),
    )

    def fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the budget's table is unreachable")

    monkeypatch.setattr(sender.module.sender().budget, "prefetch", fails)
    sender.put(
        *(text_command(destination=f"+6421000002{n}", reference=f"v{n}", text={"body": f"m{n}"}) for n in range(3))
    )

    assert sender.run() == {"batchItemFailures": []}

    assert len(details(sender.published(), "WhatsApp Message Accepted")) == 3
