"""Step Functions tasks waiting on sends: each token answered exactly once, with what the caller would check.

The sender, callbacks and waits functions run against moto; Step Functions is a fake that behaves as the service does
for SendTaskSuccess / SendTaskFailure (a token takes one answer; later ones are refused as `TaskTimedOut`) and records
every call. Time passes only where a test says so: the waits function is run "at" a later moment, and the timers it
schedules are sent without their delay (the delay asked for is kept).
"""

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import responses

from tests.helpers import LambdaContext, answer_json, basic, http_event, load_handler
from tests.integration.conftest import BUSINESS, CUSTOMER, MESSAGE_ID, metric

BASE_URL = "https://provider.test/rest/wab/v1"


# --- helpers ----------------------------------------------------------------------------------------------------------


def command(token: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "destination": CUSTOMER,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Your order #1042 is ready. Deliver tomorrow?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no", "title": "No"}},
                ]
            },
        },
        "reference": "order-1042",
    }
    if token:
        body["task_token"] = token
    body.update(overrides)
    return body


def accept(provider: responses.RequestsMock, message_id: str = MESSAGE_ID) -> None:
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=202,
        json=[{"id": message_id, "status": "accepted", "reference": "order-1042"}],
    )


def send(sender: Any, provider: responses.RequestsMock, token: str, **overrides: Any) -> None:
    """The command is sent and accepted by the provider (message MESSAGE_ID)."""
    accept(provider)
    sender.put(command(token, **overrides))
    sender.run_until_empty()


def dlr(status: str, message_id: str = MESSAGE_ID) -> dict[str, Any]:
    return {"id": message_id, "status": status, "reference": "order-1042"}


def button_reply(message_id: str, *, answer: str = "yes", sent_at: float | None = None, **extra: Any) -> dict:
    """The customer taps a button: an MO whose WhatsApp timestamp is `sent_at` (default: a second from now)."""
    return {
        "id": message_id,
        "source": CUSTOMER,
        "destination": BUSINESS,
        "content": {
            "from": CUSTOMER,
            "id": f"wamid.{message_id}",
            "timestamp": str(int(sent_at if sent_at is not None else time.time() + 1)),
            "type": "interactive",
            "context": {"id": f"wamid.{MESSAGE_ID}"},
            "interactive": {"type": "button_reply", "button_reply": {"id": answer, "title": answer.title()}},
            **extra,
        },
    }


def record_view(message_id: str = MESSAGE_ID) -> dict[str, Any]:
    """The record as `GET /messages/{id}` returns it."""
    messages = load_handler("messages")
    messages.store.cache_clear()
    event = http_event("GET", f"/messages/{message_id}", path_parameters={"message_id": message_id})
    response = messages.lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200
    return answer_json(response)


def later(seconds: float) -> Any:
    from wab import clock

    return clock.now() + timedelta(seconds=seconds)


def contact_item(aws: Any) -> dict[str, Any]:
    return aws.item(f"CONTACT#{CUSTOMER}") or {}


# --- waits met --------------------------------------------------------------------------------------------------------


