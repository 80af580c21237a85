"""Re-engagement: a free-form message to a customer whose window is closed goes as its fallback template, waits
parked, and is sent when the customer writes, or fails as `parked_expired` when they do not in time."""

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import responses

from tests.helpers import LambdaContext, load_handler
from tests.integration.test_sender import BASE_URL, details

CUSTOMER = "+64211234567"


def free_form(text: str, **fields: Any) -> dict[str, Any]:
    return {
        "destination": CUSTOMER,
        "type": "text",
        "text": {"body": text},
        "reference": "order-1042",
        "fallback_template": {"name": "order_update", "language": {"code": "en"}},
        **fields,
    }


def mo(message_id: str, text: str = "Hi!") -> dict[str, Any]:
    now = str(int(time.time()))  # the customer writes now: their window opens
    content = {"from": CUSTOMER, "id": f"wamid.{message_id}", "timestamp": now, "type": "text"}
    return {
        "id": message_id,
        "source": CUSTOMER,
        "destination": "1234567890",
        "content": {**content, "text": {"body": text}},
    }


@pytest.fixture
def provider_ids(provider):
    sent: list[dict[str, Any]] = []

    def accept(request: Any) -> tuple[int, dict, str]:
        sent.append(json.loads(request.body))
        return 202, {}, json.dumps([{"id": f"m-{len(sent)}", "status": "accepted"}])

    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=accept)
    return sent


