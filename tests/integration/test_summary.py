"""Campaign summaries: a broadcast sent through the send path, its statuses reported by the provider's callbacks (late,
repeated and out of order), its summary read back from the record API."""

from typing import Any

import pytest
import responses

from tests.helpers import LambdaContext, answer_json, http_event, load_handler
from tests.integration.test_sender import BASE_URL, broadcast_answer, recipients


@pytest.fixture
def summary(aws):
    messages = load_handler("messages")
    messages.summaries.cache_clear()

    def summary(reference: str) -> tuple[int, Any]:
        event = http_event("GET", f"/references/{reference}/summary", path_parameters={"reference": reference})
        response = messages.lambda_handler(event, LambdaContext())
        return response["statusCode"], answer_json(response)

    return summary


def status(post, message_id: str, value: str) -> None:
    assert post("dlr", {"id": message_id, "status": value})[0] == 200


def test_a_broadcasts_summary_counts_each_recipient_once_whatever_the_callbacks_do(sender, provider, post, summary):
    from wab.optouts import OptOuts

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    numbers = recipients(6)
    OptOuts(sender.aws.table_name).record(numbers[5], opted_out=True, reason="keyword", at="2026-11-30T00:00:00Z")
    sender.put(
        {
            "destination": numbers,
            "type": "template",
            "reference": "spring-sale",
            "category": "marketing",
            "template": {"name": "spring_sale", "language": {"code": "en"}},
        }
    )
    sender.run_until_empty()
    ids = [f"id{number[1:]}" for number in numbers[:5]]

    for message_id in ids[:4]:
        status(post, message_id, "sent")
    status(post, ids[0], "received")
    status(post, ids[0], "received")  # the provider's retry
    status(post, ids[0], "read")
    status(post, ids[1], "read")  # read before its delivery report...
    status(post, ids[1], "received")  # ...which comes late and moves nothing
    status(post, ids[2], "received")
    status(post, ids[3], "rejected")
    status(post, ids[3], "rejected")

    code, answer = summary("spring-sale")

    assert code == 200
    assert {key: answer[key] for key in ("accepted", "sent", "received", "read", "rejected", "expired")} == {
        "accepted": 5,
        "sent": 4,
        "received": 3,  # the one read before its delivery report counts as delivered
        "read": 2,
        "rejected": 1,
        "expired": 0,
    }
    assert answer["failed"] == {"opted_out": 1} and answer["opted_out"] == 1
    assert (answer["delivery_rate"], answer["read_rate"]) == (0.6, 0.4)
    assert answer["scope"] == "all"
    assert answer["first_at"] <= answer["last_at"]


@pytest.mark.parametrize("reports", [["sent", "rejected"], ["rejected", "sent", "sent"], ["failed", "sent"]])
def test_a_message_sent_then_failed_counts_the_same_whatever_order_its_reports_come_in(
    sender, provider, post, summary, reports
):
    from tests.integration.conftest import MESSAGE_ID
    from tests.integration.test_sender import text_command

    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(reference="late-sent"))
    sender.run_until_empty()
    for value in reports:
        status(post, MESSAGE_ID, value)

    _, answer = summary("late-sent")

    failure = reports[0] if reports[0] != "sent" else reports[1]
    assert (answer["accepted"], answer["sent"], answer["received"]) == (1, 1, 0)
    assert (answer["rejected"], answer["failed"]) == ((1, {}) if failure == "rejected" else (0, {"failed": 1}))
    assert answer["delivery_rate"] == 0


@pytest.mark.parametrize(
    "reports, counted",
    [
        (["received", "sent"], {"sent": 1, "received": 1, "read": 0, "rejected": 0}),
        (["read"], {"sent": 1, "received": 1, "read": 1, "rejected": 0}),
        (["rejected"], {"sent": 0, "received": 0, "read": 0, "rejected": 1}),
        (["rejected", "sent"], {"sent": 1, "received": 0, "read": 0, "rejected": 1}),  # sent all the same
    ],
)
def test_statuses_reported_before_the_send_was_recorded_count_with_its_acceptance(
    sender, provider, post, summary, reports, counted
):
    """The provider may call back before the sender has written the record: those reports carry no reference."""
    from tests.integration.conftest import MESSAGE_ID
    from tests.integration.test_sender import text_command

    for value in reports:
        status(post, MESSAGE_ID, value)
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(reference="early-reports"))
    sender.run_until_empty()
    status(post, MESSAGE_ID, "read")  # and a report after it counts from where the message was

    _, answer = summary("early-reports")

    after = {"sent": 1, "received": 1, "read": 1} if "rejected" not in reports else {}
    assert {key: answer[key] for key in ("accepted", *counted)} == {"accepted": 1, **counted, **after}


def test_a_broadcast_refused_as_a_whole_counts_every_recipient(sender, summary):
    sender.configure(TEMPLATE_POLICY="enforce")
    sender.put({"command": "update_catalogue", "templates": [{"name": "x", "language": "en", "category": "utility"}]})
    sender.route()
    sender.put(
        {
            "destination": recipients(7),
            "type": "template",
            "reference": "bad-template",
            "template": {"name": "no_such_template", "language": {"code": "en"}},
        }
    )
    sender.run_until_empty()

    assert summary("bad-template")[1]["failed"] == {"template_not_found": 7}