def test_a_send_waiting_for_delivery_is_answered_once_with_the_record_when_delivered(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send(sender, provider, token)
    assert step_functions.calls == []  # accepted is not delivered
    assert waits.timers() == [{"message_id": MESSAGE_ID, "task_token": token, "attempt": 0}]

    assert post("dlr", dlr("sent"))[0] == 200
    assert step_functions.calls == []
    assert post("dlr", dlr("received"))[0] == 200

    answer = step_functions.answer_of(token)
    assert answer["action"] == "SendTaskSuccess"
    assert answer["output"] == record_view()  # the record as the record API returns it
    assert answer["output"]["status"] == "received"
    for status in ("received", "read", "sent"):  # duplicates, a later status, a late one: nothing more
        assert post("dlr", dlr(status))[0] == 200
    assert len(step_functions.calls_for(token)) == 1
    assert sender.record()["outbox"] == {}
    # The timer looks once more, finds the wait answered, and stops.
    waits.run(at=later(900))
    assert waits.timers() == [] and len(step_functions.calls) == 1


def test_the_token_is_never_shown_by_the_record_api_nor_published_nor_logged(
    sender, provider, post, step_functions, waits, log_lines
):
    token = step_functions.token()
    send(sender, provider, token)
    step_functions.fail_next("ThrottlingException")  # a failure is logged too
    post("dlr", dlr("received"))
    post("dlr", dlr("received"))

    assert token not in json.dumps(record_view())
    assert token not in json.dumps(sender.published())
    assert token not in json.dumps(step_functions.answer_of(token)["output"])
    lines = log_lines()
    assert "task answered" in [line["message"] for line in lines]
    assert token not in json.dumps(lines) and token[:40] not in json.dumps(lines)


@pytest.mark.parametrize(
    ("wait_for", "statuses", "answered_at"),
    [
        ("delivered", ["sent", "received", "read"], "received"),
        ("delivered", ["read", "received", "sent"], "read"),  # read before delivered still means delivered
        ("read", ["sent", "received", "read"], "read"),
        ("read", ["read", "read", "received"], "read"),
    ],
)
def test_statuses_in_any_order_and_repeated_answer_once_when_the_wait_is_met(
    sender, provider, post, step_functions, waits, wait_for, statuses, answered_at
):
    token = step_functions.token()
    send(sender, provider, token, wait_for=wait_for)
    answered_after = []
    for status in statuses:
        assert post("dlr", dlr(status))[0] == 200
        answered_after.append(step_functions.answer_of(token) is not None)

    assert answered_after == [status_index >= statuses.index(answered_at) for status_index in range(len(statuses))]
    [call] = step_functions.calls_for(token)
    assert call["action"] == "SendTaskSuccess"


def test_a_dlr_that_came_before_the_acceptance_answers_the_wait_at_acceptance(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    assert post("dlr", dlr("received"))[0] == 200  # the provider's DLR overtook the sender's write
    send(sender, provider, token)

    answer = step_functions.answer_of(token)
    assert answer["action"] == "SendTaskSuccess" and answer["output"]["status"] == "received"
    assert waits.timers() == []  # decided at once: nothing to time


def test_waiting_for_acceptance_is_answered_when_the_provider_accepts(sender, provider, step_functions, waits):
    token = step_functions.token()
    send(sender, provider, token, wait_for="accepted")

    answer = step_functions.answer_of(token)
    assert answer["output"]["status"] == "accepted"
    assert answer["output"]["id"] == MESSAGE_ID
    assert waits.timers() == []


# --- replies ----------------------------------------------------------------------------------------------------------


def test_a_reply_wait_is_answered_with_the_customers_next_message(aws, sender, provider, post, step_functions, waits):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply")
    post("dlr", dlr("received"))
    assert step_functions.calls == []  # delivered is not replied
    assert "reply:" + MESSAGE_ID in contact_item(aws)

    earlier = button_reply("mo-earlier", answer="no", sent_at=time.time() - 3600)  # written before the send
    assert post("mo", earlier)[0] == 200
    stranger = button_reply("mo-stranger") | {"source": "+64219999999"}
    stranger["content"]["from"] = "+64219999999"
    assert post("mo", stranger)[0] == 200
    assert step_functions.calls == []

    assert post("mo", button_reply("mo-reply", answer="yes"))[0] == 200
    assert post("mo", button_reply("mo-second", answer="no"))[0] == 200

    [call] = step_functions.calls_for(token)
    output = step_functions.answer_of(token)["output"]
    assert call["action"] == "SendTaskSuccess"
    assert output == record_view() | {"reply": record_view("mo-reply")}
    assert output["reply"]["content"]["interactive"]["button_reply"]["id"] == "yes"
    assert output["reply"]["text"] == "Yes"
    assert "reply:" + MESSAGE_ID not in contact_item(aws)  # no longer awaited
    assert contact_item(aws)["last_inbound_at"]  # the window item itself stays


def test_a_reply_whose_first_callback_failed_is_still_the_answer(
    sender, provider, post, step_functions, waits, monkeypatch
):
    """The first attempt moved the contact's window and then failed (503); the provider's retry, of the same time,
    still finds the reply awaited."""
    from wab.errors import DependencyFailed
    from wab.waiting import Waits

    token = step_functions.token()
    send(sender, provider, token, wait_for="reply")
    post("dlr", dlr("received"))
    time.sleep(1.05)  # a reply dated in a whole second after the send's, not capped at its arrival: retried alike
    reply = button_reply("mo-reply", sent_at=time.time())
    with monkeypatch.context() as patch:
        patch.setattr(Waits, "decide_replies", lambda *_, **__: (_ for _ in ()).throw(DependencyFailed("throttled")))
        assert post("mo", reply)[0] == 503

    assert post("mo", reply)[0] == 200
    [call] = step_functions.calls_for(token)
    assert call["action"] == "SendTaskSuccess"
    assert step_functions.answer_of(token)["output"]["reply"] == record_view("mo-reply")


def test_a_reply_wait_fails_when_the_message_is_not_delivered(sender, provider, post, step_functions, waits):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply")
    post("dlr", dlr("rejected"))

    assert step_functions.answer_of(token) == {
        "action": "SendTaskFailure",
        "error": "rejected",
        "cause": "WhatsApp did not deliver the message: it was rejected",
    }
    assert post("mo", button_reply("mo-late"))[0] == 200  # a message afterwards changes nothing
    assert len(step_functions.calls) == 1


# --- failures ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        ("rejected", "WhatsApp did not deliver the message: it was rejected"),
        ("expired", "the message expired before it could be delivered (the phone was off or unreachable for too long)"),
        ("failed", "WhatsApp reported that the message failed"),
    ],
)
def test_a_message_that_is_not_delivered_fails_its_task_with_the_status(
    sender, provider, post, step_functions, waits, status, cause
):
    token = step_functions.token()
    send(sender, provider, token, wait_for="read")
    post("dlr", dlr("sent"))
    post("dlr", dlr(status))
    post("dlr", dlr(status))

    assert step_functions.answer_of(token) == {"action": "SendTaskFailure", "error": status, "cause": cause}
    assert len(step_functions.calls) == 1


