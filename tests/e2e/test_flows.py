"""The gateway's flows end to end on the local stack, over HTTP and real AWS-API calls, with the provider simulator."""

import json
import time
import uuid
from typing import Any

import pytest
import requests

from local.client import Gateway
from local.stack import LocalStack
from tests.e2e.conftest import customer

pytestmark = pytest.mark.e2e

FINAL = {"received", "rejected", "expired"}
MO_TYPES = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "request_welcome",
    "unsupported",
]


def send_template(gateway: Gateway, destination: str) -> str:
    reference = f"e2e-{uuid.uuid4()}"
    gateway.request(
        "WhatsApp Send Requested",
        {
            "destination": destination,
            "type": "template",
            "reference": reference,
            "template": {"name": "order_shipped", "language": {"code": "en"}},
        },
        source="e2e.tests",
    )
    return reference


def collect(gateway: Gateway, done: Any, timeout: float = 15, grace: float = 0.5) -> list[dict[str, Any]]:
    """Events from the tap until `done(events)` holds, then a little longer to catch any duplicate."""
    events: list[dict[str, Any]] = []

    def record(event: dict[str, Any]) -> bool:
        events.append(event)
        return done(events)

    for _ in gateway.events(timeout=timeout, until=record):
        pass
    assert done(events), f"did not happen within {timeout} s; saw {[e['detail-type'] for e in events]}"
    events.extend(gateway.events(timeout=grace))
    return events


def status_changes(events: list[dict[str, Any]], message_id: str) -> list[tuple[str, str]]:
    return [
        (e["detail"]["previous_status"], e["detail"]["status"])
        for e in events
        if e["detail-type"] == "WhatsApp Message Status Changed" and e["detail"]["message_id"] == message_id
    ]


def accepted_id(events: list[dict[str, Any]], reference: str) -> str | None:
    return next(
        (
            e["detail"]["message_id"]
            for e in events
            if e["detail-type"] == "WhatsApp Message Accepted" and e["detail"].get("reference") == reference
        ),
        None,
    )


def delivered(reference: str):
    def check(events: list[dict[str, Any]]) -> bool:
        message_id = accepted_id(events, reference)
        return message_id is not None and any(status in FINAL for _, status in status_changes(events, message_id))

    return check


