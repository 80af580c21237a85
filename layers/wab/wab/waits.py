"""Step Functions tasks waiting on messages: when each wait is decided, and how its answer reaches the task once.

A send command may carry a `task_token` with `wait_for` (`accepted`, `delivered`, `read` or `reply`) and
`wait_timeout_seconds` (docs/workflows.md). The wait begins when the provider accepts the message and is kept on its
record (`Wait`). It is decided once, in the very write that commits what decides it, by putting the task's answer
(`TaskAnswer`) in the record's outbox beside the change (`wab.outbox`): the answer then goes to Step Functions like an
event goes to EventBridge, retried and taken over by the same protocol, so a crash, a retry or a duplicate callback
never answers twice, and a concurrent callback re-reads the record and finds the wait decided.

Where waits are decided:
- at acceptance (`wab.acceptance`): `accepted` is met there, and so is any wait a DLR that came first already settles;
- on a DLR (`wab.callbacks.receive_dlr`, through `evaluate`): `received` or `read` meets `delivered`, `read` meets
  `read` (a status that skips the awaited one still meets it: read implies delivered, whatever order they came in),
  and `rejected`, `expired` or `failed` fail every wait;
- on a customer's message (`wab.callbacks.receive_mo`, through `wab.waiting`): the contact's window update returns
  the replies awaited from the contact (kept there when the wait began, `wab.replywaits`), and each is met by the
  first message that came in after the send, to the business number that sent it;
- by the wait's timer (`wab.waiting`): a chain of SQS messages delayed up to 15 minutes each, started when a wait
  begins undecided; at the wait's end it fails the task with `wait_timeout`, and until the answer is out it retries it;
- commands that end without a message (invalid, refused, failed for good before acceptance) tell their task at once
  with the code of their `WhatsApp Message Failed` (`tell`, `failure_answer`).

Step Functions itself refuses a second answer to a closed token (`wab.tasks`): the outbox gives at-least-once, Step
Functions makes it once.

Cost: a message without a wait costs nothing more: its DLRs read and write its record as before, and an inbound
message finds no awaited reply in the item it updates anyway. A wait adds a timer message per 15 minutes of waiting
and, for `reply`, a write on the contact's item when it begins and when it is answered.
"""

import re
from collections.abc import Mapping
from datetime import timedelta

from wab import clock, status
from wab.models.records import MessageRecord
from wab.models.types import canonical_number
from wab.models.waits import Outcome, ReplyWait, TaskAnswer, Wait, WaitFor, WaitRequest
from wab.outbox import Change
from wab.tasks import TaskAnswerer, answerer

# The statuses that meet a wait (any status at all meets `accepted`: the provider took the message).
MET_BY = {"delivered": frozenset({"received", "read"}), "read": frozenset({"read"}), "reply": frozenset()}
DELIVERED = frozenset({"received", "read"})
STATUS_CAUSES = {
    "rejected": "WhatsApp did not deliver the message: it was rejected",
    "expired": "the message expired before it could be delivered (the phone was off or unreachable for too long)",
    "failed": "WhatsApp reported that the message failed",
}
MAX_CAUSE_TEXT = 500
NUMBER = re.compile(r"\+?[0-9]{7,}")  # phone numbers (E.164: 7 digits and more); WhatsApp's codes have 6


# --- deciding a record's wait (pure: used inside the evolve functions of `wab.outbox.commit`) ----------------------


def register(record: MessageRecord, request: WaitRequest, *, at: str) -> tuple[bool, dict[str, TaskAnswer]]:
    """Put the wait on the record as of `at` (the acceptance), deciding it at once when it is `accepted` or when the
    record's status already settles it; (whether the record changed, the answers now owed).

    The same token again changes nothing. Another token takes the wait over (a Step Functions task retried with the
    same `idempotency_key`): the earlier task, if still undecided, is told `wait_superseded`.
    """
    answers: dict[str, TaskAnswer] = {}
    current = record.wait
    if current is not None:
        if current.task_token == request.task_token:
            return False, {}
        if current.decided is None:
            answers |= decide(
                record,
                "failure",
                at=at,
                error="wait_superseded",
                cause="a later request with the same idempotency key waits on this message instead",
            )
    since = clock.from_iso(at)
    record.wait = Wait(
        task_token=request.task_token,
        wait_for=request.wait_for,
        since=at,
        timeout_at=clock.iso(since + timedelta(seconds=request.timeout_seconds)),
    )
    if request.wait_for == "accepted":
        return True, answers | decide(record, "success", at=at)
    return True, answers | evaluate(record, at=at)