def test_a_send_the_provider_refuses_fails_its_task_with_whatsapps_code(sender, provider, step_functions, waits):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": "(#131026) Undeliverable to +64 21 123 4567: 'Hi Jane, your PIN is 4321'", "statusCode": 400},
    )
    token = step_functions.token()
    sender.put(command(token))
    sender.run_until_empty()

    answer = step_functions.answer_of(token)
    assert (answer["action"], answer["error"]) == ("SendTaskFailure", "131026")
    # The provider's words may repeat the number (spelt any way) or the message: an execution's history keeps them
    # beyond an erasure, so the cause is the gateway's own.
    assert answer["cause"] == "the provider refused the message (131026)"
    [failed] = [e["detail"] for e in sender.published() if e["detail-type"] == "WhatsApp Message Failed"]
    assert failed["error"]["code"] == answer["error"]
    assert waits.timers() == []


def test_a_send_outside_the_window_fails_its_task_without_calling_the_provider(sender, provider, step_functions):
    sender.configure(WINDOW_POLICY="enforce")
    token = step_functions.token()
    sender.put(command(token))
    sender.run_until_empty()

    assert len(provider.calls) == 0
    assert step_functions.answer_of(token)["error"] == "outside_24h_window"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (command(destination="not-a-number"), "destination"),
        (command(wait_for="seen"), "wait_for"),
        (command(wait_timeout_seconds=8 * 86400), "wait_timeout_seconds"),
    ],
)
def test_an_invalid_command_fails_its_task_at_once(sender, provider, step_functions, body, problem):
    token = step_functions.token()
    sender.put({**body, "task_token": token})
    sender.route()

    answer = step_functions.answer_of(token)
    assert (answer["action"], answer["error"]) == ("SendTaskFailure", "invalid_command")
    assert problem in answer["cause"]
    assert len(provider.calls) == 0


def test_a_send_still_failing_when_its_retry_window_ends_fails_its_task(sender, provider, step_functions, monkeypatch):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=503, body="busy")
    token = step_functions.token()
    sender.put(command(token))
    sender.run()  # put back for a retry: the task is not told anything yet
    assert step_functions.calls == []

    from wab import clock

    future = later(7 * 3600)  # the retry window (360 minutes) has passed
    monkeypatch.setattr(clock, "now", lambda: future)
    sender.time_passes()
    assert sender.run() == {"batchItemFailures": []}

    answer = step_functions.answer_of(token)
    assert (answer["action"], answer["error"]) == ("SendTaskFailure", "retry_window_exceeded")
    [failed] = [e["detail"] for e in sender.published() if e["detail-type"] == "WhatsApp Message Failed"]
    assert failed["error"]["code"] == "retry_window_exceeded"


