"""Waits of Step Functions tasks on messages, as pure logic: the command fields, when a wait is decided, how a reply
is recognised, what an answer holds, and how answers travel through the outbox (an in-memory store)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from wab import aws, clock, waits
from wab.errors import DependencyFailed, InvalidCommand
from wab.models.commands import fingerprint, parse_command, validate_command
from wab.models.records import MessageRecord, StatusEntry
from wab.models.waits import MAX_OUTPUT_BYTES, ReplyWait, TaskAnswer, WaitRequest, answer_key
from wab.outbox import Change, commit, deliver
from wab.tasks import StepFunctions, TaskAnswerer, success_output
from wab.waiting import next_hop_seconds, retry_delay

from tests.unit.test_outbox import MemoryStore, Publisher

TOKEN = "AQB4AAAAKgAAAAMAAAAAAAAAAQ" + "x" * 200
SENT_AT = "2026-11-25T09:00:00.250000Z"
CUSTOMER = "+64211234567"


def send(**fields: Any) -> dict[str, Any]:
    return {"destination": CUSTOMER, "type": "text", "text": {"body": "Your order is ready"}, **fields}


def mt(status: str | None = "accepted", *history: str) -> MessageRecord:
    statuses = history or ((status,) if status else ())
    return MessageRecord(
        id="m1",
        direction="MT",
        source="1234567890",
        destination=CUSTOMER,
        contact=CUSTOMER,
        status=status,
        status_history=[StatusEntry(status=each, at=SENT_AT) for each in statuses],
        created_at=SENT_AT,
        updated_at=SENT_AT,
    )


def at(seconds: float) -> str:
    return clock.iso(clock.from_iso(SENT_AT) + timedelta(seconds=seconds))


def waiting(wait_for: str = "delivered", timeout: int = 3600, record: MessageRecord | None = None) -> MessageRecord:
    record = record or mt()
    waits.register(record, WaitRequest(task_token=TOKEN, wait_for=wait_for, timeout_seconds=timeout), at=SENT_AT)
    return record


# --- the command ------------------------------------------------------------------------------------------------------


def test_a_send_asks_for_a_wait_with_sensible_defaults():
    command = validate_command(send(task_token=TOKEN))
    assert command.wait == WaitRequest(task_token=TOKEN, wait_for="delivered", timeout_seconds=86_400)
    command = validate_command(send(task_token=TOKEN, wait_for="reply", wait_timeout_seconds=600))
    assert command.wait == WaitRequest(task_token=TOKEN, wait_for="reply", timeout_seconds=600)
    assert validate_command(send()).wait is None


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"wait_for": "read"}, "wait_for and wait_timeout_seconds need a task_token"),
        ({"wait_timeout_seconds": 60}, "need a task_token"),
        ({"task_token": TOKEN, "wait_for": "seen"}, "wait_for"),
        ({"task_token": TOKEN, "wait_timeout_seconds": 0}, "wait_timeout_seconds"),
        ({"task_token": TOKEN, "wait_timeout_seconds": 7 * 86400 + 1}, "wait_timeout_seconds"),
        ({"task_token": TOKEN, "wait_timeout_seconds": "60"}, "wait_timeout_seconds"),
        ({"task_token": TOKEN, "wait_timeout_seconds": True}, "wait_timeout_seconds"),
        ({"task_token": ""}, "task_token"),
        ({"task_token": "x" * 2049}, "task_token"),
        ({"task_token": "has spaces in it"}, "task_token"),
        (
            {"task_token": TOKEN, "fallback_template": {"name": "order_update", "language": {"code": "en"}}},
            "a message with a fallback_template cannot be waited on yet",
        ),
    ],
)
def test_a_wait_the_gateway_cannot_keep_is_an_invalid_command(fields, problem):
    with pytest.raises(InvalidCommand) as refused:
        parse_command(json.dumps(send(**fields)))
    assert problem in refused.value.message


def test_an_invalid_command_still_names_the_task_to_tell_but_never_in_its_message():
    with pytest.raises(InvalidCommand) as refused:
        parse_command(json.dumps(send(task_token=TOKEN, destination="nope")))
    assert refused.value.task_token == TOKEN
    assert TOKEN not in refused.value.message


def test_a_broadcast_waited_on_without_a_reference_is_refused_and_says_why():
    body = send(task_token=TOKEN, destination=[CUSTOMER, "+64219999999"])
    body.pop("reference", None)
    with pytest.raises(InvalidCommand) as refused:
        parse_command(json.dumps(body))
    assert "a broadcast waited on needs a reference" in refused.value.message
    assert refused.value.task_token == TOKEN


def test_a_broadcast_waits_for_delivery_by_default_and_its_chunks_carry_no_wait():
    command = validate_command(send(task_token=TOKEN, destination=[CUSTOMER, "+64219999999"], reference="sale"))
    assert command.wait is not None and command.wait.wait_for == "delivered"
    assert command.without_wait().wait is None
    assert fingerprint(command) == fingerprint(command.without_wait())


def test_how_a_caller_waits_is_not_part_of_what_the_command_says():
    """A Step Functions task retried with its idempotency key comes with a new token: the same command, a repeat."""
    plain = validate_command(send(idempotency_key="order-7"))
    awaited = validate_command(send(idempotency_key="order-7", task_token=TOKEN, wait_for="read"))
    assert fingerprint(plain) == fingerprint(awaited)
    assert fingerprint(plain) != fingerprint(validate_command(send(idempotency_key="order-7", reference="x")))


# --- when a wait is decided -------------------------------------------------------------------------------------------


def test_accepted_is_decided_when_the_wait_begins():
    record = mt()
    changed, answers = waits.register(record, WaitRequest(task_token=TOKEN, wait_for="accepted"), at=SENT_AT)
    assert changed
    [(key, answer)] = answers.items()
    assert key == answer_key(TOKEN) and TOKEN not in key
    assert (answer.outcome, answer.task_token, answer.wait_for) == ("success", TOKEN, "accepted")
    assert record.wait.decided == "success"


@pytest.mark.parametrize(
    ("wait_for", "status", "outcome"),
    [
        ("delivered", "sent", None),
        ("delivered", "received", "success"),
        ("delivered", "read", "success"),  # read implies delivered
        ("read", "received", None),
        ("read", "read", "success"),
        ("reply", "read", None),  # only a reply meets a reply wait
        ("delivered", "rejected", "failure"),
        ("read", "expired", "failure"),
        ("reply", "rejected", "failure"),
    ],
)
def test_a_status_meets_or_fails_a_wait_or_leaves_it(wait_for, status, outcome):
    record = waiting(wait_for)
    record.status = status
    answers = waits.evaluate(record, at=at(10))
    assert [answer.outcome for answer in answers.values()] == ([outcome] if outcome else [])


def test_a_failed_report_fails_a_wait_unless_the_message_was_delivered_before():
    request = WaitRequest(task_token=TOKEN, wait_for="read")
    _, answers = waits.register(mt("sent", "accepted", "sent", "failed"), request, at=SENT_AT)
    assert [(answer.outcome, answer.error) for answer in answers.values()] == [("failure", "failed")]

    _, answers = waits.register(mt("received", "accepted", "received", "failed"), request, at=SENT_AT)
    assert answers == {}


def test_a_wait_is_decided_once():
    record = waiting()
    record.status = "received"
    assert waits.evaluate(record, at=at(10))
    record.status = "read"
    assert waits.evaluate(record, at=at(20)) == {}
    assert waits.decide(record, "failure", at=at(30), error="x") == {}


def test_a_wait_past_its_end_fails_with_wait_timeout_even_if_the_status_arrives_late():
    record = waiting("delivered", timeout=60)
    assert waits.evaluate(record, at=at(59)) == {}
    record.status = "received"
    [answer] = waits.evaluate(record, at=at(60)).values()
    assert (answer.outcome, answer.error, answer.cause) == (
        "failure",
        "wait_timeout",
        "no delivery within 60 seconds of the message being accepted",
    )


def test_a_wait_registered_again_with_its_token_changes_nothing_and_another_token_supersedes_it():
    record = waiting("read")
    assert waits.register(record, WaitRequest(task_token=TOKEN, wait_for="read"), at=at(5)) == (False, {})

    changed, answers = waits.register(record, WaitRequest(task_token="B" * 40, wait_for="read"), at=at(5))
    assert changed and record.wait.task_token == "B" * 40 and record.wait.since == at(5)
    [superseded] = answers.values()
    assert (superseded.task_token, superseded.error) == (TOKEN, "wait_superseded")


def test_a_new_wait_on_a_delivered_message_is_decided_at_once():
    record = mt("read", "accepted", "read")
    changed, answers = waits.register(record, WaitRequest(task_token=TOKEN, wait_for="delivered"), at=SENT_AT)
    assert changed and [answer.outcome for answer in answers.values()] == ["success"]


# --- replies ----------------------------------------------------------------------------------------------------------


def inbound(received_at: str, destination: str = "1234567890") -> MessageRecord:
    return MessageRecord(
        id="mo1",
        direction="MO",
        source=CUSTOMER,
        destination=destination,
        status="received",
        status_history=[StatusEntry(status="received", at=received_at)],
        created_at=received_at,
        updated_at=received_at,
    )


def test_a_reply_is_the_contacts_message_to_the_same_number_after_the_send():
    entry = ReplyWait(since=SENT_AT, source="+1234567890", key=answer_key(TOKEN))
    awaited = {"m1": entry, "m0": entry.model_copy(update={"since": at(-60)})}

    assert [message_id for message_id, _ in waits.replies_to(inbound(at(5)), awaited)] == ["m0", "m1"]
    # WhatsApp's timestamps have seconds: a reply in the second of the send counts.
    assert [message_id for message_id, _ in waits.replies_to(inbound("2026-11-25T09:00:00.000000Z"), awaited)] == [
        "m0",
        "m1",
    ]
    assert [message_id for message_id, _ in waits.replies_to(inbound(at(-30)), awaited)] == ["m0"]
    assert waits.replies_to(inbound(at(5), destination="999"), awaited) == []


def test_a_reply_meets_only_the_wait_its_entry_names_and_only_before_its_end():
    record = waiting("reply", timeout=60)
    entry = ReplyWait(since=SENT_AT, source="+1234567890", key=answer_key(TOKEN))
    stale = entry.model_copy(update={"key": answer_key("an earlier token")})
    assert waits.reply_change(record.model_copy(deep=True), stale, inbound(at(5)), at=at(5)) is None

    change = waits.reply_change(record.model_copy(deep=True), entry, inbound(at(5)), at=at(5))
    [answer] = change.events.values()
    assert (answer.outcome, answer.reply_id) == ("success", "mo1")
    late = waits.reply_change(record.model_copy(deep=True), entry, inbound(at(61)), at=at(61))
    assert [answer.error for answer in late.events.values()] == ["wait_timeout"]


# --- what an answer holds ---------------------------------------------------------------------------------------------


def test_a_failure_cause_holds_no_phone_number_and_stays_short():
    answer = waits.failure_answer(TOKEN, "131026", "(#131026) Message undeliverable to +64211234567 or 6421123456")
    assert answer.cause == "(#131026) Message undeliverable to … or …"
    assert len(waits.safe_cause("x" * 5000)) == 500


def test_the_success_output_is_the_record_api_view_fitted_to_step_functions_limit():
    record = mt("received")
    record.content = {"type": "text", "text": {"body": "Your order is ready"}}
    answer = TaskAnswer(task_token=TOKEN, outcome="success", reply_id="mo1", decided_at=SENT_AT)
    reply = inbound(at(5))
    reply.content = {"type": "text", "text": {"body": "y" * 300_000}}
    reply.text = "y" * 300_000

    output = success_output(record, reply, answer)

    assert len(output.encode()) <= MAX_OUTPUT_BYTES
    view = json.loads(output)
    assert view["truncated"] is True
    assert view["reply"]["id"] == "mo1" and "content" not in view["reply"] and "text" not in view["reply"]
    assert {key: view[key] for key in record.public_view()} == json.loads(json.dumps(record.public_view()))
    small = json.loads(success_output(record, None, answer.model_copy(update={"reply_id": None})))
    assert small == record.public_view() and "wait" not in small and "outbox" not in small


# --- Step Functions' answers ------------------------------------------------------------------------------------------


@pytest.fixture
def sfn():
    aws.reset_clients()
    with Stubber(aws.client("stepfunctions")) as stubber:
        yield stubber
    aws.reset_clients()


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist", "ValidationException"])
def test_a_task_that_no_longer_waits_is_closed_not_retried(sfn, code):
    sfn.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
    assert StepFunctions().succeed(TOKEN, "{}") == "closed"


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ServiceUnavailable", "KmsThrottlingException", "AccessDeniedException"]
)
def test_what_may_pass_is_a_dependency_failure_to_retry(sfn, code):
    sfn.add_client_error("send_task_failure", service_error_code=code, http_status_code=400)
    with pytest.raises(DependencyFailed):
        StepFunctions().fail(TOKEN, "wait_timeout", "no delivery")


def test_an_output_step_functions_refuses_fails_the_task_rather_than_leaving_it_waiting(sfn):
    sfn.add_client_error("send_task_success", service_error_code="InvalidOutput", http_status_code=400)
    sfn.add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "answer_unsendable",
            "cause": "the message record could not be sent as the output",
        },
    )
    assert StepFunctions().succeed(TOKEN, "{}") == "answered"


def test_errors_and_causes_are_cut_to_step_functions_limits(sfn):
    sfn.add_response("send_task_failure", {}, {"taskToken": TOKEN, "error": "e" * 256, "cause": "c" * 32768})
    assert StepFunctions().fail(TOKEN, "e" * 300, "c" * 40000) == "answered"


# --- answers through the outbox ---------------------------------------------------------------------------------------


class FakeStepFunctions:
    def __init__(self, refuse: int = 0):
        self.refuse = refuse
        self.calls: list[tuple[str, str]] = []

    def succeed(self, token: str, output: str) -> str:
        return self._call("success", token)

    def fail(self, token: str, error: str, cause: str) -> str:
        return self._call(error, token)

    def _call(self, what: str, token: str) -> str:
        self.calls.append((what, token))
        if self.refuse:
            self.refuse -= 1
            raise DependencyFailed("throttled")
        return "answered"


def commit_at(seconds: float, *args: Any, **kwargs: Any) -> Any:
    from unittest.mock import patch

    moment = clock.from_iso(at(seconds))
    with patch("wab.outbox.clock.now", return_value=moment.astimezone(UTC)):
        return commit(*args, **kwargs)


def deliver_received(store: MemoryStore, answering: TaskAnswerer, seconds: float) -> Any:
    def mark(current: MessageRecord | None) -> Change | None:
        assert current is not None
        current.status = "received"
        return Change(record=current, events=dict(waits.evaluate(current, at=at(seconds))))

    pending = commit_at(seconds, store, "m1", mark, own_key="status:received", lease_until=10**15)
    deliver(store, Publisher(), [pending], answerer=answering)
    return pending


def test_an_answer_goes_to_step_functions_never_to_eventbridge_and_leaves_the_outbox():
    store = MemoryStore()
    store.records["m1"] = waiting()
    step_functions = FakeStepFunctions()
    publisher = Publisher()

    record = store.records["m1"]
    record.status = "received"
    pending = commit_at(
        10,
        store,
        "m1",
        lambda current: Change(current, dict(waits.evaluate(current, at=at(10)))),
        own_key=answer_key(TOKEN),
        lease_until=10**15,
    )
    deliver(store, publisher, [pending], answerer=TaskAnswerer(step_functions))

    assert step_functions.calls == [("success", TOKEN)]
    assert publisher.published == []
    assert store.records["m1"].outbox == {}


def test_an_answer_that_did_not_go_stays_released_for_the_retry_which_sends_it_once():
    store = MemoryStore()
    store.records["m1"] = waiting()
    answering = TaskAnswerer(FakeStepFunctions(refuse=1))

    with pytest.raises(DependencyFailed):
        deliver_received(store, answering, 10)
    [entry] = store.records["m1"].outbox.values()
    assert entry.lease_until == 0

    retry = commit_at(11, store, "m1", lambda current: None, own_key="status:received", lease_until=10**15)
    assert retry.keys == [answer_key(TOKEN)]
    deliver(store, Publisher(), [retry], answerer=answering)
    assert answering.step_functions.calls == [("success", TOKEN), ("success", TOKEN)]
    assert store.records["m1"].outbox == {}


def test_timers_hop_at_most_fifteen_minutes_and_retries_back_off():
    record = waiting(timeout=7 * 86400)
    now = clock.from_iso(SENT_AT)
    assert next_hop_seconds(record.wait, now) == 900
    assert next_hop_seconds(record.wait, now + timedelta(days=7, seconds=-30)) == 30
    assert next_hop_seconds(record.wait, now + timedelta(days=8)) == 1
    assert [5 <= retry_delay(0) <= 10, 450 <= retry_delay(10) <= 900] == [True, True]


def test_an_iso_time_reads_back_as_itself():
    moment = datetime(2026, 11, 25, 9, 0, 0, 250000, tzinfo=UTC)
    assert clock.from_iso(clock.iso(moment)) == moment


def test_a_broadcasts_summary_is_looked_at_soon_then_every_half_minute_and_never_past_the_wait():
    from datetime import timedelta

    from wab import clock
    from wab.broadcastwaits import next_look_seconds
    from wab.models.waits import BroadcastWaitTimer

    def timer(looks: int, left_seconds: float) -> BroadcastWaitTimer:
        ends = clock.iso(clock.now() + timedelta(seconds=left_seconds))
        return BroadcastWaitTimer(
            reference="sale", task_token=TOKEN, wait_for="read", recipients=3, timeout_at=ends, looks=looks
        )

    assert [next_look_seconds(timer(looks, 3600)) for looks in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    assert next_look_seconds(timer(6, 12.5)) == 13
    assert next_look_seconds(timer(6, -5)) == 1


def test_a_broadcast_has_its_outcome_per_recipient_by_what_is_waited_for():
    from wab.broadcastwaits import with_outcome

    counted = {"accepted": 5, "sent": 5, "received": 3, "read": 1, "rejected": 1, "failed_opted_out": 2}
    assert (with_outcome(counted, "accepted"), with_outcome(counted, "delivered"), with_outcome(counted, "read")) == (
        7,
        6,
        4,
    )