def test_an_invalid_broadcast_counts_every_recipient_it_listed(sender, summary):
    numbers = [*recipients(2), "12"]  # one that is no phone number: the whole command is invalid
    sender.put({"destination": numbers, "type": "text", "text": {"body": "hi"}, "reference": "invalid-broadcast"})
    sender.run_until_empty()

    [failed] = [event["detail"] for event in sender.published() if event["detail-type"] == "WhatsApp Message Failed"]
    assert (failed["error"]["code"], failed["recipients"]) == ("invalid_command", 3)
    assert summary("invalid-broadcast")[1]["failed"] == {"invalid_command": 3}


def test_a_keyless_request_replayed_from_the_archive_is_refused_as_a_repeat_its_campaign_does_not_count(
    sender, provider, summary
):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": "m-1", "status": "accepted"}])
    detail = {"destination": recipients(1)[0], "type": "text", "text": {"body": "hi"}, "reference": "replayed"}
    envelope = {
        "version": "0",
        "id": "e-1",
        "detail-type": "WhatsApp Send Requested",
        "source": "shop",
        "detail": detail,
    }
    sender.put(envelope)
    sender.run_until_empty()
    sender.put({**envelope, "id": "e-2", "replay-name": "orders-2026-11-30"})  # the archive's copy, a new id
    sender.run_until_empty()

    assert len(provider.calls) == 1
    [failed] = [event["detail"] for event in sender.published() if event["detail-type"] == "WhatsApp Message Failed"]
    assert (failed["error"]["code"], failed.get("repeat")) == ("invalid_command", True)
    counted = summary("replayed")[1]
    assert (counted["accepted"], counted["failed"]) == (1, {})


def test_a_reference_nothing_was_sent_under_has_an_empty_summary_and_a_bad_one_is_400(summary):
    code, answer = summary("never-used")
    assert code == 200
    assert (answer["accepted"], answer["failed"], answer["delivery_rate"], answer["first_at"]) == (0, {}, None, None)
    assert summary("x" * 300)[0] == 400


def test_messages_without_a_reference_write_no_counters(sender, provider):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": "m-1", "status": "accepted"}])
    sender.configure(WINDOW_POLICY="off")
    sender.put({"destination": "+64211234567", "type": "text", "text": {"body": "hi"}})
    sender.run_until_empty()
    assert not [item for item in sender.items() if item["pk"].startswith("SUMMARY#")]


@pytest.fixture
def broadcasts_only(sender, callbacks):
    """`SummaryScope: broadcasts`, in every function that counts (new containers, as after a deploy)."""
    relay = load_handler("relay")
    sender.configure(SUMMARY_SCOPE="broadcasts")
    callbacks.dependencies.cache_clear()
    relay.relay.cache_clear()
    yield
    relay.relay.cache_clear()
    callbacks.dependencies.cache_clear()


def test_with_the_broadcasts_scope_only_a_broadcasts_messages_and_failures_are_counted(
    sender, provider, post, summary, broadcasts_only
):
    from tests.integration.conftest import MESSAGE_ID
    from tests.integration.test_sender import text_command

    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    numbers = recipients(3)
    sender.put(text_command(reference="launch"))  # a single send under the campaign's reference
    sender.put(text_command(reference="launch", type="video"))  # an invalid single send: its failure is not counted
    sender.put({"destination": numbers, "type": "text", "text": {"body": "We launched"}, "reference": "launch"})
    sender.put({"destination": numbers, "type": "video", "reference": "launch"})  # an invalid broadcast: counted
    sender.run_until_empty()
    for message_id in [MESSAGE_ID, *(f"id{number[1:]}" for number in numbers)]:
        status(post, message_id, "sent")
    status(post, MESSAGE_ID, "received")
    status(post, f"id{numbers[0][1:]}", "received")

    _, answer = summary("launch")

    assert {key: answer[key] for key in ("accepted", "sent", "received")} == {"accepted": 3, "sent": 3, "received": 1}
    assert answer["failed"] == {"invalid_command": 3}
    assert answer["scope"] == "broadcasts"  # the answer says what it counts
    items = {item["pk"]: item for item in sender.items()}
    single = items[f"MSG#{MESSAGE_ID}"]
    assert single["status"] == "received" and "broadcast" not in single  # the single send itself went its way
    assert items[f"MSG#id{numbers[0][1:]}"]["broadcast"] is True


def test_a_message_the_provider_took_but_its_record_could_not_be_written_counts_once_as_accepted(
    sender, provider, summary
):
    """Reported `accepted_unrecorded` when it was dead-lettered, recorded when it was redriven: one message, counted
    once, as accepted, and never as failed."""
    from tests.integration.test_sender import accepted_but_unrecorded, redrive

    accepted_but_unrecorded(sender, provider, "unrecorded")
    [failed] = [event["detail"] for event in sender.published() if event["detail-type"] == "WhatsApp Message Failed"]
    assert failed["error"]["code"] == "accepted_unrecorded"
    assert summary("unrecorded")[1]["failed"] == {}

    redrive(sender)

    _, answer = summary("unrecorded")
    assert (answer["accepted"], answer["failed"]) == (1, {})