def test_a_send_that_crashed_the_sender_repeatedly_fails_its_task_before_the_dead_letter_queue(
    sender, provider, step_functions
):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=503, body="busy")
    token = step_functions.token()
    sender.put(command(token))
    sender.run()  # put back for a retry
    lane_message = sender.last_records[0]["messageId"]
    # Three receives that started and never concluded: the invocations died (a timeout, memory).
    sender.dynamodb.put_item(
        TableName=sender.aws.table_name,
        Item={"pk": {"S": f"ATTEMPT#priority#{lane_message}"}, "started": {"N": "3"}, "concluded": {"N": "0"}},
    )
    sender.time_passes()
    sender.run()

    assert step_functions.answer_of(token)["error"] == "unprocessable"
    assert len(sender.dead_letters()) == 1
    assert len(provider.calls) == 1


def test_a_key_reused_for_another_command_fails_the_task_that_asked(sender, provider, step_functions, waits):
    send(sender, provider, step_functions.token(), idempotency_key="order-1042-confirm")
    token = step_functions.token()
    sender.put(command(token, idempotency_key="order-1042-confirm", reference="another-order"))
    sender.run_until_empty()

    assert step_functions.answer_of(token)["error"] == "idempotency_key_reused"
    assert len(provider.calls) == 1


# --- timeouts ---------------------------------------------------------------------------------------------------------


