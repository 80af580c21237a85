"""A Step Functions task waiting on a whole broadcast: answered once, with the broadcast's counts, when every
recipient has an outcome for what it waits for; failed with the counts when its wait ends first.

The intake, sender, callbacks and waits functions run against moto (the harness of tests/integration/test_waits.py);
the waits function is run "at" later moments, its timers sent without their delay.
"""

import json
from datetime import timedelta
from typing import Any

import pytest
import responses

from tests.integration.conftest import BUSINESS

BASE_URL = "https://provider.test/rest/wab/v1"
NUMBERS = [f"+6421{n:07d}" for n in range(1, 5)]


def broadcast(token: str | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination": NUMBERS,
        "type": "template",
        "reference": "spring-sale",
        "template": {"name": "spring_sale", "language": {"code": "en"}},
        "task_token": token,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def accept_all_but(refused: set[str] | None = None) -> Any:
    """The provider accepts every recipient of a broadcast call, but those in `refused` (#131026: undeliverable)."""

    def answer(request: Any) -> tuple[int, dict, str]:
        destinations = json.loads(request.body)["destination"]
        results = [
            {"destination": number, "status": "rejected", "error": "(#131026) Message undeliverable"}
            if number in (refused or set())
            else {"destination": number, "id": message_id(number), "status": "accepted"}
            for number in destinations
        ]
        return 202, {}, json.dumps(results)

    return answer


def message_id(number: str) -> str:
    return f"id{number[1:]}"


def later(seconds: float) -> Any:
    from wab import clock

    return clock.now() + timedelta(seconds=seconds)


def send_broadcast(sender: Any, provider: responses.RequestsMock, body: dict[str, Any], **accepting: Any) -> None:
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=accept_all_but(**accepting))
    sender.put(body)
    sender.run_until_empty()


def test_a_broadcast_waiting_for_acceptance_is_answered_once_with_its_counts(sender, provider, step_functions, waits):
    token = step_functions.token()
    send_broadcast(sender, provider, broadcast(token, wait_for="accepted"))
    assert step_functions.calls == []  # the summary is looked at by the wait's timer

    waits.run(at=later(31))

    answer = step_functions.answer_of(token)
    assert answer["action"] == "SendTaskSuccess"
    assert answer["output"] == {
        "reference": "spring-sale",
        "wait_for": "accepted",
        "recipients": 4,
        "with_outcome": 4,
        "accepted": 4,
        "sent": 0,
        "received": 0,
        "read": 0,
        "rejected": 0,
        "expired": 0,
        "failed": {},
        "opted_out": 0,
    }
    waits.run(at=later(3600))
    assert waits.timers() == [] and len(step_functions.calls_for(token)) == 1


def test_a_retried_task_of_the_same_broadcast_is_answered_with_the_first_run_s_counts(
    sender, provider, step_functions, waits
):
    """The same idempotency_key with a new token: the broadcast is not sent again, and the new task takes the wait
    over; counted from its own start, it would wait for outcomes that had all come already."""
    first, second = step_functions.token(), step_functions.token()
    send_broadcast(sender, provider, broadcast(first, wait_for="accepted", idempotency_key="spring-1"))
    waits.run(at=later(31))
    sender.put(broadcast(second, wait_for="accepted", idempotency_key="spring-1"))
    sender.run_until_empty()

    waits.run(at=later(62))

    assert step_functions.answer_of(first)["action"] == step_functions.answer_of(second)["action"] == "SendTaskSuccess"
    assert step_functions.answer_of(second)["output"]["accepted"] == 4


def test_the_longest_reference_and_key_a_command_may_have_do_not_stop_a_waited_broadcast(
    sender, provider, step_functions, waits
):
    """Each may take a kilobyte in UTF-8: together, more than a DynamoDB key holds."""
    token = step_functions.token()
    body = broadcast(token, wait_for="accepted", reference="😀" * 256, idempotency_key="😀" * 512)

    send_broadcast(sender, provider, body)
    waits.run(at=later(31))

    assert sender.visible() == sender.in_flight() == 0
    assert step_functions.answer_of(token)["output"]["accepted"] == 4


