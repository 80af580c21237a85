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
- on a customer's message (`wab.callbacks.receive_mo`, through `decide_replies`): the contact's window update returns
  the replies awaited from the contact (kept there when the wait began, `wab.replywaits`), and each is met by the
  first message that came in after the send, to the business number that sent it;
- by the wait's timer (`hop`): a chain of SQS messages delayed up to 15 minutes each, started when a wait begins
  undecided; at the wait's end it fails the task with `wait_timeout`, and until the answer is out it retries it;
- commands that end without a message (invalid, refused, failed for good before acceptance) tell their task at once
  with the code of their `WhatsApp Message Failed` (`tell`, `failure_answer`).

Step Functions itself refuses a second answer to a closed token (`wab.tasks`): the outbox gives at-least-once, Step
Functions makes it once.

Cost: a message without a wait costs nothing more: its DLRs read and write its record as before, and an inbound
message finds no awaited reply in the item it updates anyway. A wait adds a timer message per 15 minutes of waiting
and, for `reply`, a write on the contact's item when it begins and when it is answered.
"""

import math
import random
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import ValidationError

from wab import clock, status
from wab.errors import DependencyFailed, InProgress
from wab.models.records import MessageRecord
from wab.models.types import canonical_number
from wab.models.waits import Outcome, ReplyWait, TaskAnswer, Wait, WaitFor, WaitRequest, WaitTimer, answer_key
from wab.observability import count, logger
from wab.outbox import Change, Pending, commit, deliver
from wab.publisher import EventPublisher
from wab.queues import WaitQueue
from wab.replywaits import ReplyWaits
from wab.store import MessageStore
from wab.tasks import TaskAnswerer, answerer

# The statuses that meet a wait (any status at all meets `accepted`: the provider took the message).
MET_BY = {"delivered": frozenset({"received", "read"}), "read": frozenset({"read"}), "reply": frozenset()}
DELIVERED = frozenset({"received", "read"})
FAILED_STATUSES = (*sorted(status.FAILED), "failed")  # `failed`: WhatsApp's own word, should a provider pass it on
STATUS_CAUSES = {
    "rejected": "WhatsApp did not deliver the message: it was rejected",
    "expired": "the message expired before it could be delivered (the phone was off or unreachable for too long)",
    "failed": "WhatsApp reported that the message failed",
}
MAX_CAUSE_TEXT = 500
NUMBER = re.compile(r"\+?[0-9]{7,}")  # phone numbers (E.164: 7 digits and more); WhatsApp's codes have 6
RETRY_SOON_SECONDS = 10  # an answer whose lease another invocation holds, or that just failed to go
MAX_RETRY_DELAY_SECONDS = 900


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
    """The failure that ended the message's delivery, if one did: `rejected` or `expired` (its status), or a `failed`
    report (kept in its history only, as a status the gateway does not order) that came before any delivery."""
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


# --- the gateway's side: timers, reply entries, answers ------------------------------------------------------------


class Waits:
    """What the functions that begin, decide and time waits share: the store, the timer queue, the contacts' reply
    entries, the answerer, and how long an answer Step Functions does not take is retried."""

    def __init__(
        self,
        store: MessageStore,
        publisher: EventPublisher,
        *,
        queue: WaitQueue | None,
        retention_days: int,
        retry_window_seconds: int = 6 * 3600,
        answering: TaskAnswerer | None = None,
    ):
        self.store = store
        self.publisher = publisher
        self.queue = queue
        self.replies = ReplyWaits(store.table_name)
        self.retention_days = retention_days
        self.retry_window_seconds = retry_window_seconds
        self.answering = answering

    @property
    def answerer(self) -> TaskAnswerer:
        return self.answering or answerer()

    def begun(self, record: MessageRecord) -> None:
        """After a wait was committed undecided: start its timer and, for `reply`, await the reply on the contact's
        item. Run again (a retry), it starts a second timer, which finds the same wait: harmless."""
        wait = record.wait
        if wait is None or wait.decided is not None:
            return
        if self.queue is not None:
            self.schedule(WaitTimer(message_id=record.id, task_token=wait.task_token), next_hop_seconds(wait))
        if wait.wait_for == "reply" and record.contact and record.source:
            ends = clock.from_iso(wait.timeout_at) + timedelta(days=self.retention_days)
            self.replies.add(
                record.contact,
                record.id,
                ReplyWait(since=wait.since, source=record.source, key=wait.key),
                expires_at=int(ends.timestamp()),
            )

    def schedule(self, timer: WaitTimer, delay_seconds: int) -> None:
        if self.queue is None:
            raise DependencyFailed("no wait queue configured")
        self.queue.schedule(timer.model_dump_json(), delay_seconds)

    def decide_replies(
        self, inbound: MessageRecord, waiting: Mapping[str, ReplyWait], *, lease_until: int
    ) -> tuple[list[Pending], list[str]]:
        """Decide the reply waits the inbound message meets (each in its awaited message's record); (the committed
        answers to deliver, the awaited message ids no longer awaited from the contact)."""
        pendings: list[Pending] = []
        done: list[str] = []
        at = clock.iso(clock.now())
        for message_id, entry in replies_to(inbound, waiting):
            pending = commit(
                self.store,
                message_id,
                lambda current, entry=entry: reply_change(current, entry, inbound, at=at),  # type: ignore[misc]
                own_key=entry.key,
                lease_until=lease_until,
            )
            if pending is not None:
                pendings.append(pending)
            done.append(message_id)
        return pendings, done

    def answer_replies(self, contact: str, inbound: MessageRecord, pendings: list[Pending], done: list[str]) -> None:
        """Send the answers `decide_replies` committed and drop the entries; what does not go now is retried soon by
        the wait's timer (the inbound message itself is stored and published already: it is not failed for this)."""
        try:
            deliver(self.store, self.publisher, pendings, replies={inbound.id: inbound})
        except DependencyFailed:
            for pending in pendings:
                if (wait := pending.record.wait) is not None:
                    self._retry_soon(pending.record.id, wait.task_token)
        try:
            self.replies.remove(contact, done)
        except DependencyFailed:
            logger.warning("could not drop answered reply waits; the next message from the contact drops them")

    def _retry_soon(self, message_id: str, task_token: str) -> None:
        try:
            self.schedule(WaitTimer(message_id=message_id, task_token=task_token, attempt=1), RETRY_SOON_SECONDS)
        except DependencyFailed:
            logger.warning("could not schedule a retry of an answer; the wait's own timer retries it")

    def rewait(self, message_id: str, request: WaitRequest, *, lease_until: int) -> None:
        """A repeated command's new task takes over the wait on the message the first one sent."""
        at = clock.iso(clock.now())
        seen: list[MessageRecord | None] = [None]

        def evolve(current: MessageRecord | None) -> Change | None:
            seen[0] = current
            if current is None:
                return None
            changed, answers = register(current, request, at=at)
            return Change(record=current, events=dict(answers)) if changed else None

        key = answer_key(request.task_token)
        pending = commit(self.store, message_id, evolve, own_key=key, lease_until=lease_until)
        if seen[0] is None:
            tell(message_gone(request.task_token, request.wait_for), self.answering)
            return
        if pending is not None:
            record = pending.record

            def prepare() -> None:
                self.begun(record)

            deliver(self.store, self.publisher, [pending], prepare=prepare)

    # --- the timer ---------------------------------------------------------------------------------------------

    def handle_timer(self, body: str, *, lease_until: int) -> None:
        """A message from the wait queue; one that is not a timer (never sent by the gateway) is dropped."""
        try:
            timer = WaitTimer.model_validate_json(body)
        except ValidationError:
            logger.warning("a message on the wait queue is not a wait timer; dropped")
            return
        logger.append_keys(message_id=timer.message_id)
        try:
            self.hop(timer, lease_until=lease_until)
        finally:
            logger.remove_keys(["message_id"])

    def hop(self, timer: WaitTimer, *, lease_until: int) -> None:
        """One timer message: fail the wait if its end has come, send an answer still owed, and schedule the next
        look unless the answer is out (or has been retried for the whole retry window)."""
        now = clock.iso(clock.now())
        key = answer_key(timer.task_token)
        seen: list[MessageRecord | None] = [None]

        def evolve(current: MessageRecord | None) -> Change | None:
            seen[0] = current
            wait = current.wait if current else None
            if current is None or wait is None or wait.key != key:
                return None
            answers = evaluate(current, at=now)
            return Change(record=current, events=dict(answers)) if answers else None

        try:
            pending = commit(self.store, timer.message_id, evolve, own_key=key, lease_until=lease_until)
        except InProgress:  # another invocation is sending this very answer
            self.schedule(timer, RETRY_SOON_SECONDS)
            return
        record = pending.record if pending is not None else seen[0]
        if record is None:
            self._gone(timer)
            return
        if pending is not None:
            try:
                deliver(self.store, self.publisher, [pending])
            except DependencyFailed:
                self._retry(timer, record)
                return
        wait = record.wait
        if wait is not None and wait.key == key and wait.decided is None:
            self.schedule(timer.model_copy(update={"attempt": 0}), next_hop_seconds(wait))
        elif key in record.outbox and (pending is None or key not in pending.keys):
            self.schedule(timer, RETRY_SOON_SECONDS)  # leased by an invocation still sending it

    def _gone(self, timer: WaitTimer) -> None:
        """The record is gone (erased by the contact's request): the task is told, unless it was answered before."""
        try:
            tell(message_gone(timer.task_token, None), self.answering)
        except DependencyFailed:
            self.schedule(timer.model_copy(update={"attempt": timer.attempt + 1}), retry_delay(timer.attempt))

    def _retry(self, timer: WaitTimer, record: MessageRecord) -> None:
        """An answer Step Functions did not take: retried with backoff for the retry window from its decision."""
        wait = record.wait
        decided_at = wait.decided_at if wait is not None and wait.key == answer_key(timer.task_token) else None
        started = clock.from_iso(decided_at) if decided_at else clock.now()
        if (clock.now() - started).total_seconds() > self.retry_window_seconds:
            logger.error("an answer did not go within the retry window: given up", extra={"message_id": record.id})
            count("TaskAnswersAbandoned")
            return
        self.schedule(timer.model_copy(update={"attempt": timer.attempt + 1}), retry_delay(timer.attempt))


def message_gone(task_token: str, wait_for: WaitFor | None) -> TaskAnswer:
    return failure_answer(
        task_token, "message_erased", "the message's record was erased before its wait ended", wait_for=wait_for
    )


def next_hop_seconds(wait: Wait, now: datetime | None = None) -> int:
    """Seconds until the wait's end, at most one SQS delay (15 minutes), at least one."""
    left = (clock.from_iso(wait.timeout_at) - (now or clock.now())).total_seconds()
    return max(1, min(WaitQueue.MAX_DELAY_SECONDS, math.ceil(left)))


def retry_delay(attempt: int) -> int:
    """10 s doubling to 15 minutes, half of it random so that answers refused together come back apart."""
    ceiling = min(MAX_RETRY_DELAY_SECONDS, RETRY_SOON_SECONDS * 2 ** min(attempt, 10))
    return max(1, math.ceil(ceiling / 2 + random.random() * ceiling / 2))