def test_a_wait_that_passes_its_timeout_fails_once_and_a_late_delivery_changes_nothing(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send(sender, provider, token, wait_timeout_seconds=60)
    assert waits.delays == [60]

    waits.run(at=later(30))  # not due yet
    assert step_functions.calls == [] and len(waits.timers()) == 1
    waits.run(at=later(61))

    assert step_functions.answer_of(token) == {
        "action": "SendTaskFailure",
        "error": "wait_timeout",
        "cause": "no delivery within 60 seconds of the message being accepted",
    }
    assert post("dlr", dlr("received"))[0] == 200
    assert len(step_functions.calls) == 1
    assert waits.timers() == []


def test_a_long_wait_is_a_chain_of_timers_of_at_most_fifteen_minutes(sender, provider, step_functions, waits):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply", wait_timeout_seconds=2000)

    for elapsed in (900, 1800):
        waits.run(at=later(elapsed))
        assert step_functions.calls == []
    waits.run(at=later(2001))

    assert waits.delays[0] == waits.delays[1] == 900  # then what is left: about 200 s
    assert all(delay <= 900 for delay in waits.delays)
    assert step_functions.answer_of(token)["error"] == "wait_timeout"


def test_a_reply_after_the_timeout_is_too_late(aws, sender, provider, post, step_functions, waits, monkeypatch):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply", wait_timeout_seconds=60)
    from wab import clock

    future = later(120)
    monkeypatch.setattr(clock, "now", lambda: future)
    assert post("mo", button_reply("mo-late", sent_at=future.timestamp()))[0] == 200

    assert step_functions.answer_of(token)["error"] == "wait_timeout"
    assert "reply:" + MESSAGE_ID not in contact_item(aws)


# --- Step Functions failing, crashes, concurrency --------------------------------------------------------------------


def test_a_throttled_answer_is_retried_by_the_providers_retry_and_sent_once(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send(sender, provider, token)
    step_functions.fail_next("ThrottlingException")

    status, body, _ = post("dlr", dlr("received"))
    assert (status, body["error"]) == (503, "dependency_failed")  # the provider retries
    assert step_functions.answer_of(token) is None
    assert [e["detail"]["status"] for e in sender.published() if "status" in e["detail"]] == ["received"]

    assert post("dlr", dlr("received"))[0] == 200
    assert step_functions.answer_of(token)["action"] == "SendTaskSuccess"
    assert [call["action"] for call in step_functions.calls_for(token)] == ["SendTaskSuccess", "SendTaskSuccess"]


def test_an_answer_step_functions_keeps_refusing_is_retried_by_the_timer_until_it_goes(
    aws, sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply")
    step_functions.fail_next("ServiceUnavailable", "ThrottlingException")

    assert post("mo", button_reply("mo-reply"))[0] == 200  # the customer's message is stored and published anyway
    assert step_functions.answer_of(token) is None
    waits.run(at=later(15))  # the soon retry: still throttled
    assert step_functions.answer_of(token) is None
    waits.run(at=later(60))

    answer = step_functions.answer_of(token)
    assert answer["action"] == "SendTaskSuccess" and answer["output"]["reply"]["id"] == "mo-reply"
    waits.run(at=later(30 * 60))  # the wait's own timer finds it answered
    assert len([call for call in step_functions.calls_for(token) if call["action"] == "SendTaskSuccess"]) == 3
    assert waits.timers() == []
    assert aws.item(f"MSG#{MESSAGE_ID}")["outbox"] == {}


def test_an_answer_refused_for_the_whole_retry_window_is_given_up_and_counted(
    sender, provider, post, step_functions, waits, emf
):
    token = step_functions.token()
    send(sender, provider, token, wait_timeout_seconds=60)
    step_functions.fail_next(*["ThrottlingException"] * 3)
    waits.run(at=later(61))  # times out; the answer is throttled
    waits.run(at=later(3600))
    waits.run(at=later(7 * 3600))  # past the six hours of SendRetryWindowMinutes

    assert step_functions.answer_of(token) is None
    assert waits.timers() == []
    assert emf()[metric("TaskAnswersAbandoned")] == 1  # what TaskAnswersAbandonedAlarm watches


@pytest.mark.parametrize("refusal", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_task_that_stopped_waiting_is_not_answered_again(sender, provider, post, step_functions, waits, refusal):
    token = step_functions.token()
    send(sender, provider, token)
    step_functions.fail_next(refusal)  # its execution ended, or its own TimeoutSeconds passed

    assert post("dlr", dlr("received"))[0] == 200
    assert post("dlr", dlr("read"))[0] == 200
    waits.run(at=later(3600))

    assert len(step_functions.calls_for(token)) == 1
    assert sender.record()["outbox"] == {}


def test_a_crash_after_the_decision_is_completed_by_the_next_touch_after_its_lease(
    sender, provider, post, step_functions, waits, monkeypatch
):
    from wab.tasks import TaskAnswerer

    class Crash(BaseException):
        """The invocation dies (a timeout, memory): nothing after this point runs, no lease is released."""

    token = step_functions.token()
    send(sender, provider, token)

    def die(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(TaskAnswerer, "answer_all", die)
        with pytest.raises(Crash):
            post("dlr", dlr("received"))
    assert step_functions.calls == []
    # The provider's retry, while the dead invocation's lease holds: the status is recorded (its event went out from
    # the table's stream), and the answer is left to its lease.
    assert post("dlr", dlr("received"))[0] == 200
    assert step_functions.calls == []

    waits.run(at=later(900))  # the wait's next look, after the lease: it takes the answer over

    assert step_functions.answer_of(token)["output"]["status"] == "received"
    assert post("dlr", dlr("received"))[0] == 200
    assert len(step_functions.calls) == 1


def test_concurrent_dlrs_and_timer_answer_the_task_once(sender, provider, step_functions, waits):
    token = step_functions.token()
    send(sender, provider, token, wait_timeout_seconds=60)
    statuses = ["received", "read", "received", "read", "sent"]
    environments = [load_handler("callbacks", n) for n in range(1, len(statuses) + 1)]
    for environment in environments:  # each a fresh execution environment of this test's stack
        environment.dependencies.cache_clear()
    results: list[int] = []

    def deliver(status: str, handler: Any) -> None:
        event = http_event("POST", "/callbacks/dlr", body=dlr(status), headers={"authorization": basic()})
        results.append(handler.lambda_handler(event, LambdaContext())["statusCode"])

    threads = [threading.Thread(target=deliver, args=pair) for pair in zip(statuses, environments, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for status, handler in zip(statuses, environments, strict=True):  # the provider retries what was not 200
        deliver(status, handler)
    waits.run(at=later(120))

    assert set(results) <= {200, 503} and results[-len(statuses) :] == [200] * len(statuses)
    [call] = step_functions.calls_for(token)
    assert call["action"] == "SendTaskSuccess"


# --- repeats, erasure -------------------------------------------------------------------------------------------------


def test_a_retried_task_with_the_same_idempotency_key_takes_the_wait_over(
    sender, provider, post, step_functions, waits
):
    first, second = step_functions.token(), step_functions.token()
    send(sender, provider, first, idempotency_key="order-1042-confirm")
    sender.put(command(second, idempotency_key="order-1042-confirm"))  # Step Functions retried the task
    sender.run_until_empty()

    assert len(provider.calls) == 1  # sent once
    assert step_functions.answer_of(first) == {
        "action": "SendTaskFailure",
        "error": "wait_superseded",
        "cause": "a later request with the same idempotency key waits on this message instead",
    }
    post("dlr", dlr("received"))
    assert step_functions.answer_of(second)["output"]["status"] == "received"
    third = step_functions.token()
    sender.put(command(third, idempotency_key="order-1042-confirm"))
    sender.run_until_empty()
    assert step_functions.answer_of(third)["action"] == "SendTaskSuccess"  # delivered already: answered at once
    assert len(step_functions.calls) == 3


def test_a_retried_task_of_a_failed_command_is_told_the_failure_again(sender, provider, step_functions):
    sender.configure(WINDOW_POLICY="enforce")
    first, second = step_functions.token(), step_functions.token()
    for token in (first, second):
        sender.put(command(token, idempotency_key="order-1042-confirm"))
        sender.run_until_empty()

    assert (
        step_functions.answer_of(first)["error"] == step_functions.answer_of(second)["error"] == ("outside_24h_window")
    )


ERASED = {
    "action": "SendTaskFailure",
    "error": "message_erased",
    "cause": "the message's record was erased before its wait ended",
}


def test_a_wait_on_a_message_erased_on_request_fails_its_task_at_once(sender, provider, step_functions, waits):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply")
    sender.put({"command": "erase_contact", "contact": CUSTOMER})
    sender.run_until_empty()

    assert step_functions.answer_of(token) == ERASED
    waits.run(at=later(900))  # the wait's next look finds no record: Step Functions refuses a second answer
    assert len(step_functions.calls_for(token)) == 2 and step_functions.answer_of(token) == ERASED


def test_a_wait_step_functions_could_not_be_told_of_at_the_erasure_is_told_at_its_next_look(
    sender, provider, step_functions, waits
):
    token = step_functions.token()
    send(sender, provider, token, wait_for="reply")
    sender.put({"command": "erase_contact", "contact": CUSTOMER})
    step_functions.fail_next("ThrottlingException")
    sender.run_until_empty()  # the erasure is done all the same
    assert step_functions.answer_of(token) is None
    step_functions.fail_next("ThrottlingException")

    waits.run(at=later(900))  # the wait's next look finds no record; Step Functions is throttling
    assert step_functions.answer_of(token) is None
    waits.run(at=later(960))

    assert step_functions.answer_of(token) == ERASED


def test_a_wait_whose_record_a_late_status_report_recreated_after_the_erasure_fails_its_task_too(
    sender, provider, post, step_functions, waits
):
    token = step_functions.token()
    send(sender, provider, token, wait_for="delivered")
    sender.put({"command": "erase_contact", "contact": CUSTOMER})
    step_functions.fail_next("ThrottlingException")  # not told at the erasure: its next look must tell it
    sender.run_until_empty()
    assert post("dlr", dlr("sent"))[0] == 200  # a bare record under the erased message's id, without the wait

    waits.run(at=later(900))

    assert step_functions.answer_of(token)["error"] == "message_erased"


# --- what a message without a wait costs ------------------------------------------------------------------------------


def test_messages_without_a_wait_cost_no_extra_call(sender, provider, post, step_functions, waits):
    from wab import aws as wab_aws

    accept(provider)
    sender.put(command())
    sender.run_until_empty()
    calls: list[str] = []
    for service in ("dynamodb", "sqs", "stepfunctions", "events"):
        wab_aws.client(service).meta.events.register(
            f"before-call.{wab_aws.client(service).meta.service_model.service_id.hyphenize()}",
            lambda model, **_: calls.append(model.name),
        )

    post("dlr", dlr("received"))
    # One read (its record), and neither a Step Functions call nor a timer: what a DLR costs without the feature.
    assert calls.count("GetItem") == 1
    assert not {"Query", "BatchGetItem", "SendMessage", "SendTaskSuccess", "SendTaskFailure"} & set(calls)
    calls.clear()
    post("mo", button_reply("mo-1"))
    # No read at all: the window's update (which it makes anyway) returns whatever awaits a reply from the contact.
    assert not {"GetItem", "Query", "BatchGetItem", "SendMessage", "SendTaskSuccess", "SendTaskFailure"} & set(calls)
    assert calls.count("UpdateItem") >= 1
    assert step_functions.calls == [] and waits.delays == []