def park_one(sender, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A free-form send to a closed window, parked: its `Parked` event, and its timer as the parking queue has it."""
    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("hello", idempotency_key=key))
    sender.run_until_empty()
    [parked] = details(sender.published(), "WhatsApp Message Parked")
    return parked, {"contact": CUSTOMER, "park_id": parked["park_id"], "parked_until": parked["parked_until"]}


@pytest.fixture
def parking(aws):
    module = load_handler("parking")
    module.dependencies.cache_clear()
    return module


def test_a_closed_window_sends_the_template_and_the_customers_reply_releases_the_message(sender, provider_ids, post):
    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("Your parcel is at the depot", idempotency_key="notice-1"))
    sender.run_until_empty()

    assert [body["type"] for body in provider_ids] == ["template"]
    published = sender.published()
    [accepted] = details(published, "WhatsApp Message Accepted")
    [parked] = details(published, "WhatsApp Message Parked")
    assert (accepted["type"], accepted["message_id"]) == ("template", "m-1")
    assert (parked["fallback_message_id"], parked["reference"], parked["idempotency_key"]) == (
        "m-1",
        "order-1042",
        "notice-1",
    )
    assert sender.record("m-1")["type"] == "template"

    assert post("mo", mo("mo-1"))[0] == 200
    assert post("mo", mo("mo-1"))[0] == 200  # the provider's retry releases nothing more
    [released] = details(sender.published(), "WhatsApp Message Released")
    assert released["park_id"] == parked["park_id"]

    sender.run_until_empty()
    assert [body["type"] for body in provider_ids] == ["template", "text"]
    assert provider_ids[1]["text"]["body"] == "Your parcel is at the depot"
    [sent] = details(sender.published(), "WhatsApp Message Accepted")
    assert (sent["type"], sent["idempotency_key"], sent["reference"]) == ("text", parked["park_id"], "order-1042")

    assert post("mo", mo("mo-2"))[0] == 200
    sender.run_until_empty()
    assert len(provider_ids) == 2


def test_a_reply_whose_first_callback_failed_releases_the_message_on_the_provider_s_retry(
    sender, provider_ids, post, monkeypatch
):
    """The first attempt moved the window and then failed (503): the retry, of the same time, still finds what is
    parked, and so does another message of that second."""
    from wab.errors import DependencyFailed
    from wab.parking import Parking

    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("Your parcel is at the depot", idempotency_key="notice-1"))
    sender.run_until_empty()
    sender.published()
    reply = mo("mo-1")
    with monkeypatch.context() as patch:
        patch.setattr(Parking, "release", lambda *_: (_ for _ in ()).throw(DependencyFailed("SQS is down")))
        assert post("mo", reply)[0] == 503

    assert post("mo", reply)[0] == 200
    [released] = details(sender.published(), "WhatsApp Message Released")
    sender.run_until_empty()
    assert [body["type"] for body in provider_ids] == ["template", "text"]
    assert released["park_id"]


def test_parked_messages_are_released_in_the_order_they_were_parked(sender, provider_ids, post):
    sender.configure(WINDOW_POLICY="enforce")
    for number in range(3):
        sender.put(free_form(f"update {number}", idempotency_key=f"update-{number}"))
        sender.run_until_empty()
    assert post("mo", mo("mo-1"))[0] == 200
    sender.run_until_empty()

    assert [body.get("text", {}).get("body") for body in provider_ids[3:]] == ["update 0", "update 1", "update 2"]


def test_large_messages_fill_a_contact_s_room_before_ten_do_and_the_rest_still_go_in_order(sender, provider_ids, post):
    """A contact's parked messages share one DynamoDB item (400 KB): the one that would overflow it is refused as
    `parking_full` at once, not retried as a failing dependency while it holds up the contact."""
    sender.configure(WINDOW_POLICY="enforce")
    for number in range(4):
        card = {"name": {"formatted_name": f"card {number}"}, "org": {"company": "x" * 120_000}}
        sender.put(
            {
                "destination": CUSTOMER,
                "type": "contacts",
                "contacts": [card],
                "reference": f"card-{number}",
                "fallback_template": {"name": "order_update", "language": {"code": "en"}},
            }
        )
        sender.run_until_empty()
    assert sender.visible() == sender.in_flight() == 0
    published = sender.published()
    assert [event["reference"] for event in details(published, "WhatsApp Message Parked")] == [
        "card-0",
        "card-1",
        "card-2",
    ]
    failed = details(published, "WhatsApp Message Failed")
    assert [(event["reference"], event["error"]["code"]) for event in failed] == [("card-3", "parking_full")]

    assert post("mo", mo("mo-1"))[0] == 200
    sender.run_until_empty()
    assert [body["type"] for body in provider_ids[:3]] == ["template"] * 3  # no fallback for the one refused
    released = [body["contacts"][0]["name"]["formatted_name"] for body in provider_ids[3:]]
    assert released == ["card 0", "card 1", "card 2"]


def test_the_same_command_again_parks_and_sends_nothing_more(sender, provider_ids):
    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("hello", idempotency_key="same"), free_form("hello", idempotency_key="same"))
    sender.run_until_empty()

    assert len(provider_ids) == 1
    published = sender.published()
    assert len(details(published, "WhatsApp Message Parked")) == 2  # the second a repeat: the same outcome told again
    # The original's event goes out from the table's stream, after the repeat this batch told directly.
    assert sorted(str(event.get("repeat")) for event in details(published, "WhatsApp Message Parked")) == [
        "None",
        "True",
    ]


def test_a_message_the_customer_never_answers_fails_as_parked_expired_once(
    sender, provider_ids, post, parking, monkeypatch
):
    from wab import clock

    _, timer = park_one(sender, "quiet-1")

    def fire() -> dict[str, Any]:
        event = {"Records": [{"messageId": "t-1", "body": json.dumps(timer), "eventSource": "aws:sqs"}]}
        return parking.lambda_handler(event, LambdaContext())

    assert fire() == {"batchItemFailures": []}  # too early: the timer is started again
    assert details(sender.published(), "WhatsApp Message Failed") == []

    later = clock.now() + timedelta(hours=25)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert fire() == {"batchItemFailures": []}
    assert fire() == {"batchItemFailures": []}  # a timer delivered twice
    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert (failed["error"]["code"], failed["idempotency_key"], failed["destination"]) == (
        "parked_expired",
        "quiet-1",
        CUSTOMER,
    )

    assert post("mo", mo("mo-1"))[0] == 200  # too late: nothing is released
    assert details(sender.published(), "WhatsApp Message Released") == []
    sender.run_until_empty()
    assert len(provider_ids) == 1


def test_a_message_parked_for_a_contact_erased_on_request_is_reported_once_without_the_number(
    sender, provider_ids, parking, monkeypatch
):
    from wab import clock

    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("hello", idempotency_key="quiet-2"))
    sender.run_until_empty()
    [parked] = details(sender.published(), "WhatsApp Message Parked")
    erasure = {"command": "erase_contact", "contact": CUSTOMER, "idempotency_key": "gdpr-1"}
    sender.put(erasure)
    sender.run_until_empty()

    events = sender.published()
    [failed] = details(events, "WhatsApp Message Failed")
    assert failed == {
        "reference": "order-1042",
        "idempotency_key": "quiet-2",
        "command": "send",
        "error": {"code": "contact_erased", "message": failed["error"]["message"]},
    }
    assert CUSTOMER[1:] not in json.dumps(events)
    sender.put(erasure)  # the same request again: nothing more to tell
    sender.run_until_empty()
    later = clock.now() + timedelta(hours=25)
    monkeypatch.setattr(clock, "now", lambda: later)
    timer = {"contact": CUSTOMER, "park_id": parked["park_id"], "parked_until": parked["parked_until"]}
    event = {"Records": [{"messageId": "t-2", "body": json.dumps(timer), "eventSource": "aws:sqs"}]}
    assert parking.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert details(sender.published(), "WhatsApp Message Failed") == []
    assert sender.item(f"CONTACT#{CUSTOMER}") is None


def test_a_customer_writing_as_the_timer_fires_gets_the_message_never_both_it_and_its_expiry(
    sender, provider_ids, post, parking, monkeypatch
):
    """The callback moved the window and is about to release the message when its timer fires: one outcome only."""
    from wab import clock
    from wab.parking import Parking

    parked, timer = park_one(sender, "quiet-4")
    later = clock.now() + timedelta(hours=24, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    release = Parking.release

    def timer_fires_first(self: Parking, contact: str, entries: list) -> list:
        event = {"Records": [{"messageId": "t-1", "body": json.dumps(timer), "eventSource": "aws:sqs"}]}
        assert parking.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
        return release(self, contact, entries)

    monkeypatch.setattr(Parking, "release", timer_fires_first)
    reply = mo("mo-1")
    reply["content"]["timestamp"] = str(int(later.timestamp()))
    assert post("mo", reply)[0] == 200
    sender.run_until_empty()

    published = sender.published()
    assert details(published, "WhatsApp Message Failed") == []
    assert [event["park_id"] for event in details(published, "WhatsApp Message Released")] == [parked["park_id"]]
    assert [body["type"] for body in provider_ids] == ["template", "text"]


def test_a_timer_put_on_the_queue_by_anyone_else_cannot_end_a_wait_early(sender, provider_ids, parking):
    """The message's own timer says when it ends; a forged one (or one of another shape) is dropped."""
    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("hello", idempotency_key="quiet-3"))
    sender.run_until_empty()
    [parked] = details(sender.published(), "WhatsApp Message Parked")
    forged = {"contact": CUSTOMER, "park_id": parked["park_id"], "parked_until": "2000-01-01T00:00:00Z"}
    records = [
        {"messageId": f"t-{n}", "body": body, "eventSource": "aws:sqs"}
        for n, body in enumerate([json.dumps(forged), "{}", "not json"])
    ]

    assert parking.lambda_handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}

    assert details(sender.published(), "WhatsApp Message Failed") == []
    assert any(name.startswith("parked_") for name in sender.item(f"CONTACT#{CUSTOMER}"))  # still parked


