"""Contact erasure against moto: `WhatsApp Contact Erasure Requested` on the bus (or bare on the send queue) removes
every record of the contact, leaves everyone else's alone and publishes `WhatsApp Contact Erased` without the number.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from wab import aws as wab_aws

from tests.helpers import ROOT, LambdaContext, answer_json, basic, http_event, load_handler
from tests.integration.conftest import Harness, template_resources
from tests.integration.test_sender import BASE_URL, details

CUSTOMER = "+64211234567"
OTHER = "+64219876543"
BUSINESS = "1234567890"
CUSTOMER_HASH = hashlib.sha256(CUSTOMER.encode()).hexdigest()
ERASED_AT = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
ERASED = "WhatsApp Contact Erased"


def deliver_mo(message_id: str, source: str, **changes: Any) -> None:
    """A customer's message through the callbacks function: its record and the contact's window item. `changes`: an
    edit or deletion (`type` and its object) instead of a text."""
    callbacks = load_handler("callbacks")
    callbacks.dependencies.cache_clear()
    content = {
        "from": source,
        "id": f"wamid.{message_id}",
        "timestamp": "1795600000",
        "type": "text",
        "text": {"body": "hi"},
    }
    if changes:
        content = {**{key: value for key, value in content.items() if key != "text"}, **changes}
    event = http_event(
        "POST",
        "/callbacks/mo",
        headers={"authorization": basic()},
        body={"id": message_id, "source": source, "destination": BUSINESS, "content": content},
    )
    assert callbacks.lambda_handler(event, LambdaContext())["statusCode"] == 200


def deliver_dlr(message_id: str, status: str) -> None:
    callbacks = load_handler("callbacks")
    event = http_event(
        "POST", "/callbacks/dlr", headers={"authorization": basic()}, body={"id": message_id, "status": status}
    )
    assert callbacks.lambda_handler(event, LambdaContext())["statusCode"] == 200


def send_text(sender: Harness, provider: Any, message_id: str, destination: str) -> None:
    """A free-form send the provider accepts: the MT record (and the sender's idempotency record of the send)."""
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": message_id, "status": "accepted"}])
    sender.put(
        {
            "destination": destination,
            "type": "text",
            "text": {"body": "Your order has shipped"},
            "reference": message_id,
        }
    )
    assert sender.run() == {"batchItemFailures": []}


def route_erasures_to_the_queue(sender: Harness) -> None:
    """The template's rule for erasure requests, as deployed: from any source but the gateway, to the send queue."""
    rule = template_resources()["ContactErasureRequestedRule"]["Properties"]
    events = wab_aws.client("events")
    events.put_rule(
        Name="ContactErasureRequestedRule",
        EventBusName=sender.aws.bus_name,
        EventPattern=json.dumps(rule["EventPattern"]),
    )
    events.put_targets(
        Rule="ContactErasureRequestedRule",
        EventBusName=sender.aws.bus_name,
        Targets=[{"Id": "SendQueue", "Arn": sender.queue_arn, "SqsParameters": rule["Targets"][0]["SqsParameters"]}],
    )


def request_erasure(sender: Harness, detail: dict[str, Any], source: str = "crm.privacy") -> None:
    answer = wab_aws.client("events").put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": "WhatsApp Contact Erasure Requested",
                "Detail": json.dumps(detail),
                "EventBusName": sender.aws.bus_name,
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def erase(sender: Harness, monkeypatch: pytest.MonkeyPatch, at: datetime = ERASED_AT) -> list[dict[str, Any]]:
    """Run the sender on what is queued, at a known time; the events it published."""
    from wab import clock

    with monkeypatch.context() as frozen:
        frozen.setattr(clock, "now", lambda: at)
        assert all(answer == {"batchItemFailures": []} for answer in sender.route())
        if sender.visible():
            assert sender.run() == {"batchItemFailures": []}
    return sender.published()


def of_contact(items: list[dict[str, Any]], number: str) -> list[str]:
    return sorted(
        item["pk"] for item in items if item.get("contact_key") == number or item["pk"] == f"CONTACT#{number}"
    )


def records(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The gateway's own items, without the sender's idempotency records."""
    return [item for item in items if not item["pk"].startswith("IDEMPOTENCY#")]


def tombstones(items: list[dict[str, Any]]) -> list[str]:
    """The keys of erased messages' items, each holding nothing but when it was erased and when it goes."""
    erased = [item for item in items if "erased_at" in item]
    assert all(set(item) == {"pk", "erased_at", "expires_at"} for item in erased)
    return sorted(item["pk"] for item in erased)


def kept(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The gateway's own items that are not tombstones."""
    return [item for item in records(items) if "erased_at" not in item]


def mentioning(items: list[dict[str, Any]], digits: str) -> list[str]:
    return sorted(item["pk"] for item in items if digits in json.dumps(item, default=str))


@pytest.fixture
def stored(sender, provider) -> dict[str, list[str]]:
    """Two contacts with MOs, an MT each (one delivered) and their window items; what is stored of each."""
    deliver_mo("mo-customer-1", CUSTOMER)
    deliver_mo("mo-customer-2", CUSTOMER[1:])  # the provider may drop the "+": still the same contact
    deliver_mo("mo-other-1", OTHER)
    send_text(sender, provider, "mt-customer-1", CUSTOMER)
    send_text(sender, provider, "mt-other-1", OTHER)
    deliver_dlr("mt-customer-1", "received")
    sender.published()
    items = sender.items()
    contents = {number: of_contact(items, number) for number in (CUSTOMER, OTHER)}
    assert contents[CUSTOMER] == [f"CONTACT#{CUSTOMER}", "MSG#mo-customer-1", "MSG#mo-customer-2", "MSG#mt-customer-1"]
    assert contents[OTHER] == [f"CONTACT#{OTHER}", "MSG#mo-other-1", "MSG#mt-other-1"]
    return contents


def test_an_erasure_request_removes_every_record_of_the_contact_and_is_audited(sender, monkeypatch, stored):
    others_before = [item for item in sender.items() if item["pk"] in stored[OTHER]]
    route_erasures_to_the_queue(sender)

    request_erasure(sender, {"contact": CUSTOMER[1:], "reference": "gdpr-17"})
    published = erase(sender, monkeypatch)

    items = sender.items()
    assert of_contact(items, CUSTOMER) == []
    assert [item for item in items if item["pk"] in stored[OTHER]] == others_before
    [event] = published
    assert (event["source"], event["detail-type"]) == ("wab.gateway", ERASED)
    assert event["detail"] == {
        "contact_hash": CUSTOMER_HASH,
        "records_erased": 4,  # two MOs, the MT and the window item
        "reference": "gdpr-17",
        "requested_by": "crm.privacy",
        "erased_at": "2026-11-25T10:30:00.000000Z",
    }
    assert CUSTOMER[1:] not in json.dumps(event)
    # What still names the number is what docs/erasure.md says is not erased at once: the sender's idempotency record of
    # the send to it (its stored outcome holds the destination), until IDEMPOTENCY_DAYS pass.
    [left] = mentioning(items, CUSTOMER[1:])
    assert left.startswith("IDEMPOTENCY#sender#") and '"destination": "+64211234567"' in sender.item(left)["data"]
    assert sender.visible() == sender.in_flight() == 0


def test_the_whatsapp_id_pointers_of_the_contact_s_messages_and_changes_go_too(sender, monkeypatch, stored):
    callbacks = load_handler("callbacks")
    edit = {
        "from": CUSTOMER[1:],
        "id": "wamid.edit-1",
        "timestamp": "1795600100",
        "type": "edit",
        "edit": {"original_message_id": "wamid.not-yet-received", "message": {"type": "text", "text": {"body": "x"}}},
    }
    event = http_event(
        "POST",
        "/callbacks/mo",
        headers={"authorization": basic()},
        body={"id": "edit-customer-1", "source": CUSTOMER, "destination": BUSINESS, "content": edit},
    )
    assert callbacks.lambda_handler(event, LambdaContext())["statusCode"] == 200
    sender.published()
    pointers = sorted(item["pk"] for item in sender.items() if item["pk"].startswith("WAMID#"))
    assert pointers == [
        "WAMID#wamid.edit-1",  # the edit's own, which finds it sent again under another callback id
        "WAMID#wamid.mo-customer-1",
        "WAMID#wamid.mo-customer-2",
        "WAMID#wamid.mo-other-1",
        "WAMID#wamid.not-yet-received",  # the edit, kept for a message that has not arrived
    ]
    route_erasures_to_the_queue(sender)

    request_erasure(sender, {"contact": CUSTOMER})
    [erased] = erase(sender, monkeypatch)

    items = sender.items()
    assert sorted(item["pk"] for item in kept(items) if item["pk"].startswith("WAMID#")) == ["WAMID#wamid.mo-other-1"]
    assert [key for key in tombstones(items) if key.startswith("WAMID#")] == [  # the change kept alone is gone
        "WAMID#wamid.edit-1",
        "WAMID#wamid.mo-customer-1",
        "WAMID#wamid.mo-customer-2",
    ]
    assert erased["detail"]["records_erased"] == 5  # two MOs, the edit, the MT and the window item


def test_a_change_the_contact_named_on_another_contact_s_message_does_not_take_that_message_s_pointer(
    sender, monkeypatch, stored
):
    """A contact cannot change someone else's message, but may name one that has not arrived yet: erasing that
    contact must leave the other contact's pointer, so that their own deletion still finds their message."""
    target = {"original_message_id": "wamid.mo-other-2"}
    edit = {"message": {"type": "text", "text": {"body": "x"}}}
    deliver_mo("edit-customer-2", CUSTOMER, type="edit", edit={**target, **edit})
    deliver_mo("mo-other-2", OTHER)
    route_erasures_to_the_queue(sender)
    request_erasure(sender, {"contact": CUSTOMER})
    erase(sender, monkeypatch)
    assert sender.item("WAMID#wamid.mo-other-2")["record_id"] == "mo-other-2"

    deliver_mo("revoke-other-2", OTHER, type="revoke", revoke=target)

    record = sender.record("mo-other-2")
    assert record["deleted_at"] and "content" not in record and "text" not in record


def test_a_second_request_erases_nothing_more(sender, monkeypatch, stored):
    route_erasures_to_the_queue(sender)
    request_erasure(sender, {"contact": CUSTOMER, "reference": "gdpr-17"})
    [first] = erase(sender, monkeypatch)
    remaining = records(sender.items())

    request_erasure(sender, {"contact": CUSTOMER, "reference": "gdpr-18"}, source="support.desk")  # a new request
    [second] = erase(sender, monkeypatch, at=datetime(2026, 11, 26, 8, 0, tzinfo=UTC))

    assert records(sender.items()) == remaining
    assert first["detail"]["records_erased"] == 4
    assert second["detail"] == {
        "contact_hash": CUSTOMER_HASH,
        "records_erased": 0,
        "reference": "gdpr-18",
        "requested_by": "support.desk",
        "erased_at": "2026-11-26T08:00:00.000000Z",
    }


def test_the_same_request_delivered_again_is_recognised_and_reports_the_same_erasure(sender, monkeypatch, stored):
    envelope = {
        "version": "0",
        "id": "erasure-event-1",
        "detail-type": "WhatsApp Contact Erasure Requested",
        "source": "crm.privacy",
        "account": "123456789012",
        "time": "2026-11-25T10:29:59Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {"contact": CUSTOMER},
    }
    sender.put(envelope)
    [first] = erase(sender, monkeypatch)
    deliver_mo("mo-customer-3", CUSTOMER)  # the customer writes again after the erasure
    sender.published()

    sender.put(envelope)  # the same bus event a second time (EventBridge and SQS deliver at least once)
    [again] = erase(sender, monkeypatch, at=datetime(2026, 11, 25, 11, 0, tzinfo=UTC))

    assert (
        again["detail"]
        == first["detail"]
        == {
            "contact_hash": CUSTOMER_HASH,
            "records_erased": 4,
            "requested_by": "crm.privacy",
            "erased_at": "2026-11-25T10:30:00.000000Z",
        }
    )
    assert of_contact(sender.items(), CUSTOMER) == [f"CONTACT#{CUSTOMER}", "MSG#mo-customer-3"]  # not a new request

    sender.put({**envelope, "id": "erasure-event-2"})  # the same words in a new request: erased again
    [new] = erase(sender, monkeypatch)
    assert new["detail"]["records_erased"] == 2
    assert of_contact(sender.items(), CUSTOMER) == []


def test_a_bare_erasure_on_the_queue_is_requested_by_the_queue(sender, monkeypatch, stored):
    sender.put({"command": "erase_contact", "contact": CUSTOMER, "reference": "gdpr-19"})

    [event] = erase(sender, monkeypatch)

    assert (event["detail"]["requested_by"], event["detail"]["records_erased"]) == ("queue", 4)
    assert of_contact(sender.items(), CUSTOMER) == []


def test_an_invalid_erasure_is_reported_without_the_number(sender, monkeypatch):
    sender.put({"command": "erase_contact", "contact": "+64 21 123 4567", "reference": "gdpr-20"})

    [event] = erase(sender, monkeypatch)

    assert (event["detail-type"], event["detail"]) == (
        "WhatsApp Message Failed",
        {
            "reference": "gdpr-20",
            "command": "erase_contact",
            "error": {
                "code": "invalid_command",
                "message": "contact: must be a phone number: digits, with or without a leading +",
            },
        },
    )


def test_many_records_are_found_page_by_page_and_deleted_in_batches_retrying_unprocessed(sender, monkeypatch):
    from botocore.awsrequest import AWSResponse
    from wab.models.records import MessageRecord
    from wab.store import MessageStore

    stamp = "2026-11-25T10:00:00.000000Z"
    MessageStore("messages").put_new(
        [
            MessageRecord(
                id=f"mt-{n:03d}",
                direction="MT",
                destination=CUSTOMER,
                contact=CUSTOMER,
                created_at=stamp,
                updated_at=stamp,
                expires_at=2**31,
            )
            for n in range(60)
        ]
    )
    dynamodb = wab_aws.client("dynamodb")
    queries: list[Any] = []
    writes: list[dict[str, Any]] = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["Limit"] = 7
        queries.append(params.get("ExclusiveStartKey"))

    def write_requested(params: dict[str, Any], **_: Any) -> None:
        writes.append(params["RequestItems"])

    def throttled_once(**_: Any) -> Any:
        if len(writes) == 1:  # DynamoDB took nothing of the first call: all of it comes back unprocessed
            return AWSResponse("https://dynamodb.test", 200, {}, None), {"UnprocessedItems": writes[0]}
        return None

    hooks = [
        ("provide-client-params.dynamodb.Query", small_pages),
        ("provide-client-params.dynamodb.BatchWriteItem", write_requested),
        ("before-call.dynamodb.BatchWriteItem", throttled_once),
    ]
    for event_name, hook in hooks:
        dynamodb.meta.events.register(event_name, hook)
    try:
        sender.put({"command": "erase_contact", "contact": CUSTOMER})
        [event] = erase(sender, monkeypatch)
    finally:
        for event_name, hook in hooks:
            dynamodb.meta.events.unregister(event_name, hook)

    assert event["detail"]["records_erased"] == 60
    assert len(queries) == 9  # 60 ids, 7 a page
    assert [len(batch["messages"]) for batch in writes] == [25, 25, 25, 10]  # 25 a call; the first one twice
    assert writes[1] == writes[0]
    assert of_contact(sender.items(), CUSTOMER) == []


def test_the_sample_event_is_an_erasure_the_sender_carries_out(sender, monkeypatch):
    event = json.loads((ROOT / "events" / "sender-erase-contact-event.json").read_text())

    assert sender.module.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}

    [erased] = details(sender.published(), ERASED)
    assert (erased["contact_hash"], erased["records_erased"], erased["requested_by"]) == (
        CUSTOMER_HASH,
        0,
        "crm.privacy",
    )


def test_the_whatsapp_ids_of_many_records_are_read_a_hundred_at_a_time_retrying_unread_keys(sender, monkeypatch):
    """The index holds keys only: the WhatsApp ids whose pointers go with the records are read from the records."""
    from botocore.awsrequest import AWSResponse
    from wab import store as store_module
    from wab.models.records import MessageRecord, WhatsAppPointer
    from wab.store import MessageStore

    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)
    store = MessageStore("messages")
    stamp = "2026-11-25T10:00:00.000000Z"
    store.put_new(
        [
            MessageRecord(
                id=f"mo-{n:03d}",
                direction="MO",
                source=CUSTOMER,
                contact=CUSTOMER,
                whatsapp_message_id=f"wamid.{n:03d}",
                created_at=stamp,
                updated_at=stamp,
                expires_at=2**31,
            )
            for n in range(130)
        ]
    )
    for n in range(130):
        store.save_pointer(WhatsAppPointer(whatsapp_message_id=f"wamid.{n:03d}", record_id=f"mo-{n:03d}"), None)
    dynamodb = wab_aws.client("dynamodb")
    reads: list[dict[str, Any]] = []

    def read_requested(params: dict[str, Any], **_: Any) -> None:
        reads.append(params["RequestItems"])

    def unread_once(**_: Any) -> Any:
        if len(reads) == 1:  # DynamoDB read nothing of the first call
            return AWSResponse("https://dynamodb.test", 200, {}, None), {"Responses": {}, "UnprocessedKeys": reads[0]}
        return None

    hooks = [
        ("provide-client-params.dynamodb.BatchGetItem", read_requested),
        ("before-call.dynamodb.BatchGetItem", unread_once),
    ]
    for event_name, hook in hooks:
        dynamodb.meta.events.register(event_name, hook)
    try:
        sender.put({"command": "erase_contact", "contact": CUSTOMER})
        [event] = erase(sender, monkeypatch)
    finally:
        for event_name, hook in hooks:
            dynamodb.meta.events.unregister(event_name, hook)

    assert event["detail"]["records_erased"] == 130
    assert [len(read["messages"]["Keys"]) for read in reads] == [100, 100, 30]  # a hundred a call; the first twice
    assert reads[1] == reads[0]
    assert kept(sender.items()) == []
    assert len(tombstones(sender.items())) == 260  # the records and their pointers


def test_the_provider_retrying_an_erased_message_s_callbacks_stores_and_publishes_nothing(sender, monkeypatch, stored):
    """A provider retries a callback for days: a retry after the erasure must not bring the message back."""
    route_erasures_to_the_queue(sender)
    request_erasure(sender, {"contact": CUSTOMER})
    erase(sender, monkeypatch)

    deliver_mo("mo-customer-1", CUSTOMER)  # answered 200: the provider may stop retrying
    deliver_dlr("mt-customer-1", "read")
    deliver_dlr("mt-customer-1", "received")

    items = sender.items()
    assert sender.published() == []
    assert of_contact(items, CUSTOMER) == []  # no record, no window item
    assert all(key.startswith("IDEMPOTENCY#") for key in mentioning(items, CUSTOMER[1:]))  # docs/erasure.md
    assert {"MSG#mo-customer-1", "MSG#mo-customer-2", "MSG#mt-customer-1"} <= set(tombstones(items))
    erased_at = int(ERASED_AT.timestamp())
    assert sender.item("MSG#mo-customer-1") == {
        "pk": "MSG#mo-customer-1",
        "erased_at": erased_at,
        "expires_at": erased_at + 14 * 86400,  # as long as a callback for it can still come
    }


def test_an_erased_message_is_not_found_and_the_provider_is_not_asked(sender, monkeypatch, stored, provider):
    route_erasures_to_the_queue(sender)
    request_erasure(sender, {"contact": CUSTOMER})
    erase(sender, monkeypatch)
    messages = load_handler("messages")
    messages.store.cache_clear()
    messages.provider_for.cache_clear()

    event = http_event(
        "GET", "/messages/mo-customer-1", route="GET /messages/{id}", path_parameters={"id": "mo-customer-1"}
    )
    response = messages.lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 404
    assert answer_json(response) == {
        "error": "message_erased",
        "message": "message mo-customer-1 was erased with its contact",
    }
    assert [call.request.url for call in provider.calls if "/messages?" in call.request.url] == []


def test_a_change_to_an_erased_message_is_published_but_nothing_is_kept_for_it(sender, monkeypatch, stored):
    route_erasures_to_the_queue(sender)
    request_erasure(sender, {"contact": CUSTOMER})
    erase(sender, monkeypatch)

    deliver_mo("revoke-after-erasure", CUSTOMER, type="revoke", revoke={"original_message_id": "wamid.mo-customer-1"})

    [deleted] = sender.published()
    assert deleted["detail-type"] == "WhatsApp Message Deleted"
    assert "message_id" not in deleted["detail"]  # the message it names is gone
    assert deleted["detail"]["original_message_id"] == "wamid.mo-customer-1"
    assert "WAMID#wamid.mo-customer-1" in tombstones(sender.items())  # no change kept on it for ever


def test_a_contact_whose_number_is_not_e164_can_be_erased_too(sender, monkeypatch):
    """Callbacks store whatever number the provider names (a national or short number): each can be erased."""
    for number in ("0064211110006", "+12345"):
        deliver_mo(f"mo-{number}", number)
    sender.published()
    route_erasures_to_the_queue(sender)

    for number in ("0064211110006", "+12345"):
        request_erasure(sender, {"contact": number})
        [erased] = erase(sender, monkeypatch)
        assert erased["detail"]["records_erased"] == 2  # the record and the window item
        assert of_contact(sender.items(), f"+{number.lstrip('+')}") == []


def test_an_erased_message_sent_again_under_another_callback_id_stays_erased(sender, monkeypatch, stored):
    route_erasures_to_the_queue(sender)
    request_erasure(sender, {"contact": CUSTOMER})
    erase(sender, monkeypatch)
    deliver_mo("mo-customer-1-again", CUSTOMER, id="wamid.mo-customer-1", text={"body": "hi"})  # answered 200

    assert sender.published() == []
    items = sender.items()
    assert "MSG#mo-customer-1-again" in tombstones(items)  # nothing of it kept
    assert of_contact(items, CUSTOMER) == []


def test_events_still_on_the_stream_when_their_contact_is_erased_are_never_published(
    sender, provider, monkeypatch, stored
):
    from datetime import timedelta

    from wab import clock

    route_erasures_to_the_queue(sender)
    with sender.aws.stream.falling_behind():
        send_text(sender, provider, "mt-customer-2", CUSTOMER)
        deliver_dlr("mt-customer-2", "sent")
        send_text(sender, provider, "mt-other-2", OTHER)
        request_erasure(sender, {"contact": CUSTOMER[1:], "reference": "gdpr-18"})
        erased = erase(sender, monkeypatch)
    assert [event["detail-type"] for event in erased] == [ERASED]

    # The relay catches up an hour later, one write per batch: no batch holds the tombstone of the record it relays.
    sender.aws.stream.batch_size = 1
    with monkeypatch.context() as later:
        later.setattr(clock, "now", lambda: datetime.now(UTC) + timedelta(hours=1))
        published = sender.published()

    assert CUSTOMER[1:] not in json.dumps(published)
    assert [(event["detail-type"], event["detail"]["message_id"]) for event in published] == [
        ("WhatsApp Message Accepted", "mt-other-2")
    ]


def test_events_an_erased_record_left_seconds_before_its_erasure_are_dropped_with_its_tombstone(
    sender, provider, monkeypatch, stored
):
    route_erasures_to_the_queue(sender)
    with sender.aws.stream.falling_behind():  # the relay a few seconds behind: not long enough to ask the table
        send_text(sender, provider, "mt-customer-3", CUSTOMER)
        deliver_dlr("mt-customer-3", "sent")
        send_text(sender, provider, "mt-other-3", OTHER)
        request_erasure(sender, {"contact": CUSTOMER[1:], "reference": "gdpr-19"})
        erase(sender, monkeypatch)

    published = sender.published()  # the stream catches up: the tombstones come in the same batch

    assert CUSTOMER[1:] not in json.dumps(published)
    assert [(event["detail-type"], event["detail"]["message_id"]) for event in published] == [
        ("WhatsApp Message Accepted", "mt-other-3")
    ]