def test_waiting_for_delivery_counts_failed_and_undelivered_recipients_as_outcomes(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send_broadcast(sender, provider, broadcast(token), refused={NUMBERS[3]})
    assert post("dlr", {"id": message_id(NUMBERS[0]), "status": "received"})[0] == 200
    assert post("dlr", {"id": message_id(NUMBERS[1]), "status": "read"})[0] == 200  # read: delivered too

    waits.run(at=later(31))
    assert step_functions.calls == []  # one recipient still has no outcome: looked at again later
    assert len(waits.timers()) == 1

    assert post("dlr", {"id": message_id(NUMBERS[2]), "status": "rejected"})[0] == 200
    waits.run(at=later(62))

    output = step_functions.answer_of(token)["output"]
    assert (output["wait_for"], output["with_outcome"], output["received"], output["read"]) == ("delivered", 4, 2, 1)
    assert (output["rejected"], output["failed"]) == (1, {"not_accepted": 1})


def test_a_recipient_whatsapp_reports_failed_has_its_outcome(sender, provider, post, step_functions, waits):
    """WhatsApp's own `failed`, passed on by a provider, ends a recipient's delivery as rejected and expired do."""
    token = step_functions.token()
    send_broadcast(sender, provider, broadcast(token), refused={NUMBERS[3]})
    for number, reported in zip(NUMBERS[:3], ("received", "read", "failed"), strict=True):
        assert post("dlr", {"id": message_id(number), "status": reported})[0] == 200

    waits.run(at=later(31))

    output = step_functions.answer_of(token)["output"]
    assert (output["with_outcome"], output["failed"]) == (4, {"failed": 1, "not_accepted": 1})


def test_a_recipient_reported_failed_after_acceptance_is_counted_once_while_waiting_for_acceptance(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send_broadcast(sender, provider, broadcast(token, wait_for="accepted"))
    for number in NUMBERS[:2]:
        assert post("dlr", {"id": message_id(number), "status": "failed"})[0] == 200

    waits.run(at=later(31))

    output = step_functions.answer_of(token)["output"]
    assert (output["recipients"], output["with_outcome"], output["accepted"]) == (4, 4, 4)


def test_a_wait_that_ends_first_fails_its_task_with_the_counts(sender, provider, post, step_functions, waits):
    token = step_functions.token()
    send_broadcast(sender, provider, broadcast(token, wait_for="read", wait_timeout_seconds=600))
    post("dlr", {"id": message_id(NUMBERS[0]), "status": "read"})

    waits.run(at=later(300))
    assert step_functions.calls == []
    waits.run(at=later(601))

    answer = step_functions.answer_of(token)
    assert (answer["action"], answer["error"]) == ("SendTaskFailure", "wait_timeout")
    cause = json.loads(answer["cause"])
    assert (cause["recipients"], cause["with_outcome"], cause["read"], cause["accepted"]) == (4, 1, 1, 4)
    assert token not in answer["cause"]


def test_earlier_messages_under_the_same_reference_are_not_counted(sender, provider, step_functions, waits):
    send_broadcast(sender, provider, broadcast(None, destination=NUMBERS[:2]))  # a first wave, not waited on
    token = step_functions.token()
    second = broadcast(token, destination=[f"+6422{n:07d}" for n in range(1, 4)], wait_for="accepted")
    send_broadcast(sender, provider, second)

    waits.run(at=later(31))

    output = step_functions.answer_of(token)["output"]
    assert (output["recipients"], output["accepted"], output["with_outcome"]) == (3, 3, 3)


def test_opted_out_recipients_have_their_outcome_without_a_provider_call(sender, provider, post, step_functions, waits):
    assert post("mo", stop_from(NUMBERS[0]))[0] == 200  # the contact sends STOP
    token = step_functions.token()
    body = broadcast(token, wait_for="accepted", category="marketing")
    send_broadcast(sender, provider, body)

    waits.run(at=later(31))

    output = step_functions.answer_of(token)["output"]
    assert (output["accepted"], output["opted_out"], output["with_outcome"]) == (3, 1, 4)
    [call] = provider.calls
    assert NUMBERS[0] not in json.loads(call.request.body)["destination"]


def test_chunks_do_not_carry_the_token_and_a_split_broadcast_is_waited_on_as_a_whole(
    sender, provider, step_functions, waits
):
    sender.configure(BROADCAST_CHUNK_SIZE="2")
    token = step_functions.token()
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=accept_all_but())
    sender.put(broadcast(token, wait_for="accepted"))
    sender.route()

    chunks = sender.lane_messages("bulk")
    assert len(chunks) == 2 and token not in json.dumps(chunks)
    sender.run_until_empty()
    waits.run(at=later(31))
    assert step_functions.answer_of(token)["output"]["accepted"] == 4


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"reference": None}, "needs a reference"),
        ({"wait_for": "reply"}, "wait_for"),
    ],
)
def test_a_broadcast_wait_that_cannot_work_fails_its_task_at_once(sender, provider, step_functions, overrides, problem):
    token = step_functions.token()
    sender.put(broadcast(token, **overrides))
    sender.route()

    answer = step_functions.answer_of(token)
    assert (answer["action"], answer["error"]) == ("SendTaskFailure", "invalid_command")
    assert problem in answer["cause"]
    assert len(provider.calls) == 0


def stop_from(number: str) -> dict[str, Any]:
    return {
        "id": f"mo-stop-{number[1:]}",
        "source": number,
        "destination": BUSINESS,
        "content": {
            "from": number,
            "id": f"wamid.stop{number[1:]}",
            "timestamp": "1760000000",
            "type": "text",
            "text": {"body": "STOP"},
        },
    }