def wait_for_dlrs(gateway: Gateway, reference: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """Until the simulator has delivered `count` DLR callbacks for the message with this reference."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [message] = gateway.simulate(f"/_sim/messages?reference={reference}") or [None]
        if message and sum(1 for dlr in message["dlrs"] if dlr["http_status"] == 200) >= count:
            return message["dlrs"]
        time.sleep(0.1)
    pytest.fail(f"the simulator did not deliver {count} DLRs for {reference}")


def test_a_send_is_accepted_sent_and_received_and_readable(gateway: Gateway) -> None:
    destination = customer()
    reference = send_template(gateway, destination)

    events = collect(gateway, delivered(reference))

    message_id = accepted_id(events, reference)
    assert status_changes(events, message_id) == [("accepted", "sent"), ("sent", "received")]
    [sent] = gateway.simulate(f"/_sim/messages?reference={reference}")
    assert (sent["id"], sent["destination"], sent["type"]) == (message_id, destination, "template")
    status, record = gateway.get_message(message_id)
    assert status == 200
    assert (record["direction"], record["destination"], record["status"], record["reference"]) == (
        "MT",
        destination,
        "received",
        reference,
    )
    assert [entry["status"] for entry in record["status_history"]] == ["accepted", "sent", "received"]


def test_every_mo_type_reaches_the_bus(gateway: Gateway) -> None:
    sender = customer()
    sent = {}
    for kind in MO_TYPES:
        answer = gateway.simulate("/_sim/mo", {"type": kind, "from": sender, "text": f"a {kind}"})
        assert answer["callback_status"] == 200, (kind, answer)
        sent[answer["id"]] = kind
    for variant in ({"content_as_string": True}, {"encoding": "base64"}, {"destination_key": "Destination"}):
        answer = gateway.simulate("/_sim/mo", {"type": "text", "from": sender, "text": str(variant), **variant})
        assert answer["callback_status"] == 200, (variant, answer)
        sent[answer["id"]] = "text"

    events = collect(gateway, lambda events: sent.keys() <= {e["detail"].get("message_id") for e in events})

    received = {
        e["detail"]["message_id"]: e["detail"]["type"]
        for e in events
        if e["detail-type"] == "WhatsApp Message Received"
    }
    assert received == sent
    status, page = gateway.list_messages(contact=sender, limit="50")
    assert status == 200 and len(page["items"]) == len(sent)


def test_a_customer_edits_then_deletes_a_message_and_subscribers_see_each_once(
    gateway: Gateway, local_stack: LocalStack
) -> None:
    sender = customer()
    sent = gateway.simulate("/_sim/mo", {"type": "text", "from": sender, "text": "My address is 12 Queen St"})
    edit = gateway.simulate(
        "/_sim/mo", {"type": "edit", "from": sender, "original_id": sent["id"], "text": "14 Queen St"}
    )
    revoke = gateway.simulate("/_sim/mo", {"type": "revoke", "from": sender, "original_id": sent["id"]})
    assert [answer["callback_status"] for answer in (sent, edit, revoke)] == [200, 200, 200]

    kinds = ("WhatsApp Message Received", "WhatsApp Message Edited", "WhatsApp Message Deleted")
    wamid = sent["content"]["id"]

    def about_it(event: dict[str, Any]) -> bool:
        return event["detail"].get("message_id") == sent["id"] or event["detail"].get("original_message_id") == wamid

    events = collect(gateway, lambda events: {e["detail-type"] for e in events if about_it(e)} >= set(kinds), grace=1.0)

    mine = [e for e in events if about_it(e)]
    assert [e["detail-type"] for e in mine] == list(kinds)
    received, edited, deleted = (e["detail"] for e in mine)
    assert received["text"] == "My address is 12 Queen St"
    assert (edited["message_id"], edited["text"]) == (sent["id"], "14 Queen St")
    assert (deleted["message_id"], deleted["original_message_id"]) == (sent["id"], wamid)
    status, record = gateway.get_message(sent["id"])
    assert status == 200
    assert record["deleted_at"] == deleted["deleted_at"]
    assert not {"content", "text", "content_history"} & {key for key, value in record.items() if value}
    stored = local_stack.client("dynamodb").scan(TableName=local_stack.info["table_name"])["Items"]
    assert "Queen St" not in json.dumps(stored)


def test_duplicate_dlrs_change_nothing_and_publish_one_event_per_transition(gateway: Gateway) -> None:
    gateway.simulate("/_sim/faults", {"duplicate_dlr_rate": 1.0})
    reference = send_template(gateway, customer())

    events = collect(gateway, delivered(reference))
    wait_for_dlrs(gateway, reference, 4)
    events += list(gateway.events(timeout=1))

    message_id = accepted_id(events, reference)
    assert status_changes(events, message_id) == [("accepted", "sent"), ("sent", "received")]
    assert gateway.get_message(message_id)[1]["status"] == "received"


def test_out_of_order_dlrs_end_in_the_final_status_with_one_event(gateway: Gateway) -> None:
    gateway.simulate("/_sim/faults", {"out_of_order_dlr_rate": 1.0})
    reference = send_template(gateway, customer())

    events = collect(gateway, delivered(reference))
    wait_for_dlrs(gateway, reference, 2)
    events += list(gateway.events(timeout=1))

    message_id = accepted_id(events, reference)
    assert status_changes(events, message_id) == [("accepted", "received")]
    _, record = gateway.get_message(message_id)
    assert record["status"] == "received"
    assert sorted(entry["status"] for entry in record["status_history"]) == ["accepted", "received", "sent"]


def test_throttling_is_retried_and_delivered_once(gateway: Gateway) -> None:
    gateway.simulate("/_sim/faults", {"throttle_rate": 1.0})
    reference = send_template(gateway, customer())
    deadline = time.monotonic() + 10
    while gateway.simulate("/_sim/stats")["throttled"] == 0:  # the sender's first attempt meets 429 (#130429)
        assert time.monotonic() < deadline, "the sender never called the provider"
        time.sleep(0.05)
    assert gateway.simulate(f"/_sim/messages?reference={reference}") == []
    gateway.simulate("/_sim/faults", {"throttle_rate": 0.0})

    events = collect(gateway, delivered(reference), timeout=30)

    assert accepted_id(events, reference)
    assert len(gateway.simulate(f"/_sim/messages?reference={reference}")) == 1


def test_outside_the_window_a_free_form_send_fails_fast_and_a_reply_opens_it(gateway: Gateway) -> None:
    destination = customer()
    reference = f"e2e-{uuid.uuid4()}"
    command = {"destination": destination, "type": "text", "text": {"body": "hello"}, "reference": reference}
    gateway.request("WhatsApp Send Requested", command, source="e2e.tests")

    events = collect(
        gateway,
        lambda events: any(
            e["detail-type"] == "WhatsApp Message Failed" and e["detail"].get("reference") == reference for e in events
        ),
    )
    [failed] = [e for e in events if e["detail-type"] == "WhatsApp Message Failed"]
    assert failed["detail"]["error"]["code"] == "outside_24h_window"
    assert gateway.simulate(f"/_sim/messages?reference={reference}") == []

    gateway.simulate("/_sim/mo", {"type": "text", "from": destination, "text": "hi"})
    command["reference"] = reference + "-again"
    gateway.request("WhatsApp Send Requested", command, source="e2e.tests")
    assert accepted_id(collect(gateway, delivered(command["reference"])), command["reference"])


def test_outside_the_window_the_fallback_template_goes_and_the_reply_releases_the_message(gateway: Gateway) -> None:
    destination = customer()
    reference = f"e2e-{uuid.uuid4()}"
    command = {
        "destination": destination,
        "type": "text",
        "text": {"body": "Your parcel is at the depot"},
        "reference": reference,
        "fallback_template": {"name": "order_shipped", "language": {"code": "en"}},
    }
    gateway.request("WhatsApp Send Requested", command, source="e2e.tests")

    def of(kind: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e["detail"] for e in events if e["detail-type"] == kind and e["detail"].get("reference") == reference]

    events = collect(gateway, lambda events: bool(of("WhatsApp Message Parked", events)))
    [parked] = of("WhatsApp Message Parked", events)
    assert [message["type"] for message in gateway.simulate(f"/_sim/messages?reference={reference}")] == ["template"]

    gateway.simulate("/_sim/mo", {"type": "text", "from": destination, "text": "where is it?"})
    events = collect(
        gateway,
        lambda events: any(e["type"] == "text" for e in of("WhatsApp Message Accepted", events)),
    )
    [released] = of("WhatsApp Message Released", events)
    assert released["park_id"] == parked["park_id"]
    sent = gateway.simulate(f"/_sim/messages?reference={reference}")
    assert [message["type"] for message in sent] == ["template", "text"]


def test_unauthenticated_callbacks_are_refused_and_nothing_is_stored(gateway: Gateway, local_stack: LocalStack) -> None:
    message_id = str(uuid.uuid4())
    body = {
        "id": message_id,
        "source": "+64211234567",
        "destination": "1234567890",
        "content": {"type": "text", "text": {"body": "forged"}},
    }
    for auth in (None, (local_stack.info["callback_username"], "wrong")):
        answer = requests.post(local_stack.info["api_url"] + "/callbacks/mo", json=body, auth=auth, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert gateway.get_message(message_id)[0] == 404
    assert list(gateway.events(timeout=0.5)) == []


def test_an_erasure_request_on_the_bus_removes_the_contact_s_records_and_is_audited(gateway: Gateway) -> None:
    import hashlib

    destination = customer()
    gateway.simulate("/_sim/mo", {"type": "text", "from": destination, "text": "please forget me"})
    sent = send_template(gateway, destination)
    collect(gateway, delivered(sent))
    assert len(gateway.list_messages(contact=destination)[1]["items"]) == 2

    reference = f"e2e-erasure-{uuid.uuid4()}"
    gateway.request(
        "WhatsApp Contact Erasure Requested", {"contact": destination, "reference": reference}, source="e2e.tests"
    )
    events = collect(gateway, lambda events: any(e["detail-type"] == "WhatsApp Contact Erased" for e in events))

    [erased] = [e["detail"] for e in events if e["detail-type"] == "WhatsApp Contact Erased"]
    assert {key: erased[key] for key in ("contact_hash", "records_erased", "reference", "requested_by")} == {
        "contact_hash": hashlib.sha256(destination.encode()).hexdigest(),
        "records_erased": 3,  # the MO, the MT and the contact's window item
        "reference": reference,
        "requested_by": "e2e.tests",
    }
    assert destination[1:] not in str(erased)
    assert gateway.list_messages(contact=destination) == (200, {"items": [], "next_cursor": None})