def test_a_set_aside_entry_dropped_after_its_contact_was_erased_leaves_no_item(aws):
    """An erasure between a timer setting a message aside and dropping it: the drop must not create the contact's
    item again (an update would: the number in its key, kept for ever)."""
    from wab.parking import Parking

    Parking(aws.table_name, timer_queue_url="unused").forget_expired(CUSTOMER, "p-1")
    assert aws.item(f"CONTACT#{CUSTOMER}") is None


def test_a_refused_fallback_template_fails_the_command_and_parks_nothing(sender, provider, post):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": "(#132001) Template name does not exist in the translation", "message": "x", "statusCode": 400},
    )
    sender.configure(WINDOW_POLICY="enforce")
    sender.put(free_form("hello"))
    sender.run_until_empty()

    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert failed["error"]["code"] == "132001"
    assert post("mo", mo("mo-1"))[0] == 200
    assert details(sender.published(), "WhatsApp Message Released") == []


def test_a_fallback_is_refused_on_a_template_send():
    from wab.errors import InvalidCommand
    from wab.models.commands import parse_command

    with pytest.raises(InvalidCommand, match="fallback_template is for free-form messages"):
        parse_command(
            json.dumps(
                {
                    "destination": CUSTOMER,
                    "type": "template",
                    "template": {"name": "a", "language": {"code": "en"}},
                    "fallback_template": {"name": "b", "language": {"code": "en"}},
                }
            )
        )