def evaluate(record: MessageRecord, *, at: str) -> dict[str, TaskAnswer]:
    """Decide the record's wait when the time (its end passed) or the record's status settles it; the answer owed,
    or nothing."""
    wait = record.wait
    if wait is None or wait.decided is not None:
        return {}
    if at >= wait.timeout_at:
        return decide(record, "failure", at=at, error="wait_timeout", cause=timeout_cause(wait))
    if failure := failed_status(record):
        return decide(record, "failure", at=at, error=failure, cause=STATUS_CAUSES[failure])
    if record.status in MET_BY.get(wait.wait_for, frozenset()):
        return decide(record, "success", at=at)
    return {}


def failed_status(record: MessageRecord) -> str | None:
    """The failure that ended the message's delivery, if one did: `rejected`, `expired` or `failed` (its status), or
    a `failed` report in its history before any delivery (how records stored while `failed` was not yet a status of
    its own keep it: waits on them may still be open)."""
    if record.status in status.FAILED:
        return record.status
    if record.status not in DELIVERED and any(entry.status == "failed" for entry in record.status_history):
        return "failed"
    return None


def decide(
    record: MessageRecord,
    outcome: Outcome,
    *,
    at: str,
    error: str | None = None,
    cause: str | None = None,
    reply_id: str | None = None,
) -> dict[str, TaskAnswer]:
    """Decide the record's wait once: mark it, and return the answer to put in the outbox (under `Wait.key`)."""
    wait = record.wait
    if wait is None or wait.decided is not None:
        return {}
    wait.decided = outcome
    wait.decided_at = at
    answer = TaskAnswer(
        task_token=wait.task_token,
        outcome=wait.decided,
        wait_for=wait.wait_for,
        error=error,
        cause=cause,
        reply_id=reply_id,
        decided_at=at,
    )
    return {wait.key: answer}


def timeout_cause(wait: Wait) -> str:
    seconds = round((clock.from_iso(wait.timeout_at) - clock.from_iso(wait.since)).total_seconds())
    what = {"delivered": "delivery", "read": "read receipt", "reply": "reply"}.get(wait.wait_for, wait.wait_for)
    return f"no {what} within {seconds} seconds of the message being accepted"


def failure_answer(task_token: str, code: str, message: str, *, wait_for: WaitFor | None = None) -> TaskAnswer:
    """The answer of a task whose command failed (the code and message of its `WhatsApp Message Failed`), with any
    phone number in the message left out."""
    return TaskAnswer(
        task_token=task_token,
        outcome="failure",
        wait_for=wait_for,
        error=code,
        cause=safe_cause(message),
        decided_at=clock.iso(clock.now()),
    )


def safe_cause(text: str) -> str:
    """A cause without phone numbers, short."""
    text = NUMBER.sub("…", text)
    return text if len(text) <= MAX_CAUSE_TEXT else text[: MAX_CAUSE_TEXT - 1] + "…"


def tell(answer: TaskAnswer, answering: TaskAnswerer | None = None) -> None:
    """Send a failure answer that no record keeps (the command ended without a message); DependencyFailed when Step
    Functions did not take it, so the caller retries (its task is closed by then if it took it after all)."""
    (answering or answerer()).tell(answer)


# --- replies -------------------------------------------------------------------------------------------------------


def reply_change(current: MessageRecord | None, entry: ReplyWait, inbound: MessageRecord, *, at: str) -> Change | None:
    """Meet the awaited message's `reply` wait with the inbound message, if it is that wait still undecided."""
    wait = current.wait if current else None
    if current is None or wait is None or wait.key != entry.key or wait.decided is not None:
        return None
    if at >= wait.timeout_at:
        answers = decide(current, "failure", at=at, error="wait_timeout", cause=timeout_cause(wait))
    else:
        answers = decide(current, "success", at=at, reply_id=inbound.id)
    return Change(record=current, events=dict(answers))


def replies_to(inbound: MessageRecord, waiting: Mapping[str, ReplyWait]) -> list[tuple[str, ReplyWait]]:
    """The awaited replies this inbound message is: to the business number that sent the awaited message, and sent by
    the customer after it was accepted (WhatsApp's timestamps have seconds: compared to the second)."""
    business = canonical_number(inbound.destination or "")
    received = inbound.status_history[0].at if inbound.status_history else inbound.created_at
    return sorted(
        (
            (message_id, entry)
            for message_id, entry in waiting.items()
            if canonical_number(entry.source) == business and received[:19] >= entry.since[:19]
        ),
        key=lambda item: item[1].since,
    )
