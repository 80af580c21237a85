"""The gateway's side of waits (`wab.waits` decides them): their timers, the replies awaited on contacts' items, the
replies' answers, a repeated command's new task taking a wait over, and the timer's hops.

A wait's timer is a chain of messages on the wait queue, each delayed at most SQS's 15 minutes: started when a wait
begins undecided, each hop fails the wait once its end has come (`wait_timeout`), sends an answer Step Functions did
not take yet (backing off, for the retry window from its first failure), and schedules the next hop until the answer
is out. So a wait of a day is 96 small messages, and an answer that failed to go is retried without anyone touching its
record again.
"""

import math
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import ValidationError

from wab import clock, jsoncodec
from wab.broadcastwaits import next_look_seconds, report, since, with_outcome
from wab.errors import DependencyFailed, InProgress
from wab.models.records import MessageRecord
from wab.models.waits import (
    BroadcastWaitTimer,
    ReplyWait,
    TaskAnswer,
    Wait,
    WaitFor,
    WaitRequest,
    WaitTimer,
    answer_key,
)
from wab.observability import count, logger
from wab.outbox import Change, Pending, commit, deliver
from wab.publisher import EventPublisher
from wab.queues import WaitQueue
from wab.replywaits import ReplyWaits
from wab.store import MessageStore
from wab.summary import Counters
from wab.tasks import TaskAnswerer, answerer
from wab.waits import evaluate, failure_answer, register, replies_to, reply_change, tell

RETRY_SOON_SECONDS = 10  # an answer whose lease another invocation holds, or that just failed to go
MAX_RETRY_DELAY_SECONDS = 900


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
        self.counters = Counters(store.table_name, retention_days)
        self.retention_days = retention_days
        self.retry_window_seconds = retry_window_seconds
        self.answering = answering  # None: the container's (`wab.tasks.answerer`)

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

    def schedule(self, timer: WaitTimer | BroadcastWaitTimer, delay_seconds: int) -> None:
        if self.queue is None:
            raise DependencyFailed("no wait queue configured")
        self.queue.schedule(timer.model_dump_json(exclude_none=True), delay_seconds)

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
            try:
                broadcast = BroadcastWaitTimer.model_validate_json(body)
            except ValidationError:
                logger.warning("a message on the wait queue is not a wait timer; dropped")
                return
            self.hop_broadcast(broadcast)
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
        # Erased; or erased and made again, bare (no wait, no source), by a status report that came after.
        if record is None or (record.wait is None and record.source is None):
            self._gone(timer)
            return
        if pending is not None:
            try:
                deliver(self.store, self.publisher, [pending])
            except DependencyFailed:
                self._again(timer)
                return
        wait = record.wait
        if wait is not None and wait.key == key and wait.decided is None:
            self.schedule(timer.model_copy(update={"attempt": 0, "failing_since": None}), next_hop_seconds(wait))
        elif key in record.outbox and (pending is None or key not in pending.keys):
            self.schedule(timer, RETRY_SOON_SECONDS)  # leased by an invocation still sending it

    def hop_broadcast(self, timer: BroadcastWaitTimer) -> None:
        """Look at a waited-on broadcast's summary: answer its task with the counts once every recipient has an
        outcome, fail it with them at the wait's end, or look again later (`wab.broadcastwaits`)."""
        counted = since(self.counters.read(timer.reference), timer.baseline)
        met = with_outcome(counted, timer.wait_for) >= timer.recipients
        if not met and clock.now() < clock.from_iso(timer.timeout_at):
            looked = timer.model_copy(update={"looks": timer.looks + 1, "attempt": 0, "failing_since": None})
            self.schedule(looked, next_look_seconds(looked))
            return
        output = report(timer, counted)
        answer = TaskAnswer(
            task_token=timer.task_token,
            outcome="success" if met else "failure",
            wait_for=timer.wait_for,
            error=None if met else "wait_timeout",
            cause=None if met else jsoncodec.encode(output),
            decided_at=clock.iso(clock.now()),
        )
        answering = self.answering or answerer()
        try:
            if met:
                answering.tell_success(answer, output)
            else:
                answering.tell(answer)
        except DependencyFailed:
            self._again(timer)

    def _gone(self, timer: WaitTimer) -> None:
        """The record is gone (erased by the contact's request), or only a bare one a DLR made after the erasure is
        there: the task is told, unless it was answered before."""
        try:
            tell(message_gone(timer.task_token, None), self.answering)
        except DependencyFailed:
            self._again(timer)

    def _again(self, timer: WaitTimer | BroadcastWaitTimer) -> None:
        """An answer Step Functions did not take: retried with backoff for the retry window from its first failure
        here, then given up (logged, counted, alarmed)."""
        now = clock.now()
        since = clock.from_iso(timer.failing_since) if timer.failing_since else now
        if (now - since).total_seconds() > self.retry_window_seconds:
            about = (
                {"reference": timer.reference}
                if isinstance(timer, BroadcastWaitTimer)
                else {"message_id": timer.message_id}
            )
            logger.error("an answer did not go within the retry window: given up", extra=about)
            count("TaskAnswersAbandoned")
            return
        again = timer.model_copy(update={"attempt": timer.attempt + 1, "failing_since": clock.iso(since)})
        self.schedule(again, retry_delay(timer.attempt))


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
